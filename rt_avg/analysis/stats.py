"""What a run scores and how sure we are: learning curve, final return, AUC, intervals.

One definition of each, used by ``rt-avg report``, ``rt-avg sweep-summary`` and
``rt-avg study``:

- **learning curve**: at ``points`` evenly spaced steps x of (0, total], the mean return of
  the episodes that ended in the window (x - w, x], w = 10% of the total steps (at least
  the grid spacing).  A window without an episode repeats the value before it (leading
  ones take the first value).  Episodes ending after ``total`` are left out.
- **final return**: the curve's value at the end: the mean return of the episodes that end
  in the last 10% of the run's env steps (when none ends there, the latest window that
  holds an episode).
- **AUC**: the area under the learning curve divided by the steps, i.e. the curve's mean;
  in units of return, it rewards learning early as well as learning well.
- **intervals**: 95% percentile bootstrap over seeds (``scipy.stats.bootstrap``: resample
  the seeds with replacement, take the mean, read off the 2.5% and 97.5% quantiles), with a
  fixed resampling seed so that the same runs always give the same interval.  One seed
  gives no interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

CI_LEVEL = 0.95
FINAL_FRACTION = 0.1
CURVE_POINTS = 100
RESAMPLES = 5000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Interval:
    """A mean over seeds and its bootstrap confidence interval (nan bounds: one seed)."""

    mean: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float | None]:
        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None
        return {"mean": num(self.mean), "low": num(self.low), "high": num(self.high)}


def learning_curve(x: Sequence[float], returns: Sequence[float], total: float,
                   points: int = CURVE_POINTS, fraction: float = FINAL_FRACTION
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(grid, values) of the learning curve over (0, total]; ``x`` is where each episode
    ended (env steps, or seconds for a curve against wall-clock time).  All nan without an
    episode in range."""
    grid = np.linspace(0.0, float(total), points + 1)[1:]
    values = np.full(points, np.nan)
    s = np.asarray(x, dtype=float)
    r = np.asarray(returns, dtype=float)
    keep = s <= total
    s, r = s[keep], r[keep]
    if s.size:
        order = np.argsort(s, kind="stable")
        s, r = s[order], r[order]
        sums = np.concatenate([[0.0], np.cumsum(r)])
        window = max(fraction * float(total), float(total) / points)
        hi = np.searchsorted(s, grid, side="right")
        lo = np.searchsorted(s, grid - window, side="right")
        filled = hi > lo
        values[filled] = (sums[hi] - sums[lo])[filled] / (hi - lo)[filled]
        last = values[np.argmax(filled)]
        for i in range(points):
            if np.isnan(values[i]):
                values[i] = last
            last = values[i]
    return grid, values


def final_return(steps: Sequence[float], returns: Sequence[float], total: float) -> float:
    """The learning curve's last value: the mean return of the episodes ending in the last
    10% of (0, total] (nan without episodes)."""
    return float(learning_curve(steps, returns, total)[1][-1])


def area_under_curve(steps: Sequence[float], returns: Sequence[float], total: float) -> float:
    """Area under the learning curve divided by ``total`` (its mean, in units of return)."""
    _, values = learning_curve(steps, returns, total)
    return float(values.mean()) if np.isfinite(values).all() else math.nan


def _bootstrap(data: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy.stats import bootstrap

    res = bootstrap((data,), np.mean, axis=0, confidence_level=level, n_resamples=RESAMPLES,
                    method="percentile", vectorized=True,
                    rng=np.random.default_rng(BOOTSTRAP_SEED))
    return np.asarray(res.confidence_interval.low), np.asarray(res.confidence_interval.high)


def bootstrap_ci(values: Sequence[float], level: float = CI_LEVEL) -> Interval:
    """Mean of the finite ``values`` (one per seed) and its percentile-bootstrap interval."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size == 0:
        return Interval(math.nan, math.nan, math.nan)
    if x.size < 2:
        return Interval(float(x[0]), math.nan, math.nan)
    low, high = _bootstrap(x, level)
    return Interval(float(x.mean()), float(low), float(high))


def pointwise_ci(curves: np.ndarray, level: float = CI_LEVEL
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over the rows of ``curves`` (seeds x points) and the pointwise bootstrap band;
    one row gives a band of zero width."""
    curves = np.atleast_2d(np.asarray(curves, dtype=float))
    mean = curves.mean(axis=0)
    if curves.shape[0] < 2:
        return mean, mean.copy(), mean.copy()
    low, high = _bootstrap(curves, level)
    return mean, low, high

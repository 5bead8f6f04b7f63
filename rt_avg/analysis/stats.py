"""What a run scores: learning curve, final return, AUC (one definition of each).

Used by ``rt-avg train``'s summary line, ``rt-avg eval``, ``rt-avg report``,
``rt-avg sweep-summary``, ``rt-avg study`` and the metric a sweep reports to Ray Tune:

- **return at a step**: each env step counts the return of the episode it belongs to
  (episode i spans the steps after episode i-1 ended, up to where it ended).  Steps of an
  episode still running when the run stopped have no return yet and are not counted.
- **learning curve**: at ``points`` evenly spaced x of (0, total], the mean return per step
  over the window (x - w, x], w = 10% of the total (at least the grid spacing).  Past the
  last completed episode the window ends there instead, so the curve stays at the value of
  the last window that holds completed episodes.  Weighting by steps, not by episodes, is
  what keeps one long successful episode from being outvoted by many short failures: a
  learner that balances the pole through the whole last 10% of its steps scores that
  episode's return.
- **final return**: the curve's value at the end: the mean return per step over the last
  10% of the steps covered by completed episodes.
- **AUC**: the area under the learning curve divided by the steps, i.e. the curve's mean;
  in units of return, it rewards learning early as well as learning well.

A run that has not reached its planned steps (stopped, interrupted, stopped early by a
scheduler) is scored the same way over the steps it covers, and every table marks it
unfinished (:mod:`rt_avg.analysis.summary`).  Intervals and aggregates over seeds and tasks
are in :mod:`rt_avg.analysis.aggregate` (rliable).
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
DEFINITION = (f"Final return: mean return per env step over the last "
              f"{FINAL_FRACTION:.0%} of a run's steps (each step counts the return of the "
              f"episode it belongs to; an episode still running at the end is left out).")
"""One sentence that every table and summary line shows with the number."""


@dataclass(frozen=True)
class Interval:
    """A point estimate (mean, or IQM) and its confidence interval (nan bounds: one
    seed)."""

    mean: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float | None]:
        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None
        return {"mean": num(self.mean), "low": num(self.low), "high": num(self.high)}


def _step_integral(x: Sequence[float], returns: Sequence[float], total: float
                   ) -> tuple[np.ndarray, np.ndarray, float]:
    """(knots, cumulative area at each knot, end of the last completed episode) of the
    piecewise-constant return-per-step function over (0, end]; episodes ending after
    ``total`` are left out."""
    s = np.asarray(x, dtype=float)
    r = np.asarray(returns, dtype=float)
    keep = (s <= total) & np.isfinite(r)
    s, r = s[keep], r[keep]
    order = np.argsort(s, kind="stable")
    s, r = s[order], r[order]
    knots = np.concatenate([[0.0], s])
    area = np.concatenate([[0.0], np.cumsum(r * np.diff(knots))])
    return knots, area, float(s[-1]) if s.size else 0.0


def learning_curve(x: Sequence[float], returns: Sequence[float], total: float,
                   points: int = CURVE_POINTS, fraction: float = FINAL_FRACTION
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(grid, values) of the learning curve over (0, total]; ``x`` is where each episode
    ended (env steps, or seconds for a curve against wall-clock time).  All nan without a
    completed episode in range."""
    grid = np.linspace(0.0, float(total), points + 1)[1:]
    knots, area, end = _step_integral(x, returns, total)
    if end <= 0.0:
        return grid, np.full(points, np.nan)
    window = max(fraction * float(total), float(total) / points)
    hi = np.minimum(grid, end)
    lo = np.maximum(hi - window, 0.0)
    # Zero-length episodes (two ending at one x) add no area: they carry no steps.
    values = (np.interp(hi, knots, area) - np.interp(lo, knots, area)) / (hi - lo)
    return grid, values


def final_return(x: Sequence[float], returns: Sequence[float], total: float) -> float:
    """The learning curve's value at ``total``: the mean return per step over the last 10%
    of the steps covered by completed episodes (nan without episodes).  The one definition
    of a run's final return."""
    return float(learning_curve(x, returns, total)[1][-1])


def area_under_curve(steps: Sequence[float], returns: Sequence[float], total: float) -> float:
    """Area under the learning curve divided by ``total`` (its mean, in units of return)."""
    _, values = learning_curve(steps, returns, total)
    return float(values.mean()) if np.isfinite(values).all() else math.nan


def fmt(value: float | None, spec: str = ".4g") -> str:
    """A score as every table and summary line prints it (``n/a`` for none)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return format(value, spec) if abs(value) < 1e5 else f"{value:.3e}"


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

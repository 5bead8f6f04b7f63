"""Statistics over seeds and tasks with rliable (Agarwal et al., "Deep Reinforcement
Learning at the Edge of the Statistical Precipice", NeurIPS 2021).

- **IQM and mean** of the final return (or AUC) with 95% **stratified bootstrap**
  intervals (:func:`interval_estimates`): rliable resamples the runs within each task;
  with one task that is the ordinary bootstrap over seeds.
- **probability of improvement** P(X > Y) (:func:`improvement`): the chance that a run of
  X beats a run of Y on the same task, averaged over tasks, with its stratified bootstrap
  interval (when X and Y have as many runs each; otherwise the point estimate alone).
- **performance profiles** (:func:`performance_profiles`): for each threshold tau, the
  fraction of runs scoring above tau, over tasks whose scores are first min-max normalised
  (:func:`normalise`: 0 the lowest and 1 the highest final return any run reached on that
  task, as no reference scores exist for most tasks here).

Reproducible: rliable draws from NumPy's global generator, so every call here seeds it
with :data:`BOOTSTRAP_SEED` and restores the caller's state afterwards; the same runs
always give the same interval.  One run gives no interval (nan bounds).  With fewer than
:data:`FEW_SEEDS` runs a 95% interval cannot be had: the bootstrap of 2 to 4 seeds spans
little more than their range, and tables and figures say so.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from rt_avg.analysis.stats import CI_LEVEL, Interval

REPS = 2000
"""Bootstrap resamples (rliable's default for performance profiles)."""
BOOTSTRAP_SEED = 0
FEW_SEEDS = 5
METHOD = "percentile"
STATS = ("iqm", "mean")
TEXT = (f"IQM (interquartile mean) and mean over seeds with {CI_LEVEL:.0%} stratified "
        f"bootstrap intervals (rliable, {REPS} resamples); P(A > B): probability of "
        "improvement, the chance that a run of A beats a run of B on the same task.")


@contextmanager
def _seeded() -> Iterator[None]:
    state = np.random.get_state()
    np.random.seed(BOOTSTRAP_SEED)
    try:
        yield
    finally:
        np.random.set_state(state)


def _matrix(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """(runs, tasks) of finite scores; a flat sequence is one task."""
    a = np.asarray(scores, dtype=np.float64)
    if a.ndim == 1:
        a = a[np.isfinite(a)].reshape(-1, 1)
    return a


def _aggregates(which: Sequence[str]) -> Callable[[np.ndarray], np.ndarray]:
    from rliable import metrics

    funcs = {"iqm": metrics.aggregate_iqm, "mean": metrics.aggregate_mean}
    return lambda x: np.array([funcs[k](x) for k in which])


def interval_estimates(scores: Sequence[float] | np.ndarray,
                       which: Sequence[str] = STATS) -> dict[str, Interval]:
    """``{"iqm": Interval, "mean": Interval}`` (the statistics in ``which``) of ``scores``
    ((runs, tasks), or one score per seed): rliable's point estimates and stratified
    bootstrap intervals."""
    x = _matrix(scores)
    if x.size == 0:
        return {k: Interval(math.nan, math.nan, math.nan) for k in which}
    func = _aggregates(which)
    if x.shape[0] < 2:
        return {k: Interval(float(p), math.nan, math.nan) for k, p in zip(which, func(x))}
    from rliable import library as rly

    with _seeded():
        points, cis = rly.get_interval_estimates({"x": x}, func, method=METHOD, reps=REPS,
                                                 confidence_interval_size=CI_LEVEL)
    return {k: Interval(float(points["x"][i]), float(cis["x"][0, i]), float(cis["x"][1, i]))
            for i, k in enumerate(which)}


def improvement(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray
                ) -> Interval:
    """P(X > Y) with its stratified bootstrap interval (nan bounds when X and Y have
    different numbers of runs, or one run each)."""
    from rliable import metrics

    a, b = _matrix(x), _matrix(y)
    if a.size == 0 or b.size == 0:
        return Interval(math.nan, math.nan, math.nan)
    point = float(metrics.probability_of_improvement(a, b))
    if a.shape != b.shape or a.shape[0] < 2:
        return Interval(point, math.nan, math.nan)
    from rliable import library as rly

    with _seeded():
        _, cis = rly.get_interval_estimates(
            {"pair": [a, b]}, lambda s, t: np.array([metrics.probability_of_improvement(s, t)]),
            method=METHOD, reps=REPS, confidence_interval_size=CI_LEVEL)
    return Interval(point, float(cis["pair"][0, 0]), float(cis["pair"][1, 0]))


def normalise(by_task: Mapping[str, Mapping[str, Sequence[float]]]
              ) -> dict[str, dict[str, np.ndarray]]:
    """``{task: {method: scores}}`` min-max normalised per task over every run of every
    method on it (0: the lowest score there, 1: the highest)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for task, methods in by_task.items():
        every = np.concatenate([_matrix(v).ravel() for v in methods.values()])
        lo, hi = (float(every.min()), float(every.max())) if every.size else (0.0, 1.0)
        span = hi - lo if hi > lo else 1.0
        out[task] = {m: (_matrix(v).ravel() - lo) / span for m, v in methods.items()}
    return out


def across_tasks(normalised: Mapping[str, Mapping[str, np.ndarray]], method: str,
                 tasks: Sequence[str]) -> np.ndarray:
    """(runs, tasks) of ``method``'s normalised scores on ``tasks``; each task keeps as many
    runs as the method's task with the fewest (rliable stratifies runs within tasks)."""
    cols = [np.asarray(normalised[t][method]) for t in tasks]
    n = min(len(c) for c in cols)
    return np.stack([c[:n] for c in cols], axis=1)


def performance_profiles(scores: Mapping[str, np.ndarray], taus: np.ndarray
                         ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """rliable's score distributions: for each method ((runs, tasks) normalised scores),
    the fraction of runs above each tau, and its (2, taus) interval."""
    from rliable import library as rly

    with _seeded():
        return rly.create_performance_profile(dict(scores), taus, method=METHOD, reps=REPS,
                                              confidence_interval_size=CI_LEVEL)


def few_seeds(n: int) -> bool:
    """Too few runs for a 95% interval: the bootstrap spans about their range."""
    return 1 < n < FEW_SEEDS

"""Learning curves of a group of runs on one grid, with a band: the pointwise 95%
bootstrap interval of the mean from FEW_SEEDS seeds on, the range of the seeds below."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from rt_avg.analysis import stats
from rt_avg.analysis.aggregate import FEW_SEEDS
from rt_avg.analysis.runs import Run

Axis = Literal["steps", "wall_s"]


@dataclass
class Curve:
    """One group's learning curve as drawn."""

    label: str
    env_id: str
    mode: str
    runs: list[Path]
    seeds: list[int]
    x: np.ndarray
    """Bin ends: env steps (or seconds), shared by every run of the group."""
    per_run: np.ndarray
    """(runs, points): each run's learning curve (:func:`stats.learning_curve`)."""
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def group_curve(label: str, runs: Sequence[Run], x_of: Axis = "steps",
                points: int = stats.CURVE_POINTS) -> Curve:
    """The curves of ``runs`` on bins of (0, T], T the shortest run's extent (its
    ``total_steps``, or its last episode's wall-clock time), the mean over runs and the
    band (see the module docstring)."""
    runs = [r for r in runs if r.returns.size]
    if not runs:
        raise ValueError(f"{label}: no run with episodes")
    if x_of == "steps":
        total = float(min(r.total_steps for r in runs))
    else:
        total = float(min(r.wall_s[-1] for r in runs))
    rows = [stats.learning_curve(getattr(r, x_of), r.returns, total, points) for r in runs]
    x = rows[0][0]
    per_run = np.stack([v for _, v in rows])
    if len(runs) < FEW_SEEDS:  # a 95% interval needs more seeds: show their range, and say so
        mean, low, high = per_run.mean(axis=0), per_run.min(axis=0), per_run.max(axis=0)
    else:
        mean, low, high = stats.pointwise_ci(per_run)
    return Curve(label, runs[0].env_id, runs[0].mode, [r.path for r in runs],
                 [r.seed for r in runs], x, per_run, mean, low, high)

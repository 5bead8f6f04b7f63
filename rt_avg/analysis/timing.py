"""Timing histograms of real-time runs (action latency, cycle time, update time)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from rt_avg.analysis.runs import Run, finite

TIMING_ARRAYS = {"action_latency_us": "action latency (us)", "cycle_ms": "cycle time (ms)",
                 "update_us": "update time (us)"}
LOG_RATIO = 20.0
"""Samples spanning more than this ratio get geometric bins (and a log axis)."""


@dataclass
class Histogram:
    label: str
    counts: np.ndarray
    edges: np.ndarray
    samples: int
    env_id: str = ""
    dt_ms: float | None = None
    """The group's action cycle period (real-time modes with dt > 0)."""


def histogram_edges(samples: list[np.ndarray], max_bins: int = 60) -> np.ndarray:
    """Common bin edges for samples drawn in one panel; geometric when the range spans more
    than LOG_RATIO: real-time timing has long tails, and they matter."""
    allv = np.concatenate(samples)
    bins = int(min(max_bins, max(10, np.sqrt(allv.size))))
    lo, hi = float(allv.min()), float(allv.max())
    if lo > 0 and hi / lo > LOG_RATIO:
        return np.geomspace(lo, hi, bins + 1)
    return np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)


def _dt_ms(run: Run) -> float | None:
    dt = float(run.config.get("realtime.dt_s", 0) or 0)
    return dt * 1e3 if run.mode != "inline" and dt > 0 else None


def collect_histograms(groups: Sequence[Sequence[Run]], labels: Sequence[str],
                       notes: list[str]) -> dict[str, list[Histogram]]:
    """Per timing array, one histogram per group that has per-step samples
    (timing_steps.npz; the groups of one env share bin edges).  Inline runs have no
    per-step timing (their metrics.jsonl holds a few window medians, too few for a
    histogram): a note says so."""
    found: dict[str, list[tuple[str, np.ndarray, Run]]] = {name: [] for name in TIMING_ARRAYS}
    for runs, label in zip(groups, labels):
        missing = []
        for name in TIMING_ARRAYS:
            parts = [finite(r.timing_steps[name]) for r in runs
                     if r.timing_steps and name in r.timing_steps]
            samples = np.concatenate(parts) if parts else np.empty(0)
            if samples.size:
                found[name].append((label, samples, runs[0]))
            else:
                missing.append(name)
        if len(missing) == len(TIMING_ARRAYS):
            notes.append(f"{runs[0].env_id} {label}: no per-step timing (timing_steps.npz: "
                         "real-time modes only); no timing histogram")
        elif missing:
            notes.append(f"{runs[0].env_id} {label}: no per-step {', '.join(missing)}")
    out: dict[str, list[Histogram]] = {}
    for name, entries in found.items():
        for env in dict.fromkeys(run.env_id for _, _, run in entries):
            mine = [e for e in entries if e[2].env_id == env]
            edges = histogram_edges([e[1] for e in mine])
            out.setdefault(name, []).extend(
                Histogram(label, np.histogram(samples, bins=edges)[0], edges,
                          int(samples.size), env, _dt_ms(run))
                for label, samples, run in mine)
    return out

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
    source: str
    """``timing_steps.npz`` or ``metrics.jsonl`` (window medians)."""


def histogram_edges(samples: list[np.ndarray], max_bins: int = 60) -> np.ndarray:
    """Common bin edges for samples drawn in one panel; geometric when the range spans more
    than LOG_RATIO: real-time timing has long tails, and they matter."""
    allv = np.concatenate(samples)
    bins = int(min(max_bins, max(10, np.sqrt(allv.size))))
    lo, hi = float(allv.min()), float(allv.max())
    if lo > 0 and hi / lo > LOG_RATIO:
        return np.geomspace(lo, hi, bins + 1)
    return np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)


def collect_histograms(groups: Sequence[Sequence[Run]], labels: Sequence[str],
                       notes: list[str]) -> dict[str, list[Histogram]]:
    """Per timing array, one histogram per group that has samples (all groups of an array
    share bin edges).  Inline runs have no per-step arrays: their update-time samples are
    the per-window medians of metrics.jsonl (a note says so)."""
    found: dict[str, list[tuple[str, np.ndarray, str]]] = {name: [] for name in TIMING_ARRAYS}
    for runs, label in zip(groups, labels):
        missing, medians = [], False
        for name in TIMING_ARRAYS:
            parts = [finite(r.timing_steps[name]) for r in runs
                     if r.timing_steps and name in r.timing_steps]
            source = "timing_steps.npz"
            if not parts and name == "update_us":
                parts = [finite([m["timing/update_us_p50"] for m in r.metrics
                                 if "timing/update_us_p50" in m]) for r in runs]
                source, medians = "metrics.jsonl", True
            samples = np.concatenate(parts) if parts else np.empty(0)
            if samples.size:
                found[name].append((label, samples, source))
            else:
                missing.append(name)
        if missing or medians:
            notes.append(f"{label}: no timing_steps.npz"
                         + (f"; no per-step {', '.join(missing)}" if missing else "")
                         + ("; update time shows per-window medians from metrics.jsonl"
                            if medians else ""))
    out: dict[str, list[Histogram]] = {}
    for name, entries in found.items():
        if entries:
            edges = histogram_edges([e[1] for e in entries])
            out[name] = [Histogram(label, np.histogram(samples, bins=edges)[0], edges,
                                   int(samples.size), source)
                         for label, samples, source in entries]
    return out

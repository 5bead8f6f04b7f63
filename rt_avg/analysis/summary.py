"""Per-group statistics and the tables that show them (terminal, Markdown, JSON).

A group (:func:`rt_avg.analysis.runs.group_runs`) is scored by the mean over its seeds of
each run's final return and AUC, with bootstrap intervals (:mod:`rt_avg.analysis.stats`).
Which runs count is the caller's choice: sweeps and studies count completed runs only (a
trial still running would pull its configuration down); reports count every run that has
episodes, each scored over the steps it covers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from rt_avg.analysis import stats
from rt_avg.analysis.runs import (Run, format_value, group_label, group_params, group_runs,
                                  varying_keys)

CI_TEXT = (f"Final return: mean return of the episodes ending in the last "
           f"{stats.FINAL_FRACTION:.0%} of a run's env steps. AUC: area under the learning "
           f"curve / steps. Intervals: {stats.CI_LEVEL:.0%} percentile bootstrap over seeds "
           f"({stats.RESAMPLES} resamples).")


@dataclass
class GroupSummary:
    """One configuration: its runs (seeds) and their statistics."""

    name: str
    env_id: str
    params: dict[str, Any]
    runs: list[Run]
    complete_only: bool = True
    rank: int = 0
    label: str = ""

    @property
    def counted(self) -> list[Run]:
        """The runs the statistics use."""
        return [r for r in self.runs if (r.complete or not self.complete_only)
                and r.returns.size]

    @property
    def final(self) -> stats.Interval:
        return stats.bootstrap_ci([r.final_return for r in self.counted])

    @property
    def auc(self) -> stats.Interval:
        return stats.bootstrap_ci([r.auc for r in self.counted])

    @property
    def mode(self) -> str:
        return self.runs[0].mode

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.counted]

    @property
    def steps(self) -> int:
        return max((r.total_steps for r in self.counted), default=0)

    def mean_of(self, get: Callable[[Run], float | None]) -> float | None:
        values = [v for r in self.runs if (v := get(r)) is not None]
        return float(np.mean(values)) if values else None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "env_id": self.env_id, "rank": self.rank,
                "params": self.params, "seeds": self.seeds, "steps": self.steps,
                "runs_counted": len(self.counted), "runs_total": len(self.runs),
                "final_return": self.final.as_dict(), "auc": self.auc.as_dict(),
                "runs": [{"name": r.name, "seed": r.seed, "complete": r.complete,
                          "steps": r.total_steps, "final_return": _num(r.final_return),
                          "auc": _num(r.auc)} for r in self.runs]}


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


Describe = Callable[[int, list[Run]], tuple[str, dict[str, Any]]]
"""(group index, its runs) -> the group's name and the parameters that set it apart."""


def summarize(runs: Sequence[Run], describe: Describe | None = None,
              complete_only: bool = True) -> list[GroupSummary]:
    """Group ``runs`` and rank the groups within each env by mean final return (ties: mean
    AUC).  Without ``describe``, groups are named ``g000``, ``g001``, ... in first-seen
    order, with the config values that differ between groups as their parameters."""
    groups = group_runs(runs)
    keys = varying_keys(groups)
    out = []
    for i, g in enumerate(groups):
        name, params = describe(i, g) if describe else (f"g{i:03d}", group_params(g, keys))
        s = GroupSummary(name, g[0].env_id, params, list(g), complete_only)
        s.label = group_label(params, g[0].env_id)
        out.append(s)

    def order(g: GroupSummary) -> tuple:
        final, auc = g.final.mean, g.auc.mean
        return (not g.counted, -final if math.isfinite(final) else math.inf,
                -auc if math.isfinite(auc) else math.inf, g.name)

    ranked: list[GroupSummary] = []
    for env_id in sorted({g.env_id for g in out}):
        same = sorted((g for g in out if g.env_id == env_id), key=order)
        for rank, g in enumerate(same, 1):
            g.rank = rank
        ranked += same
    return ranked


# ----------------------------------------------------------------------------- tables


def fmt(value: float | None, spec: str = ".4g") -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return format(value, spec) if abs(value) < 1e5 else f"{value:.3e}"


def with_ci(interval: stats.Interval) -> str:
    """``41 [38.5, 43.5]``; the mean alone without an interval."""
    if not math.isfinite(interval.low):
        return fmt(interval.mean)
    return f"{fmt(interval.mean)} [{fmt(interval.low)}, {fmt(interval.high)}]"


Column = tuple[str, Callable[[GroupSummary], str]]
FINAL = f"final return ({stats.CI_LEVEL:.0%} CI)"
AUC = f"AUC ({stats.CI_LEVEL:.0%} CI)"
COL_ENV: Column = ("env", lambda g: g.env_id)
COL_RANK: Column = ("rank", lambda g: str(g.rank))
COL_SEEDS: Column = ("seeds", lambda g: f"{len(g.counted)}/{len(g.runs)}")
COL_FINAL: Column = (FINAL, lambda g: with_ci(g.final))
COL_AUC: Column = (AUC, lambda g: with_ci(g.auc))
COL_PARAMS: Column = ("params", lambda g: ", ".join(
    f"{k}={format_value(v)}" for k, v in g.params.items()) or "-")
SWEEP_COLUMNS: list[Column] = [COL_ENV, COL_RANK, ("config", lambda g: g.name), COL_SEEDS,
                               COL_FINAL, COL_AUC, COL_PARAMS]
REPORT_COLUMNS: list[Column] = [
    ("run/group", lambda g: g.label), ("mode", lambda g: g.mode),
    ("seeds", lambda g: ",".join(map(str, g.seeds)) or "-"), COL_FINAL, COL_AUC,
    ("steps/s", lambda g: fmt(g.mean_of(Run.steps_per_s), ".0f")),
    ("latency p50 (us)", lambda g: fmt(g.mean_of(lambda r: r.latency_us("p50")), ".1f")),
    ("latency p99 (us)", lambda g: fmt(g.mean_of(lambda r: r.latency_us("p99")), ".1f"))]


def cells(groups: Sequence[GroupSummary], columns: Sequence[Column]) -> list[list[str]]:
    return [[c[0] for c in columns]] + [[get(g) for _, get in columns] for g in groups]


def format_table(groups: Sequence[GroupSummary], columns: Sequence[Column]) -> str:
    """Aligned plain-text table for the terminal."""
    rows = cells(groups, columns)
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(groups: Sequence[GroupSummary], columns: Sequence[Column]) -> str:
    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"

    header, *rows = cells(groups, columns)
    return "\n".join([line(header), line(["---"] * len(header))] + [line(r) for r in rows])

"""Per-group statistics and the tables that show them (terminal, Markdown, JSON).

A group (:func:`rt_avg.analysis.runs.group_runs`) is scored over its seeds: IQM and mean of
each run's final return and AUC (:mod:`rt_avg.analysis.stats`) with rliable's stratified
bootstrap intervals (:mod:`rt_avg.analysis.aggregate`).  Which runs count is the same rule
in ``report``, ``sweep-summary`` and ``study``: a group's complete runs; a group with none
is scored on its unfinished runs (each over the steps it covers) and marked unfinished,
ranked after every group with complete runs.  Unfinished runs beside complete ones are
listed, not counted.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Sequence

import numpy as np

from rt_avg.analysis import aggregate, stats
from rt_avg.analysis.runs import (Run, format_value, group_params, group_runs, legend_labels,
                                  varying_keys)
from rt_avg.analysis.stats import fmt

FEW_MARK = "*"
CI_TEXT = (f"{stats.DEFINITION} AUC: area under the learning curve / steps. "
           f"{aggregate.TEXT} {FEW_MARK} fewer than {aggregate.FEW_SEEDS} seeds: the interval "
           "is about the range of those few seeds, not a reliable 95% interval. Seeds: "
           "runs counted (complete; unfinished ones only where a group has no complete run).")


@dataclass
class GroupSummary:
    """One configuration: its runs (seeds) and their statistics."""

    name: str
    env_id: str
    params: dict[str, Any]
    runs: list[Run]
    rank: int = 0
    label: str = ""
    improvement: stats.Interval | None = None
    """P(reference > this group) (:func:`set_improvement`); None for the reference."""
    reference: str = ""
    """The group ``improvement`` compares against."""
    notes: list[str] = field(default_factory=list)

    @property
    def counted(self) -> list[Run]:
        """The runs the statistics use: the complete ones, else the unfinished ones."""
        done = [r for r in self.runs if r.complete and r.returns.size]
        return done or [r for r in self.runs if r.returns.size]

    @property
    def unfinished(self) -> bool:
        """Scored on runs that did not reach their steps."""
        return bool(self.counted) and not self.counted[0].complete

    @cached_property
    def final_stats(self) -> dict[str, stats.Interval]:
        return aggregate.interval_estimates([r.final_return for r in self.counted])

    @property
    def final(self) -> stats.Interval:
        """Mean final return over seeds and its interval."""
        return self.final_stats["mean"]

    @property
    def final_iqm(self) -> stats.Interval:
        return self.final_stats["iqm"]

    @cached_property
    def auc(self) -> stats.Interval:
        return aggregate.interval_estimates([r.auc for r in self.counted], ["mean"])["mean"]

    @property
    def mode(self) -> str:
        return self.runs[0].mode

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.counted]

    @property
    def few_seeds(self) -> bool:
        return aggregate.few_seeds(len(self.counted))

    @property
    def duplicate_seeds(self) -> list[int]:
        return sorted(s for s, n in Counter(self.seeds).items() if n > 1)

    @property
    def steps(self) -> int:
        return max((r.total_steps for r in self.counted), default=0)

    @property
    def steps_spent(self) -> int:
        """Env steps every run of the group took (complete or not)."""
        return sum(r.total_steps for r in self.runs if r.returns.size or r.complete)

    def seeds_text(self) -> str:
        """``3``, ``3*`` (few seeds), ``3 (+1 unfinished)``, ``2 unfinished``."""
        n = len(self.counted)
        text = f"{n}{FEW_MARK if self.few_seeds else ''}"
        if self.unfinished:
            return f"{text} unfinished"
        rest = sum(1 for r in self.runs if not r.complete)
        return f"{text} (+{rest} unfinished)" if rest else text

    def mean_of(self, get: Callable[[Run], float | None]) -> float | None:
        values = [v for r in self.runs if (v := get(r)) is not None]
        return float(np.mean(values)) if values else None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "env_id": self.env_id, "rank": self.rank,
                "params": self.params, "seeds": self.seeds, "steps": self.steps,
                "runs_counted": len(self.counted), "runs_total": len(self.runs),
                "unfinished": self.unfinished, "few_seeds": self.few_seeds,
                "duplicate_seeds": self.duplicate_seeds,
                "final_return": self.final.as_dict(),
                "final_return_iqm": self.final_iqm.as_dict(), "auc": self.auc.as_dict(),
                "improvement": ({"reference": self.reference, **self.improvement.as_dict()}
                                if self.improvement else None),
                "runs": [{"name": r.name, "seed": r.seed, "complete": r.complete,
                          "status": r.status, "steps": r.total_steps,
                          "final_return": _num(r.final_return), "auc": _num(r.auc)}
                         for r in self.runs]}


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


Describe = Callable[[int, list[Run]], tuple[str, dict[str, Any]]]
"""(group index, its runs) -> the group's name and the parameters that set it apart."""


def summarize(runs: Sequence[Run], describe: Describe | None = None) -> list[GroupSummary]:
    """Group ``runs`` and rank the groups within each env by final-return IQM (ties: mean,
    then mean AUC); unfinished groups after the others.  Without ``describe``, groups are
    named ``g000``, ``g001``, ... in first-seen order, with the config values that differ
    between groups as their parameters."""
    groups = group_runs(runs)
    keys = varying_keys(groups)
    out = []
    for i, g in enumerate(groups):
        name, params = describe(i, g) if describe else (f"g{i:03d}", group_params(g, keys))
        out.append(GroupSummary(name, g[0].env_id, params, list(g)))
    for env_id in {s.env_id for s in out}:  # labels tell apart the groups of one env
        same = [s for s in out if s.env_id == env_id]
        for s, label in zip(same, legend_labels([s.runs for s in same])):
            s.label = label

    def order(g: GroupSummary) -> tuple:
        keys = [-v if math.isfinite(v) else math.inf
                for v in (g.final_iqm.mean, g.final.mean, g.auc.mean)]
        return (not g.counted, g.unfinished, *keys, g.name)

    ranked: list[GroupSummary] = []
    for env_id in sorted({g.env_id for g in out}):
        same = sorted((g for g in out if g.env_id == env_id), key=order)
        for rank, g in enumerate(same, 1):
            g.rank = rank
        ranked += same
    return ranked


def set_improvement(groups: Sequence[GroupSummary], reference: GroupSummary) -> None:
    """P(reference > g) for every other group ``g`` of the reference's env."""
    ref = [r.final_return for r in reference.counted]
    for g in groups:
        if g is not reference and g.env_id == reference.env_id and g.counted:
            g.improvement = aggregate.improvement(ref, [r.final_return for r in g.counted])
            g.reference = reference.name


def warnings_of(groups: Sequence[GroupSummary], by_label: bool = False) -> list[str]:
    """What a reader must know before trusting the numbers: repeated seeds, few seeds
    (groups named by their label with ``by_label``, as a report's table shows them)."""
    name = (lambda g: g.label) if by_label else (lambda g: g.name)
    out = [f"{name(g)}: seed(s) {', '.join(map(str, g.duplicate_seeds))} appear more than "
           "once: those runs are not independent samples" for g in groups if g.duplicate_seeds]
    few = [name(g) for g in groups if g.few_seeds]
    if few:
        out.append(f"{', '.join(few)}: fewer than {aggregate.FEW_SEEDS} seeds; the intervals "
                   "are about the range of the seeds")
    return out


# ----------------------------------------------------------------------------- tables


def with_ci(interval: stats.Interval, few: bool = False) -> str:
    """``41 [38.5, 43.5]``; the point estimate alone without an interval; ``*`` after the
    interval of few seeds."""
    if not math.isfinite(interval.low):
        return fmt(interval.mean)
    mark = FEW_MARK if few else ""
    return f"{fmt(interval.mean)} [{fmt(interval.low)}, {fmt(interval.high)}]{mark}"


Column = tuple[str, Callable[[GroupSummary], str]]
IQM = f"final return IQM ({stats.CI_LEVEL:.0%} CI)"
FINAL = f"final return mean ({stats.CI_LEVEL:.0%} CI)"
AUC = f"AUC ({stats.CI_LEVEL:.0%} CI)"
POI = f"P(ref > this) ({stats.CI_LEVEL:.0%} CI)"
COL_ENV: Column = ("env", lambda g: g.env_id)
COL_RANK: Column = ("rank", lambda g: str(g.rank))
COL_SEEDS: Column = ("seeds", GroupSummary.seeds_text)
COL_IQM: Column = (IQM, lambda g: with_ci(g.final_iqm, g.few_seeds))
COL_FINAL: Column = (FINAL, lambda g: with_ci(g.final, g.few_seeds))
COL_AUC: Column = (AUC, lambda g: with_ci(g.auc, g.few_seeds))
COL_POI: Column = (POI, lambda g: f"{g.reference}: {with_ci(g.improvement)}"
                   if g.improvement else "-")
COL_PARAMS: Column = ("params", lambda g: ", ".join(
    f"{k}={format_value(v)}" for k, v in g.params.items()) or "-")
SWEEP_COLUMNS: list[Column] = [COL_ENV, COL_RANK, ("config", lambda g: g.name), COL_SEEDS,
                               COL_IQM, COL_FINAL, COL_AUC, COL_POI, COL_PARAMS]
REPORT_COLUMNS: list[Column] = [
    ("run/group", lambda g: g.label), ("env", lambda g: g.env_id), ("mode", lambda g: g.mode),
    ("seeds", lambda g: ",".join(map(str, g.seeds)) or "-"), COL_IQM, COL_FINAL, COL_AUC,
    ("status", lambda g: "unfinished" if g.unfinished else "complete"),
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

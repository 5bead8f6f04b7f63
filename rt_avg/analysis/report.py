"""``rt-avg report``: learning curves, timing histograms and a summary table of run
directories.

    rt-avg report RUN_DIR [RUN_DIR ...] [--out DIR]

Runs are grouped by config (:func:`rt_avg.analysis.runs.group_runs`).  Each group is drawn
as the mean over its seeds of the runs' learning curves with a band, and scored like a
sweep (:mod:`rt_avg.analysis.summary`: complete runs, or a group's unfinished runs when it
has no complete one, marked unfinished).  Everything drawn is also returned in
:class:`ReportResult`.

Figures (PNG):
    learning_curves.png      return against env steps, one line + band per group
    timing_histograms.png    action latency, cycle time (with dt), update time per env
                             (timing_steps.npz of the real-time modes)
    async_vs_sequential.png  when runs of both modes share a config otherwise
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from rt_avg.analysis import plots, summary
from rt_avg.analysis.curves import Curve, group_curve
from rt_avg.analysis.runs import Run, RunDataError, expand_run_dirs, load_run
from rt_avg.analysis.timing import Histogram, collect_histograms

COMPARED_MODES = ("async", "sequential")


@dataclass
class ReportResult:
    out_dir: Path
    figures: dict[str, Path] = field(default_factory=dict)
    """Figure name (``learning_curves``, ``timing_histograms``, ``async_vs_sequential``)
    -> PNG path."""
    groups: list[summary.GroupSummary] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    histograms: dict[str, list[Histogram]] = field(default_factory=dict)
    """Timing array name (only those with data) -> one histogram per group that has it."""
    comparison: dict[str, dict[str, list[Curve]]] = field(default_factory=dict)
    """Async/sequential figure name -> ``steps`` and ``wall_time`` -> one curve per mode."""
    plotted: dict[str, plots.Plotted] = field(default_factory=dict)
    """Figure name -> what it shows, read back from its axes."""
    summary_md: Path | None = None
    notes: list[str] = field(default_factory=list)


def _comparisons(runs: list[Run], out_dir: Path, result: ReportResult) -> None:
    """async vs sequential: runs whose configs differ only in run.mode."""
    pairs: dict[tuple, dict[str, list[Run]]] = {}
    for r in runs:
        if r.mode in COMPARED_MODES and r.returns.size:
            key = tuple(kv for kv in r.group_key() if kv[0] != "run.mode")
            pairs.setdefault(key, {}).setdefault(r.mode, []).append(r)
    both = [p for p in pairs.values() if all(m in p for m in COMPARED_MODES)]
    for i, by_mode in enumerate(both):
        name = "async_vs_sequential" + (f"_{i + 1}" if len(both) > 1 else "")
        curves = {axis: [group_curve(m, by_mode[m], x_of) for m in COMPARED_MODES]
                  for axis, x_of in (("steps", "steps"), ("wall_time", "wall_s"))}
        rates = {m: float(np.mean([r.steps_per_s() or np.nan for r in by_mode[m]]))
                 for m in COMPARED_MODES}
        latency = {}
        for m in COMPARED_MODES:
            p50 = [v for r in by_mode[m] if (v := r.latency_us("p50")) is not None]
            p99 = [v for r in by_mode[m] if (v := r.latency_us("p99")) is not None]
            latency[m] = (float(np.mean(p50)), float(np.mean(p99))) if p50 and p99 else None
        path = out_dir / f"{name}.png"
        result.plotted[name] = plots.plot_comparison(curves, rates, latency, path,
                                                     by_mode["async"][0].env_id)
        result.comparison[name] = curves
        result.figures[name] = path
    if any(r.mode in COMPARED_MODES for r in runs) and not both:
        result.notes.append("no async/sequential pair with otherwise equal configs; "
                            "comparison figure skipped")


def _markdown(result: ReportResult, runs: list[Run]) -> str:
    parts = ["# rt-avg report", "", f"Runs: {len(runs)}, config groups: {len(result.groups)}.",
             "", summary.CI_TEXT, "", "## Groups", "",
             summary.markdown_table(result.groups, summary.REPORT_COLUMNS)]
    if len(runs) > len(result.groups):
        parts += ["", "## Runs", "", summary.markdown_table(_one_per_run(runs),
                                                           summary.REPORT_COLUMNS)]
    parts += ["", "## Figures", ""]
    parts += [f"![{name}]({path.name})" for name, path in result.figures.items()]
    if result.notes:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(parts) + "\n"


def _one_per_run(runs: list[Run]) -> list[summary.GroupSummary]:
    out = []
    for r in runs:
        g = summary.GroupSummary(r.name, r.env_id, {}, [r])
        g.label = r.name
        out.append(g)
    return out


def make_report(run_dirs: Sequence[Path | str], out_dir: Path) -> ReportResult:
    """Write the figures and summary.md of ``run_dirs`` into ``out_dir``."""
    paths = expand_run_dirs(run_dirs)
    if not paths:
        raise RunDataError("report: no run directories given")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ReportResult(out_dir)
    runs = [load_run(p) for p in paths]
    result.notes += [f"{r.path}: no finished episodes; left out of the curves"
                     for r in runs if not r.returns.size]
    # Groups in the order their first run was given (the table ranks nothing here).
    result.groups = sorted(summary.summarize(runs), key=lambda g: runs.index(g.runs[0]))
    result.notes += summary.warnings_of(result.groups, by_label=True)
    result.notes += [f"{r.path}: {r.status}; scored over the steps it covers"
                     for r in runs if r.returns.size and not r.complete]
    colour = plots.colours([g.label for g in result.groups])  # one colour per group, everywhere
    result.curves = [group_curve(g.label, g.counted) for g in result.groups if g.counted]
    if result.curves:
        path = out_dir / "learning_curves.png"
        result.plotted["learning_curves"] = plots.plot_learning_curves(result.curves, path,
                                                                       colour=colour)
        result.figures["learning_curves"] = path
    result.histograms = collect_histograms([g.runs for g in result.groups],
                                           [g.label for g in result.groups], result.notes)
    if result.histograms:
        path = out_dir / "timing_histograms.png"
        result.plotted["timing_histograms"] = plots.plot_histograms(result.histograms, path,
                                                                    colour)
        result.figures["timing_histograms"] = path
    _comparisons(runs, out_dir, result)
    result.summary_md = out_dir / "summary.md"
    result.summary_md.write_text(_markdown(result, runs))
    return result


def default_out_dir() -> Path:
    return Path("reports") / time.strftime("%Y%m%d-%H%M%S")


def main_report(run_dirs: list[str], out: str | None) -> int:
    """``rt-avg report``: print the summary table and where the figures went."""
    try:
        result = make_report([Path(p) for p in run_dirs],
                             Path(out) if out else default_out_dir())
    except (RunDataError, FileNotFoundError) as exc:
        print(f"rt-avg: error: {exc}", file=sys.stderr)
        return 2
    print("groups:")
    print(summary.format_table(result.groups, summary.REPORT_COLUMNS))
    runs = [r for g in result.groups for r in g.runs]
    if len(runs) > len(result.groups):
        print("\nruns:")
        print(summary.format_table(_one_per_run(runs), summary.REPORT_COLUMNS))
    for note in result.notes:
        print(f"note: {note}")
    print(f"\n{summary.CI_TEXT}\n")
    for name, path in result.figures.items():
        print(f"{name}: {path}")
    print(f"summary: {result.summary_md}")
    return 0

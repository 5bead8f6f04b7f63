"""``rt-avg sweep-summary``: rank a sweep's configurations across seeds.

Works on a sweep directory (``sweep.json`` names the trials; a group is named after its
configuration id, ``c000``, and shows the searched values) or on any folder of run
directories (groups ``g000``, ... showing the config values that differ).  Statistics as in
:mod:`rt_avg.analysis.summary`: IQM and mean of the final return with rliable's stratified
bootstrap intervals, ranked by IQM within each environment; P(ref > this): the probability
that a run of the reference (the best AVG configuration of that env, else the best one)
beats a run of this configuration.  Unfinished runs (still running, interrupted, stopped
early by a scheduler) count only where a configuration has no complete run, and are marked.

With several envs, configurations that differ only in the env (the same method on several
tasks) are also aggregated across tasks: final returns min-max normalised per task, IQM and
mean with stratified bootstrap intervals, and rliable's performance profiles.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rt_avg.analysis import aggregate, plots, summary
from rt_avg.analysis.curves import group_curve
from rt_avg.analysis.runs import Run, find_runs, format_value
from rt_avg.analysis.stats import Interval

TASK_KEYS = ("base", "env.id")
"""Parameters that name the task rather than the method."""


def summarize_dir(folder: Path | str) -> list[summary.GroupSummary]:
    """Every configuration of a sweep (or folder of runs), ranked within its environment,
    with P(ref > this) against each env's reference.  Raises ConfigError when there is
    nothing to summarise."""
    runs, trials = find_runs(folder)

    def describe(i: int, group: list[Run]) -> tuple[str, dict[str, Any]]:
        trial = trials[str(group[0].path)]
        return trial["config_id"], dict(trial["params"])

    groups = summary.summarize(runs, describe if trials else None)
    for env_id in dict.fromkeys(g.env_id for g in groups):
        ref = reference([g for g in groups if g.env_id == env_id])
        if ref is not None:
            summary.set_improvement(groups, ref)
    return groups


def reference(groups: list[summary.GroupSummary]) -> summary.GroupSummary | None:
    """The best-ranked AVG configuration with runs, else the best-ranked one."""
    scored = [g for g in groups if g.counted]
    avg = [g for g in scored if g.runs[0].config.get("agent.algo") == "avg"]
    return (avg or scored or [None])[0]


@dataclass
class AcrossTasks:
    """Methods run on several tasks, scored on min-max normalised final returns."""

    tasks: list[str]
    methods: list[str]
    scores: dict[str, np.ndarray]
    """Method -> (runs, tasks) normalised final returns."""
    estimates: dict[str, dict[str, Interval]] = field(default_factory=dict)
    improvement: dict[str, Interval] = field(default_factory=dict)
    reference: str = ""


def _method(g: summary.GroupSummary) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in g.params.items()
                     if k not in TASK_KEYS) or "all runs"


def across_tasks(groups: list[summary.GroupSummary]) -> AcrossTasks | None:
    """Aggregates over tasks of the methods that ran on every task (None: one task, or no
    method on all of them)."""
    tasks = list(dict.fromkeys(g.env_id for g in groups))
    if len(tasks) < 2:
        return None
    by_task: dict[str, dict[str, list[float]]] = {t: {} for t in tasks}
    for g in groups:
        if g.counted:
            by_task[g.env_id][_method(g)] = [r.final_return for r in g.counted]
    methods = [m for m in dict.fromkeys(_method(g) for g in groups)
               if all(m in by_task[t] for t in tasks)]
    if not methods:
        return None
    norm = aggregate.normalise(by_task)
    out = AcrossTasks(tasks, methods,
                      {m: aggregate.across_tasks(norm, m, tasks) for m in methods})
    out.estimates = {m: aggregate.interval_estimates(out.scores[m]) for m in methods}
    avg = [m for m in methods if "algo=avg" in m or m.startswith("variant=avg")]
    out.reference = (avg or [max(methods, key=lambda m: out.estimates[m]["iqm"].mean)])[0]
    out.improvement = {m: aggregate.improvement(out.scores[out.reference], out.scores[m])
                       for m in methods if m != out.reference}
    return out


def across_table(agg: AcrossTasks) -> str:
    head = ["method", "tasks", "runs per task", "IQM (normalised)", "mean (normalised)",
            f"P({agg.reference} > this)"]
    rows = [[m, str(len(agg.tasks)), str(agg.scores[m].shape[0]),
             summary.with_ci(agg.estimates[m]["iqm"]), summary.with_ci(agg.estimates[m]["mean"]),
             summary.with_ci(agg.improvement[m]) if m in agg.improvement else "-"]
            for m in agg.methods]
    line = lambda r: "| " + " | ".join(c.replace("|", "\\|") for c in r) + " |"  # noqa: E731
    return "\n".join([line(head), line(["---"] * len(head))] + [line(r) for r in rows])


def format_markdown(groups: list[summary.GroupSummary], title: str,
                    agg: AcrossTasks | None = None, notes: list[str] | None = None) -> str:
    parts = [f"# {title}", "", summary.CI_TEXT, "",
             summary.markdown_table(groups, summary.SWEEP_COLUMNS)]
    if agg is not None:
        parts += ["", f"## Across tasks ({', '.join(agg.tasks)})", "",
                  "Final returns min-max normalised per task (0: the lowest run there, 1: the "
                  "highest).", "", across_table(agg)]
    if notes:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(parts) + "\n"


def plot_best(groups: list[summary.GroupSummary], path: Path, top: int = 5) -> plots.Plotted:
    """Per environment, the ``top`` best configurations' mean curves with their bands."""
    best = [g for g in groups if g.rank <= top and g.counted]
    curves = [group_curve(f"#{g.rank} {g.name}", g.counted) for g in best]
    return plots.plot_learning_curves(
        curves, path, seed_lines=False,
        title=f"Best configurations (parameters in summary.md): mean over seeds\n{plots.BAND}")


def plot_intervals(groups: list[summary.GroupSummary], path: Path, top: int = 5
                   ) -> plots.Plotted:
    """IQM and mean of the final return of the ``top`` configurations of each env, with
    their rliable intervals (rows ``#rank name``, ``env: #rank name`` with several envs)."""
    best = [g for g in groups if g.rank <= top and g.counted]
    envs = list(dict.fromkeys(g.env_id for g in best))
    rows = [(f"{g.env_id}: " if len(envs) > 1 else "") + f"#{g.rank} {g.name}" for g in best]
    return plots.plot_intervals(
        rows, {"IQM": [g.final_iqm for g in best], "mean": [g.final for g in best]}, path,
        title=f"Final return of the best configurations ({', '.join(envs)})",
        xlabel="final return", few_seeds=any(g.few_seeds for g in best))


def main_summary(sweep_dir: str, out: str | None = None, top: int = 5) -> int:
    """Print the ranked table and write ``summary.md``, ``summary.json``, ``summary.png``
    (learning curves), ``intervals.png`` and, with several tasks, ``profiles.png`` into
    ``out`` (default: the sweep directory)."""
    groups = summarize_dir(sweep_dir)
    agg = across_tasks(groups)
    out_dir = Path(out) if out else Path(sweep_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = Path(sweep_dir).resolve().name
    notes = summary.warnings_of(groups)
    spent = sum(g.steps_spent for g in groups)
    planned = sum(r.planned_steps for g in groups for r in g.runs)
    stopped = sum(r.stopped_early for g in groups for r in g.runs)
    notes.append(f"env steps spent: {spent:,} of {planned:,} planned"
                 + (f"; {stopped} run(s) stopped early by the scheduler" if stopped else ""))
    unfinished = sum(not r.complete for g in groups for r in g.runs)
    if unfinished:
        notes.append(f"{unfinished} run(s) unfinished (not counted where their configuration "
                     "has complete runs)")
    print(summary.format_table(groups, summary.SWEEP_COLUMNS))
    if agg is not None:
        print(f"\nacross tasks ({', '.join(agg.tasks)}), normalised final return:")
        print(across_table(agg))
    (out_dir / "summary.md").write_text(format_markdown(groups, f"Sweep summary: {name}", agg,
                                                        notes))
    data: dict[str, Any] = {"definitions": summary.CI_TEXT, "notes": notes,
                            "steps_spent": spent, "steps_planned": planned,
                            "configurations": [g.as_dict() for g in groups]}
    written = [out_dir / "summary.md", out_dir / "summary.json"]
    if any(g.counted for g in groups):
        plot_best(groups, out_dir / "summary.png", top)
        plot_intervals(groups, out_dir / "intervals.png", top)
        written += [out_dir / "summary.png", out_dir / "intervals.png"]
    if agg is not None:
        taus = np.linspace(0.0, 1.0, 51)
        profiles, cis = aggregate.performance_profiles(agg.scores, taus)
        plots.plot_profiles(taus, profiles, cis, out_dir / "profiles.png",
                            title=f"Performance profiles over {len(agg.tasks)} tasks")
        written.append(out_dir / "profiles.png")
        data["across_tasks"] = {
            "tasks": agg.tasks, "reference": agg.reference,
            "methods": {m: {"iqm": agg.estimates[m]["iqm"].as_dict(),
                            "mean": agg.estimates[m]["mean"].as_dict(),
                            "improvement": agg.improvement[m].as_dict()
                            if m in agg.improvement else None} for m in agg.methods}}
    (out_dir / "summary.json").write_text(json.dumps(data, indent=1))
    for note in notes:
        print(f"note: {note}")
    print(summary.CI_TEXT)
    print("wrote " + ", ".join(map(str, written)))
    return 0


def add_summary_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``rt-avg sweep-summary`` (the command calls
    ``main_summary(args.sweep_dir, args.out, args.top)``)."""
    p.add_argument("sweep_dir", help="a sweep directory (or any folder of run directories)")
    p.add_argument("--out", help="folder for summary.md, summary.json and the figures "
                   "(default: the sweep directory)")
    p.add_argument("--top", type=int, default=5, help="configurations to plot per environment")

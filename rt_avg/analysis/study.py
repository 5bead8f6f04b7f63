"""What a study shows (``rt-avg study``): its figure, ``summary.json`` and a Markdown table.

Reads a study folder (a sweep directory whose trials are named by variant, plus
``study.json`` listing the variants) and scores each variant like any sweep configuration
(:mod:`rt_avg.analysis.summary`: IQM and mean of the final return, mean AUC, rliable's
stratified bootstrap intervals over seeds), with P(AVG > variant), the probability that a
run of AVG (AVG with every normalisation in the ablation) beats a run of the variant.
Figures:

- ``buffer_size.png`` (buffer-size): final-return IQM against buffer size per method, log
  x axis, bars for the intervals, a star at buffer size 1, AVG as a dashed reference line;
- ``incremental.png`` (incremental): learning curves with bootstrap bands;
- ``ablation.png`` (ablation): final-return IQM per variant, bars coloured by method;
- ``learning_curves.png`` (every study): every variant's learning curve;
- ``intervals.png`` (every study): IQM and mean final return per variant with their
  intervals (rliable).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rt_avg.analysis import plots, summary
from rt_avg.analysis.curves import Curve, group_curve
from rt_avg.analysis.runs import Run, find_runs

STUDY_FILE = "study.json"
YLABEL = "final return (last 10% of steps)"


@dataclass
class StudyResult:
    out_dir: Path
    study: str
    variants: list[dict[str, Any]]
    groups: list[summary.GroupSummary]
    """One per variant that has trials, in the study's variant order."""
    curves: list[Curve] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)
    plotted: dict[str, plots.Plotted] = field(default_factory=dict)
    """Figure name -> what it shows, read back from its axes."""
    table: str = ""


def _setting(v: dict[str, Any]) -> str:
    if v.get("norms") is not None:
        return ", ".join(v["norms"]) or "none"
    return f"buffer {v['buffer_size']}" if v.get("buffer_size") else "-"


def _figure(result: StudyResult, meta: dict[str, dict[str, Any]], steps: int) -> None:
    out, groups = result.out_dir, [g for g in result.groups if g.counted]
    seeds = max((len(g.counted) for g in groups), default=0)
    budget = f"{steps:,} steps, {seeds} seed{'s' if seeds != 1 else ''}"
    # The IQM, as the tables lead with; the bars say when they are a few seeds' range.
    fewest = min((len(g.counted) for g in groups), default=0)
    bars = plots.bars_note(fewest)
    if result.study == "buffer-size":
        series: dict[str, tuple[list[int], list[Any]]] = {}
        refs = {}
        for g in groups:
            v = meta[g.name]
            if v["reference"]:
                refs[f"{v['method'].upper()} (buffer 1, incremental; grey: its bar)"] = \
                    g.final_iqm
            else:
                xs, ys = series.setdefault(v["method"].upper(), ([], []))
                xs.append(v["buffer_size"])
                ys.append(g.final_iqm)
        name = "buffer_size"
        result.plotted[name] = plots.plot_points(
            series, out / f"{name}.png",
            title=f"Final return against buffer size ({budget})\nIQM over seeds, star: "
                  f"buffer size 1\nbars: {bars}",
            xlabel=f"replay buffer size (PPO: rollout length), log scale; {steps:,}: the "
                   "whole run", ylabel=YLABEL,
            logx=True, references=refs, mark_x=1)
    elif result.study == "incremental":
        name = "incremental"
        result.plotted[name] = plots.plot_learning_curves(
            result.curves, out / f"{name}.png", seed_lines=False,
            title=f"Incremental learners ({budget}): mean over seeds\n{plots.BAND}")
    else:
        name = "ablation"
        result.plotted[name] = plots.plot_bars(
            [g.name for g in groups], [g.final_iqm for g in groups], out / f"{name}.png",
            title=f"Normalisation ablation ({budget})\nIQM over seeds; bars: {bars}",
            ylabel=YLABEL,
            groups=[meta[g.name]["method"] for g in groups])
    result.figures[name] = out / f"{name}.png"


def _reference(groups: list[summary.GroupSummary], meta: dict[str, dict[str, Any]]
               ) -> summary.GroupSummary | None:
    """AVG as published: the ``avg`` variant, or AVG with every normalisation."""
    avg = [g for g in groups if meta[g.name]["method"] == "avg" and g.counted]
    full = [g for g in avg if meta[g.name].get("norms") in (None, ["obs", "pnorm", "td"])]
    return (full or avg or [None])[0]


def write_study_report(out_dir: Path | str) -> StudyResult:
    """Score a study folder's variants; write the figures, ``summary.json`` and
    ``summary.md``; print the Markdown table."""
    out = Path(out_dir)
    data = json.loads((out / STUDY_FILE).read_text())
    meta = {v["name"]: v for v in data["variants"]}
    runs, trials = find_runs(out)

    def describe(i: int, group: list[Run]) -> tuple[str, dict[str, Any]]:
        variant = trials[str(group[0].path)]["params"]["variant"]
        return variant, {"variant": variant}

    by_name = {g.name: g for g in summary.summarize(runs, describe)}
    groups = [by_name[v["name"]] for v in data["variants"] if v["name"] in by_name]
    result = StudyResult(out, data["study"]["study"], data["variants"], groups)
    ref = _reference(groups, meta)
    if ref is not None:
        summary.set_improvement(groups, ref)
    result.curves = [group_curve(g.name, g.counted) for g in groups if g.counted]
    steps = int(data["study"]["steps"])
    if result.curves:
        result.plotted["learning_curves"] = plots.plot_learning_curves(
            result.curves, out / "learning_curves.png", seed_lines=False)
        result.figures["learning_curves"] = out / "learning_curves.png"
        _figure(result, meta, steps)
        scored = [g for g in groups if g.counted]
        result.plotted["intervals"] = plots.plot_intervals(
            [g.name for g in scored], {"IQM": [g.final_iqm for g in scored],
                                       "mean": [g.final for g in scored]},
            out / "intervals.png", title=f"Study {result.study}: final return",
            xlabel=YLABEL, few_seeds=any(g.few_seeds for g in scored))
        result.figures["intervals"] = out / "intervals.png"
    columns: list[summary.Column] = [
        ("variant", lambda g: g.name), ("method", lambda g: meta[g.name]["method"]),
        ("setting", lambda g: _setting(meta[g.name])), summary.COL_SEEDS,
        ("steps", lambda g: str(g.steps)), summary.COL_IQM, summary.COL_FINAL,
        summary.COL_AUC, summary.COL_POI]
    result.table = summary.markdown_table(groups, columns)
    notes = summary.warnings_of(groups)
    unfinished = sum(not r.complete for g in groups for r in g.runs)
    if unfinished:
        notes.append(f"{unfinished} run(s) unfinished (not counted where their variant has "
                     "complete runs)")
    env = runs[0].env_id if runs else "?"
    (out / "summary.json").write_text(json.dumps({
        "study": result.study, "env_id": env, "steps": steps,
        "seeds": int(data["study"]["seeds"]), "definitions": summary.CI_TEXT, "notes": notes,
        "figures": {k: p.name for k, p in result.figures.items()},
        "variants": [{**meta[g.name], **g.as_dict()} for g in groups]}, indent=1))
    (out / "summary.md").write_text(
        f"# Study {result.study}: {env}, {steps:,} steps\n\n{summary.CI_TEXT}\n\n"
        f"{result.table}\n" + "".join(f"\n- {n}" for n in notes) + "\n"
        + "".join(f"\n![{k}]({p.name})\n" for k, p in result.figures.items()))
    print(result.table)
    print(summary.CI_TEXT)
    for note in notes:
        print(f"note: {note}")
    for k, p in result.figures.items():
        print(f"{k}: {p}")
    print(f"summary: {out / 'summary.json'}")
    return result


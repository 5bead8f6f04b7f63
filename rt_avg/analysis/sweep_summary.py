"""``rt-avg sweep-summary``: rank a sweep's configurations across seeds.

Works on a sweep directory (``sweep.json`` names the trials; a group is named after its
configuration id, ``c000``, and shows the searched values) or on any folder of run
directories (groups ``g000``, ... showing the config values that differ).  Only completed
runs count; the others are reported as incomplete.  Configurations are ranked by mean final
return (ties by mean AUC) within each environment; statistics and intervals as defined in
:mod:`rt_avg.analysis.stats`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rt_avg.analysis import plots, summary
from rt_avg.analysis.curves import group_curve
from rt_avg.analysis.runs import Run, find_runs


def summarize_dir(folder: Path | str) -> list[summary.GroupSummary]:
    """Every configuration of a sweep (or folder of runs), ranked within its environment.
    Raises ConfigError when there is nothing to summarise."""
    runs, trials = find_runs(folder)

    def describe(i: int, group: list[Run]) -> tuple[str, dict[str, Any]]:
        trial = trials[str(group[0].path)]
        return trial["config_id"], dict(trial["params"])

    return summary.summarize(runs, describe if trials else None, complete_only=True)


def format_markdown(groups: list[summary.GroupSummary], title: str) -> str:
    return "\n".join([f"# {title}", "", summary.CI_TEXT + " Seeds: completed/total.", "",
                      summary.markdown_table(groups, summary.SWEEP_COLUMNS)]) + "\n"


def plot_best(groups: list[summary.GroupSummary], path: Path, top: int = 5) -> plots.Plotted:
    """Per environment, the ``top`` best configurations' mean curves with their bands."""
    curves = [group_curve(f"#{g.rank} {g.name} {g.label}"[:70], g.counted)
              for g in groups if g.rank <= top and g.counted]
    return plots.plot_learning_curves(
        curves, path, seed_lines=False,
        title="Best configurations: mean over seeds, " + plots.BAND)


def main_summary(sweep_dir: str, out: str | None = None, top: int = 5) -> int:
    """Print the ranked table and write ``summary.md``, ``summary.json`` and
    ``summary.png`` into ``out`` (default: the sweep directory)."""
    groups = summarize_dir(sweep_dir)
    out_dir = Path(out) if out else Path(sweep_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = Path(sweep_dir).resolve().name
    print(summary.format_table(groups, summary.SWEEP_COLUMNS))
    (out_dir / "summary.md").write_text(format_markdown(groups, f"Sweep summary: {name}"))
    (out_dir / "summary.json").write_text(json.dumps([g.as_dict() for g in groups], indent=1))
    written = [out_dir / "summary.md", out_dir / "summary.json"]
    if any(g.counted for g in groups):
        plot_best(groups, out_dir / "summary.png", top)
        written.append(out_dir / "summary.png")
    incomplete = sum(len(g.runs) - len(g.counted) for g in groups)
    if incomplete:
        print(f"{incomplete} run(s) not complete yet are left out of the statistics")
    print(summary.CI_TEXT)
    print("wrote " + ", ".join(map(str, written)))
    return 0


def add_summary_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``rt-avg sweep-summary`` (the command calls
    ``main_summary(args.sweep_dir, args.out, args.top)``)."""
    p.add_argument("sweep_dir", help="a sweep directory (or any folder of run directories)")
    p.add_argument("--out", help="folder for summary.md, summary.json and summary.png "
                   "(default: the sweep directory)")
    p.add_argument("--top", type=int, default=5, help="configurations to plot per environment")

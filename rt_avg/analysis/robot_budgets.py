"""The robot tasks at the talk's budgets: learning curves against env steps and against
hours of robot time, and a table per seed.

A run directory per seed under ``ROOT/<task>/`` (``runs/robot-tasks/create2_mover/s0``, ...,
as the commands in ``configs/studies/create2_mover_100k.yaml`` and
``ur5_reacher2_400k.yaml`` make them)::

    python -m rt_avg.analysis.robot_budgets runs/robot-tasks --out docs/img

writes ``robot_<task>.png`` per task (return against env steps and against hours of robot
time, i.e. steps x the task's period ``env.kwargs.dt_s``: what the same number of steps takes
on the robot, resets not counted) and prints a Markdown table per task: for each seed the
steps run, episodes, the mean return of the first and of the last 10 episodes, the wall time
here and the robot time.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rt_avg.analysis import plots
from rt_avg.analysis.curves import group_curve
from rt_avg.analysis.runs import Run, load_run

#: episodes averaged at each end of a run in the table
EDGE_EPISODES = 10
#: the talk's budgets (env steps) per task directory, and the task's name
BUDGETS: dict[str, tuple[str, int]] = {
    "create2_mover": ("Create-Mover", 100_000),
    "ur5_reacher2": ("UR-Reacher-2", 400_000),
}


def period_s(run: Run) -> float:
    """The task's control period (s): ``env.kwargs.dt_s`` of the run's config."""
    dt = run.config.get("env.kwargs.dt_s")
    if not isinstance(dt, (int, float)) or dt <= 0:
        raise ValueError(f"{run.path}: env.kwargs.dt_s is {dt!r}; the robot time needs the "
                         "task's period")
    return float(dt)


def seed_row(run: Run) -> dict[str, Any]:
    """One table row: seed, steps run, episodes, first/last-10 mean return, wall and robot
    hours."""
    n = min(EDGE_EPISODES, run.returns.size)
    steps = run.total_steps
    return {
        "seed": run.seed,
        "steps": steps,
        "planned": run.planned_steps,
        "episodes": int(run.returns.size),
        "first10": float(np.mean(run.returns[:n])) if n else float("nan"),
        "last10": float(np.mean(run.returns[-n:])) if n else float("nan"),
        "wall_h": float(run.wall_s[-1]) / 3600.0 if run.wall_s.size else 0.0,
        "robot_h": steps * period_s(run) / 3600.0,
    }


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    out = ["| seed | steps run (of planned) | episodes | mean return, first 10 episodes | "
           "mean return, last 10 episodes | wall time here (h) | robot time (h) |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| {r['seed']} | {r['steps']:,} ({r['planned']:,}) | {r['episodes']:,} | "
                   f"{r['first10']:.1f} | {r['last10']:.1f} | {r['wall_h']:.2f} | "
                   f"{r['robot_h']:.2f} |")
    return "\n".join(out)


def plot_task(name: str, runs: Sequence[Run], path: Path) -> plots.Plotted:
    """Return against env steps (left) and hours of robot time (right), mean over seeds with
    each seed's curve, up to the shortest run's steps."""
    curve = group_curve("AVG", runs, x_of="steps")
    hours = dataclasses.replace(curve, x=curve.x * period_s(runs[0]) / 3600.0)
    fig, axes = plots.figure(ncols=2)
    colour = plots.colours([curve.label])[curve.label]
    plots.draw_curve(axes[0], curve, colour)
    plots.finish_axes(axes[0], f"{name}: return against env steps", "env steps",
                      "episode return")
    plots.draw_curve(axes[1], hours, colour)
    plots.finish_axes(axes[1], f"{name}: return against robot time",
                      f"hours of robot time (steps x {period_s(runs[0]) * 1000:g} ms)",
                      "episode return")
    fig.suptitle(f"{name} on its twin, AVG inline ({plots.BAND})")
    plotted = plots.read_back(axes)
    plots.save(fig, path)
    return plotted


def task_runs(task_dir: Path) -> list[Run]:
    """The runs (one per seed) under ``task_dir`` that logged an episode, by seed."""
    runs = [load_run(p) for p in sorted(task_dir.iterdir()) if (p / "config.yaml").exists()]
    return sorted((r for r in runs if r.returns.size), key=lambda r: r.seed)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rt_avg.analysis.robot_budgets",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("root", type=Path, help="folder with one folder of runs per task")
    p.add_argument("--out", type=Path, default=Path("docs/img"), help="figure folder")
    args = p.parse_args(argv)
    found = False
    for task, (name, budget) in BUDGETS.items():
        runs = task_runs(args.root / task) if (args.root / task).is_dir() else []
        if not runs:
            continue
        found = True
        figure = plot_task(name, runs, args.out / f"robot_{task}.png")
        print(f"## {name} (talk: after {budget:,} steps) -> {args.out / f'robot_{task}.png'}")
        print(f"figure lines: {[label for label, *_ in figure.lines]}\n")
        print(table([seed_row(r) for r in runs]) + "\n")
    if not found:
        print(f"no runs under {args.root}/{{{','.join(BUDGETS)}}}/")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Figures (PNG through matplotlib's Agg canvas; no pyplot state).

Every plotting function returns what it drew, read back from the axes
(:class:`Plotted`: label, x, y of each labelled line, and the bar heights), so tests can
check a figure against the runs it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rt_avg.analysis.curves import Curve
from rt_avg.analysis.stats import CI_LEVEL

MAX_SEED_LINES = 10
BAND = f"{CI_LEVEL:.0%} bootstrap band"


@dataclass
class Plotted:
    """What one figure shows."""

    lines: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)
    """(label, x, y) of every labelled line; per-seed lines (labels '_...') are left out."""
    bars: list[tuple[str, float]] = field(default_factory=list)
    """(tick label, height) of every bar."""


def figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (6.4, 4.2)
           ) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    return fig, list(axes)


def read_back(axes: Sequence[Any]) -> Plotted:
    out = Plotted()
    for ax in axes:
        out.lines += [(ln.get_label(), np.asarray(ln.get_xdata(), dtype=np.float64),
                       np.asarray(ln.get_ydata(), dtype=np.float64))
                      for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        from matplotlib.container import BarContainer

        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        if bars:  # bar charts: each bar with its tick label
            ticks = [t.get_text() for t in ax.get_xticklabels()]
            out.bars += [(tick, float(patch.get_height()))
                         for tick, patch in zip(ticks, bars[0].patches)]
    return out


def save(fig: Any, path: Path, dpi: int = 110) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def draw_curve(ax: Any, curve: Curve, color: Any = None, seed_lines: bool = True) -> None:
    """The group mean, its band and (for few seeds) each seed as a thin line."""
    n = len(curve.runs)
    (line,) = ax.plot(curve.x, curve.mean, color=color,
                      label=f"{curve.label} ({n} seed{'s' if n != 1 else ''})")
    if n > 1:
        ax.fill_between(curve.x, curve.low, curve.high, color=line.get_color(), alpha=0.2,
                        linewidth=0)
        if seed_lines and n <= MAX_SEED_LINES:  # a band alone hides how few seeds there are
            for seed, run_curve in zip(curve.seeds, curve.per_run):
                ax.plot(curve.x, run_curve, color=line.get_color(), alpha=0.35,
                        linewidth=0.7, label=f"_seed {seed}")


def finish_axes(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def plot_learning_curves(curves: Sequence[Curve], path: Path, title: str | None = None,
                         seed_lines: bool = True) -> Plotted:
    """Return against env steps, one panel per env id, one line and band per curve."""
    envs = list(dict.fromkeys(c.env_id for c in curves))
    fig, axes = figure(ncols=len(envs))
    for ax, env in zip(axes, envs):
        for curve in (c for c in curves if c.env_id == env):
            draw_curve(ax, curve, seed_lines=seed_lines)
        finish_axes(ax, env, "env steps", "episode return")
    fig.suptitle(title or f"Learning curves: mean over seeds, {BAND}")
    plotted = read_back(axes)
    save(fig, path)
    return plotted


def plot_points(series: dict[str, tuple[Sequence[float], Sequence[Any]]], path: Path, *,
                title: str, xlabel: str, ylabel: str, logx: bool = False,
                references: dict[str, Any] | None = None, mark_x: float | None = None
                ) -> Plotted:
    """Means with interval bars against x, one line per series (``{label: (x, intervals)}``,
    intervals having mean/low/high); ``references`` draw as horizontal lines with their
    band; ``mark_x`` marks each series' point at that x with a star."""
    fig, (ax,) = figure(size=(7.0, 4.6))
    for label, (xs, intervals) in series.items():
        x = np.asarray(xs, dtype=float)
        mean = np.array([i.mean for i in intervals])
        low = np.array([i.low for i in intervals])
        high = np.array([i.high for i in intervals])
        err = np.vstack([np.where(np.isfinite(low), mean - low, 0.0),
                         np.where(np.isfinite(high), high - mean, 0.0)])
        (line,) = ax.plot(x, mean, marker="o", label=label)
        ax.errorbar(x, mean, yerr=err, fmt="none", ecolor=line.get_color(), capsize=3)
        if mark_x is not None and np.any(x == mark_x):
            ax.plot(x[x == mark_x], mean[x == mark_x], marker="*", markersize=14,
                    color=line.get_color(), linestyle="none", label="_star")
    for label, interval in (references or {}).items():
        ax.axhline(interval.mean, color="k", linestyle="--", linewidth=1, label=label)
        if np.isfinite(interval.low):
            ax.axhspan(interval.low, interval.high, color="k", alpha=0.08, linewidth=0)
    if logx:
        ax.set_xscale("log")
    finish_axes(ax, title, xlabel, ylabel)
    plotted = read_back([ax])
    save(fig, path)
    return plotted


def plot_bars(labels: Sequence[str], intervals: Sequence[Any], path: Path, *, title: str,
              ylabel: str, groups: Sequence[str] | None = None) -> Plotted:
    """One bar per label (height: mean, error bar: interval), coloured by ``groups``."""
    fig, (ax,) = figure(size=(max(6.4, 0.6 * len(labels) + 2), 4.8))
    colours = {g: f"C{i}" for i, g in enumerate(dict.fromkeys(groups or []))}
    x = np.arange(len(labels))
    mean = np.array([i.mean for i in intervals])
    err = np.vstack([[i.mean - i.low if np.isfinite(i.low) else 0.0 for i in intervals],
                     [i.high - i.mean if np.isfinite(i.high) else 0.0 for i in intervals]])
    ax.bar(x, mean, yerr=err, capsize=3,
           color=[colours[g] for g in groups] if groups else None)
    ax.set_xticks(x, labels, rotation=35, ha="right", fontsize="small")
    finish_axes(ax, title, "", ylabel)
    if colours:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=c, label=g) for g, c in colours.items()],
                  fontsize="small")
    plotted = read_back([ax])
    save(fig, path)
    return plotted


def plot_histograms(hists: dict[str, list[Any]], path: Path) -> None:
    """One panel per timing array (:func:`rt_avg.analysis.timing.collect_histograms`)."""
    from rt_avg.analysis.timing import LOG_RATIO, TIMING_ARRAYS

    fig, axes = figure(ncols=len(hists), size=(5.2, 3.8))
    for ax, (name, entries) in zip(axes, hists.items()):
        title = TIMING_ARRAYS[name]
        for h in entries:
            src = " (window medians)" if h.source == "metrics.jsonl" else ""
            ax.stairs(h.counts, h.edges, label=f"{h.label}{src}, n={h.samples}")
        edges = entries[-1].edges
        if edges[0] > 0 and edges[-1] / edges[0] > LOG_RATIO:
            ax.set_xscale("log")
        finish_axes(ax, title, title.split(" (")[-1].rstrip(")"), "count")
    fig.suptitle("Timing histograms")
    save(fig, path)


def plot_comparison(curves: dict[str, list[Curve]], rates: dict[str, float],
                    latency: dict[str, tuple[float, float] | None], path: Path,
                    env_id: str) -> Plotted:
    """Return against env steps and against wall-clock time per mode (``curves['steps']``,
    ``curves['wall_time']``), and throughput bars with action latency p50/p99."""
    fig, axes = figure(ncols=3, size=(5.0, 4.0))
    for key, ax in (("steps", axes[0]), ("wall_time", axes[1])):
        for curve in curves[key]:
            draw_curve(ax, curve)
    finish_axes(axes[0], "return vs env steps", "env steps", "episode return")
    finish_axes(axes[1], "return vs wall-clock time", "seconds", "episode return")
    modes = list(rates)
    axes[2].bar(modes, [rates[m] for m in modes], color=[f"C{i}" for i in range(len(modes))])
    for i, m in enumerate(modes):
        if latency.get(m):
            p50, p99 = latency[m]
            axes[2].annotate(f"latency p50 {p50:.0f} us\np99 {p99:.0f} us", (i, rates[m]),
                             ha="center", va="bottom", fontsize="x-small")
    finish_axes(axes[2], "throughput", "", "env steps / s")
    fig.suptitle(f"async vs sequential: {env_id}")
    plotted = read_back(axes[:2])
    save(fig, path)
    return plotted


def plot_run(steps: np.ndarray, returns: np.ndarray, curve: tuple[np.ndarray, np.ndarray],
             title: str, path: Path) -> Path:
    """One run: each episode's return (dots) and its learning curve."""
    fig, (ax,) = figure()
    ax.plot(steps, returns, ".", alpha=0.3, markersize=3, label="episode return")
    ax.plot(*curve, label="learning curve (mean per step bin)")
    finish_axes(ax, title, "env steps", "episode return")
    return save(fig, path)

"""Figures (PNG through matplotlib's Agg canvas; no pyplot state).

Every plotting function returns what it drew, read back from the axes
(:class:`Plotted`: label, x, y and colour of each labelled line, and the bar heights), so
tests can check a figure against the runs it came from.  A group keeps one colour in every
panel of a figure (:func:`colours`); panels are per env, titled with the env id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from rt_avg.analysis.aggregate import FEW_SEEDS
from rt_avg.analysis.curves import Curve
from rt_avg.analysis.stats import CI_LEVEL, Interval

MAX_SEED_LINES = 10
BAND = (f"band: {CI_LEVEL:.0%} bootstrap CI with {FEW_SEEDS}+ seeds, "
        "the range of the seeds with fewer")


def bars_note(seeds: int) -> str:
    """What the error bars of a figure of final returns over ``seeds`` seeds (the fewest of
    any point) show, for its title."""
    if seeds < 2:
        return "one seed: no interval"
    if seeds < FEW_SEEDS:
        return f"about the range of the seeds (fewer than {FEW_SEEDS}: not a 95% CI)"
    return f"{CI_LEVEL:.0%} stratified bootstrap CI (rliable)"


def colours(names: Sequence[str]) -> dict[str, str]:
    """One colour per name (tab10, tab20 for more, then a continuous map), in order."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    names = list(dict.fromkeys(names))
    n = len(names)
    cmap = colormaps["tab10" if n <= 10 else "tab20" if n <= 20 else "turbo"]
    at = (lambda i: i) if n <= 20 else (lambda i: i / max(1, n - 1))
    return {name: to_hex(cmap(at(i))) for i, name in enumerate(names)}


@dataclass
class Plotted:
    """What one figure shows."""

    lines: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)
    """(label, x, y) of every labelled line; per-seed lines (labels '_...') are left out."""
    bars: list[tuple[str, float]] = field(default_factory=list)
    """(tick label, height) of every bar."""
    colours: dict[str, str] = field(default_factory=dict)
    """Label -> colour (hex) of every labelled line, stairs and bar, over all panels."""
    titles: list[str] = field(default_factory=list)
    """Panel titles."""
    legends: list[list[str]] = field(default_factory=list)
    """Each panel's legend texts."""


def figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (6.4, 4.2)
           ) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    return fig, list(axes)


def read_back(axes: Sequence[Any]) -> Plotted:
    from matplotlib.colors import to_hex
    from matplotlib.container import BarContainer
    from matplotlib.patches import StepPatch

    out = Plotted()
    for ax in axes:
        out.titles.append(ax.get_title())
        legend = ax.get_legend()
        out.legends.append([t.get_text() for t in legend.get_texts()] if legend else [])
        for ln in ax.get_lines():
            if not ln.get_label().startswith("_"):
                out.lines.append((ln.get_label(), np.asarray(ln.get_xdata(), dtype=np.float64),
                                  np.asarray(ln.get_ydata(), dtype=np.float64)))
                _same_colour(out.colours, ln.get_label(), to_hex(ln.get_color()))
        for patch in ax.patches:
            if isinstance(patch, StepPatch) and not patch.get_label().startswith("_"):
                _same_colour(out.colours, patch.get_label(), to_hex(patch.get_edgecolor()))
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        if bars:  # bar charts: each bar with its tick label
            ticks = [t.get_text() for t in ax.get_xticklabels()]
            out.bars += [(tick, float(patch.get_height()))
                         for tick, patch in zip(ticks, bars[0].patches)]
            for tick, patch in zip(ticks, bars[0].patches):
                _same_colour(out.colours, tick, to_hex(patch.get_facecolor()))
    return out


def _same_colour(seen: dict[str, str], label: str, colour: str) -> None:
    """Record a label's colour; a label drawn in two colours is a figure bug."""
    if seen.setdefault(label, colour) != colour:
        raise AssertionError(f"{label!r} drawn in {seen[label]} and in {colour}")


def save(fig: Any, path: Path, dpi: int = 110) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def draw_curve(ax: Any, curve: Curve, color: Any = None, seed_lines: bool = True) -> None:
    """The group mean and its band (a bootstrap CI from FEW_SEEDS seeds, else the range of
    the seeds, as the legend says), and for few seeds each seed as a thin line."""
    n = len(curve.runs)
    what = "" if n < 2 else (", range" if n < FEW_SEEDS else f", {CI_LEVEL:.0%} CI")
    (line,) = ax.plot(curve.x, curve.mean, color=color,
                      label=f"{curve.label} ({n} seed{'s' if n != 1 else ''}{what})")
    if n > 1:
        ax.fill_between(curve.x, curve.low, curve.high, color=line.get_color(), alpha=0.2,
                        linewidth=0)
        if seed_lines and n <= MAX_SEED_LINES:  # a band alone hides how few seeds there are
            for seed, run_curve in zip(curve.seeds, curve.per_run):
                ax.plot(curve.x, run_curve, color=line.get_color(), alpha=0.35,
                        linewidth=0.7, label=f"_seed {seed}")


MAX_LEGEND_INSIDE = 8
"""More legend entries than this go beside the panel: inside they would hide the lines."""


def finish_axes(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    handles = ax.get_legend_handles_labels()[0]
    if len(handles) > MAX_LEGEND_INSIDE:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    elif handles:
        ax.legend(fontsize="small")


def plot_learning_curves(curves: Sequence[Curve], path: Path, title: str | None = None,
                         seed_lines: bool = True, colour: Mapping[str, str] | None = None
                         ) -> Plotted:
    """Return against env steps, one panel per env id (its title), one line and band per
    curve, each curve in its own colour (``colour``: label -> colour, shared with the
    figure's other panels)."""
    envs = list(dict.fromkeys(c.env_id for c in curves))
    colour = colour or colours([c.label for c in curves])
    fig, axes = figure(ncols=len(envs))
    for ax, env in zip(axes, envs):
        for curve in (c for c in curves if c.env_id == env):
            draw_curve(ax, curve, colour[curve.label], seed_lines=seed_lines)
        finish_axes(ax, env, "env steps", "episode return")
    fig.suptitle(title or f"Learning curves: mean over seeds\n{BAND}", fontsize="medium")
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
            # hollow and beneath the error bars, which a filled star would hide
            ax.plot(x[x == mark_x], mean[x == mark_x], marker="*", markersize=16,
                    color=line.get_color(), markerfacecolor="none", linestyle="none",
                    zorder=1.5, label="_star")
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


def plot_histograms(hists: dict[str, list[Any]], path: Path,
                    colour: Mapping[str, str] | None = None) -> Plotted:
    """One panel per env and timing array (:func:`rt_avg.analysis.timing.collect_histograms`),
    each group in its colour; the cycle-time panels mark each group's dt."""
    from rt_avg.analysis.timing import LOG_RATIO, TIMING_ARRAYS

    envs = list(dict.fromkeys(h.env_id for entries in hists.values() for h in entries))
    colour = dict(colour or colours([h.label for e in hists.values() for h in e]))
    fig, grid = figure(ncols=len(hists), nrows=len(envs), size=(5.2, 3.8))
    panels = []
    for row, env in enumerate(envs):
        for col, (name, entries) in enumerate(hists.items()):
            ax = grid[row * len(hists) + col]
            mine = [h for h in entries if h.env_id == env]
            if not mine:
                ax.set_visible(False)
                continue
            title = TIMING_ARRAYS[name]
            for h in mine:
                ax.stairs(h.counts, h.edges, label=f"{h.label}, n={h.samples}",
                          color=colour[h.label])
                if name == "cycle_ms" and h.dt_ms:
                    ax.axvline(h.dt_ms, color=colour[h.label], linestyle="--", linewidth=1,
                               label=f"_dt {h.label}")
            if name == "cycle_ms" and any(h.dt_ms for h in mine):
                ax.plot([], [], color="k", linestyle="--", linewidth=1, label="dt")
            edges = mine[-1].edges
            if edges[0] > 0 and edges[-1] / edges[0] > LOG_RATIO:
                ax.set_xscale("log")
            finish_axes(ax, f"{env}: {title.split(' (')[0]}",
                        title.split(" (")[-1].rstrip(")"), "count")
            panels.append(ax)
    fig.suptitle("Timing histograms (dashed: each group's dt)")
    plotted = read_back(panels)
    save(fig, path)
    return plotted


def plot_intervals(rows: Sequence[str], estimates: Mapping[str, Sequence[Interval]],
                   path: Path, *, title: str, xlabel: str, few_seeds: bool = False) -> Plotted:
    """rliable's interval plot: one panel per statistic (``{"IQM": [...], "mean": [...]}``,
    one interval per row), each row a bar from the interval's low to high with its point
    estimate; a row keeps its colour in every panel.  Read back, each interval is the line
    ``"<statistic>: <row>"`` with x = (low, high)."""
    colour = colours(rows)
    fig, axes = figure(ncols=len(estimates), size=(4.2, 0.45 * len(rows) + 1.6))
    for ax, (stat, intervals) in zip(axes, estimates.items()):
        for i, (row, iv) in enumerate(zip(rows, intervals)):
            y = len(rows) - 1 - i
            if np.isfinite(iv.low):
                ax.plot([iv.low, iv.high], [y, y], color=colour[row], linewidth=8,
                        alpha=0.6, solid_capstyle="butt", label=f"{stat}: {row}",
                        # an interval of zero width (every seed alike) still shows
                        marker="|" if iv.low == iv.high else None, markersize=16,
                        markeredgewidth=6)
            ax.plot([iv.mean], [y], marker="|", color="k", markersize=14, label=f"_{row}")
        ax.set_yticks(range(len(rows)), list(reversed(rows)))
        ax.set(title=stat, xlabel=xlabel)
        ax.grid(axis="x", alpha=0.3)
    note = (f"\nfewer than {FEW_SEEDS} seeds: each bar is about the range of the seeds"
            if few_seeds else "")
    fig.suptitle(f"{title}\n{CI_LEVEL:.0%} stratified bootstrap CIs (rliable){note}")
    plotted = read_back(axes)
    save(fig, path)
    return plotted


def plot_profiles(taus: np.ndarray, profiles: Mapping[str, np.ndarray],
                  cis: Mapping[str, np.ndarray], path: Path, *, title: str) -> Plotted:
    """rliable's performance profiles: the fraction of runs scoring above each tau of the
    normalised final return, one line and band per method."""
    colour = colours(list(profiles))
    fig, (ax,) = figure(size=(6.4, 4.4))
    for name, profile in profiles.items():
        ax.plot(taus, profile, color=colour[name], label=name)
        ax.fill_between(taus, cis[name][0], cis[name][1], color=colour[name], alpha=0.2,
                        linewidth=0)
    finish_axes(ax, title, "normalised final return tau (0: lowest run, 1: highest, per "
                "task)", "fraction of runs with score > tau")
    plotted = read_back([ax])
    save(fig, path)
    return plotted


def plot_comparison(curves: dict[str, list[Curve]], rates: dict[str, float],
                    latency: dict[str, tuple[float, float] | None], path: Path,
                    env_id: str) -> Plotted:
    """Return against env steps and against wall-clock time per mode (``curves['steps']``,
    ``curves['wall_time']``), and throughput bars with action latency p50/p99."""
    fig, axes = figure(ncols=3, size=(5.0, 4.0))
    modes = list(rates)
    colour = colours(modes)
    for key, ax in (("steps", axes[0]), ("wall_time", axes[1])):
        for curve in curves[key]:
            draw_curve(ax, curve, colour[curve.label])
    finish_axes(axes[0], "return vs env steps", "env steps", "episode return")
    finish_axes(axes[1], "return vs wall-clock time", "seconds", "episode return")
    axes[2].bar(modes, [rates[m] for m in modes], color=[colour[m] for m in modes])
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

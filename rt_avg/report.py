"""Reports over run directories: learning curves, timing histograms, a summary table.

    rt-avg report RUN_DIR [RUN_DIR ...] [--out DIR]

Runs are grouped by config: two runs belong together when their config.yaml files are the
same apart from the seed and bookkeeping fields (:data:`IGNORED_KEYS`).  Each group is drawn
as the mean over its seeds of the smoothed, interpolated returns with a 95% confidence band
(Student t over seeds).  Everything drawn is also returned in :class:`ReportResult`, so the
figures can be checked against the runs.

Figures (PNG, matplotlib Agg, no pyplot state):
    learning_curves.png      return against env steps, one line + band per group
    timing_histograms.png    action latency, cycle time, update time (timing_steps.npz;
                             inline runs: update-time window medians from metrics.jsonl)
    async_vs_sequential.png  when runs of both modes share a config otherwise
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

IGNORED_KEYS = ("run.seed", "run.checkpoint_every", "run.keep_checkpoints",
                "run.metrics_every", "run.torch_threads", "tracking.")
"""Config keys (or prefixes ending in '.') that do not make two runs different experiments."""
TIMING_ARRAYS = {"action_latency_us": "action latency (us)", "cycle_ms": "cycle time (ms)",
                 "update_us": "update time (us)"}
FINAL_EPISODES = 10
COMPARED_MODES = ("async", "sequential")
MAX_SEED_LINES = 10
LOG_RATIO = 20.0

# Student t 0.975 quantiles for 1..30 degrees of freedom (95% two-sided interval).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


class ReportError(ValueError):
    """A path given to the report is not a run directory, or holds nothing to report."""


# ----------------------------------------------------------------------------- data


@dataclass
class RunData:
    path: Path
    config: dict[str, Any]
    """config.yaml flattened to dotted keys (``agent.actor_lr``)."""
    steps: np.ndarray
    returns: np.ndarray
    wall_s: np.ndarray
    metrics: list[dict[str, Any]]
    timing: dict[str, Any] | None
    """timing.json flattened to '/'-joined keys, when present."""
    timing_steps: dict[str, np.ndarray] | None
    """timing_steps.npz arrays, when present."""

    @property
    def mode(self) -> str:
        return str(self.config.get("run.mode", "inline"))

    @property
    def seed(self) -> int:
        return int(self.config.get("run.seed", 0))

    @property
    def env_id(self) -> str:
        return str(self.config.get("env.id", "?"))

    def group_key(self) -> tuple:
        return tuple(sorted((k, _hashable(v)) for k, v in self.config.items()
                            if not _ignored(k)))

    def steps_per_s(self) -> float | None:
        if self.timing:  # timing.json: env_steps_per_s (real-time modes)
            for key in ("env_steps_per_s", "steps_per_s"):
                value = self.timing.get(key)
                if isinstance(value, (int, float)) and value > 0:
                    return float(value)
        for row in reversed(self.metrics):
            if row.get("wall_time_s", 0) > 0 and "step" in row:
                return row["step"] / row["wall_time_s"]
        if len(self.steps) and self.wall_s[-1] > 0:
            return float(self.steps[-1] / self.wall_s[-1])
        return None

    def latency_us(self, pct: str) -> float | None:
        """Action latency percentile (``p50``/``p99``) in microseconds: timing.json first,
        else the per-step array."""
        if self.timing:
            for key, value in self.timing.items():
                k = key.lower()
                if "action_latency" in k and pct in k and isinstance(value, (int, float)):
                    return float(value) * (1e3 if "_ms" in k else 1.0)
        if self.timing_steps and "action_latency_us" in self.timing_steps:
            a = _finite(self.timing_steps["action_latency_us"])
            if a.size:
                return float(np.percentile(a, float(pct[1:])))
        return None


@dataclass
class GroupCurve:
    """One learning curve as drawn: runs of one config, on a common step grid."""

    label: str
    mode: str
    env_id: str
    runs: list[Path]
    seeds: list[int]
    step_grid: np.ndarray
    curves: np.ndarray
    """(runs, grid) smoothed returns of each run interpolated on ``step_grid``."""
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    final_returns: list[float]
    """Per run: mean return of the last FINAL_EPISODES episodes."""


@dataclass
class Histogram:
    label: str
    counts: np.ndarray
    edges: np.ndarray
    samples: int
    source: str
    """``timing_steps.npz`` or ``metrics.jsonl`` (window medians)."""


@dataclass
class SummaryRow:
    name: str
    mode: str
    seeds: list[int]
    final_return_mean: float
    final_return_std: float
    steps_per_s: float | None
    latency_p50_us: float | None
    latency_p99_us: float | None


@dataclass
class ReportResult:
    out_dir: Path
    figures: dict[str, Path] = field(default_factory=dict)
    """Figure name (``learning_curves``, ``timing_histograms``, ``async_vs_sequential``)
    -> PNG path."""
    groups: list[GroupCurve] = field(default_factory=list)
    histograms: dict[str, list[Histogram]] = field(default_factory=dict)
    """Timing array name (only those with data) -> one histogram per group that has it."""
    comparison: dict[str, dict[str, list[GroupCurve]]] = field(default_factory=dict)
    """Async/sequential figure name -> ``steps`` and ``wall_time`` -> one curve per mode."""
    plotted: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = field(default_factory=dict)
    """Figure name -> (label, x, y) of every line read back from its axes."""
    group_rows: list[SummaryRow] = field(default_factory=list)
    run_rows: list[SummaryRow] = field(default_factory=list)
    summary_md: Path | None = None
    notes: list[str] = field(default_factory=list)


def _ignored(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in IGNORED_KEYS)


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value


def _flatten(data: Any, prefix: str = "", sep: str = ".") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(_flatten(value, name, sep))
        else:
            out[name] = value
    return out


def _finite(a: Any) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def load_run(path: Path) -> RunData:
    """Read what a report needs from one run directory."""
    from rt_avg.run_dir import read_episodes, read_metrics

    path = Path(path)
    if not (path / "config.yaml").exists():
        raise ReportError(f"{path}: no config.yaml (not an rt-avg run directory)")
    config = _flatten(yaml.safe_load((path / "config.yaml").read_text()) or {})
    episodes = read_episodes(path) if (path / "episodes.csv").exists() else []
    metrics = read_metrics(path) if (path / "metrics.jsonl").exists() else []
    timing = None
    if (path / "timing.json").exists():
        try:
            timing = _flatten(json.loads((path / "timing.json").read_text()), sep="/")
        except (json.JSONDecodeError, OSError):
            timing = None
    timing_steps = None
    if (path / "timing_steps.npz").exists():
        with np.load(path / "timing_steps.npz") as npz:
            timing_steps = {k: np.asarray(npz[k]) for k in npz.files}
    return RunData(path, config,
                   np.array([e["step"] for e in episodes], dtype=np.float64),
                   np.array([e["return"] for e in episodes], dtype=np.float64),
                   np.array([e["wall_time_s"] for e in episodes], dtype=np.float64),
                   metrics, timing, timing_steps)


def expand_run_dirs(paths: Sequence[Path | str]) -> list[Path]:
    """Run directories as given; a directory without config.yaml stands for the run
    directories directly inside it (``rt-avg report runs/``)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / "config.yaml").exists():
            out.append(p)
        elif p.is_dir() and (inner := sorted(c for c in p.iterdir()
                                             if (c / "config.yaml").exists())):
            out.extend(inner)
        else:
            raise ReportError(f"{p}: not an rt-avg run directory (no config.yaml), "
                              "nor a directory of run directories")
    return out


# ----------------------------------------------------------------------------- curves


def final_return(returns: Sequence[float], last: int = FINAL_EPISODES) -> float:
    """Mean return of the last ``last`` episodes (nan without episodes)."""
    r = np.asarray(returns, dtype=np.float64)
    return float(r[-last:].mean()) if r.size else math.nan


def smooth(returns: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last ``window`` episodes (fewer at the start)."""
    r = np.asarray(returns, dtype=np.float64)
    if window <= 1 or r.size == 0:
        return r.copy()
    c = np.concatenate([[0.0], np.cumsum(r)])
    idx = np.arange(1, r.size + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def interpolate(x: np.ndarray, returns: np.ndarray, grid: np.ndarray, window: int) -> np.ndarray:
    """Smoothed returns (episode ends at ``x``) linearly interpolated on ``grid``."""
    return np.interp(grid, x, smooth(returns, window))


def common_grid(xs: Sequence[np.ndarray], points: int) -> np.ndarray:
    """Grid over the x range every run covers: from the latest first episode end to the
    earliest last one."""
    lo = max(float(x[0]) for x in xs)
    hi = min(float(x[-1]) for x in xs)
    return np.linspace(lo, hi, points) if hi > lo else np.array([hi])


def confidence_band(curves: np.ndarray, level_t: Sequence[float] = _T975
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs (axis 0) and its 95% confidence interval (t over runs); one run
    gives a band of zero width."""
    curves = np.atleast_2d(curves)
    mean = curves.mean(axis=0)
    n = curves.shape[0]
    if n < 2:
        return mean, mean.copy(), mean.copy()
    t = level_t[n - 2] if n - 2 < len(level_t) else 1.96
    half = t * curves.std(axis=0, ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half


def group_label(runs: list[RunData], all_groups: list[list[RunData]]) -> str:
    """The config values that tell this group apart from the others (or the env id)."""
    keys = sorted({k for g in all_groups for k in g[0].config if not _ignored(k)})
    differing = [k for k in keys
                 if len({_hashable(g[0].config.get(k)) for g in all_groups}) > 1]
    if not differing:
        return runs[0].env_id
    parts = [f"{k.split('.')[-1]}={runs[0].config.get(k)}" for k in differing[:3]]
    return ", ".join(parts) + (", ..." if len(differing) > 3 else "")


def group_runs(runs: list[RunData]) -> list[list[RunData]]:
    """Runs with equal configs (apart from :data:`IGNORED_KEYS`), in first-seen order."""
    groups: dict[tuple, list[RunData]] = {}
    for run in runs:
        groups.setdefault(run.group_key(), []).append(run)
    return list(groups.values())


def build_curve(label: str, runs: list[RunData], points: int, window: int,
                x_of: str = "steps") -> GroupCurve:
    xs = [getattr(r, x_of) for r in runs]
    grid = common_grid(xs, points)
    curves = np.stack([interpolate(x, r.returns, grid, window) for x, r in zip(xs, runs)])
    mean, low, high = confidence_band(curves)
    return GroupCurve(label, runs[0].mode, runs[0].env_id, [r.path for r in runs],
                      [r.seed for r in runs], grid, curves, mean, low, high,
                      [final_return(r.returns) for r in runs])


# ----------------------------------------------------------------------------- figures


def _figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (6.4, 4.2)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    return fig, list(axes)


def _draw_curve(ax: Any, curve: GroupCurve, color: Any = None) -> None:
    n = len(curve.runs)
    (line,) = ax.plot(curve.step_grid, curve.mean, color=color,
                      label=f"{curve.label} ({n} seed{'s' if n != 1 else ''})")
    if n > 1:
        ax.fill_between(curve.step_grid, curve.low, curve.high, color=line.get_color(),
                        alpha=0.2, linewidth=0)
        if n <= MAX_SEED_LINES:  # few seeds: show each, a band alone hides their spread
            for seed, run_curve in zip(curve.seeds, curve.curves):
                ax.plot(curve.step_grid, run_curve, color=line.get_color(), alpha=0.35,
                        linewidth=0.7, label=f"_seed {seed}")


def _lines(axes: list[Any]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The labelled lines (group means) of ``axes``; per-seed lines are labelled '_...'."""
    return [(ln.get_label(), np.asarray(ln.get_xdata(), dtype=np.float64),
             np.asarray(ln.get_ydata(), dtype=np.float64))
            for ax in axes for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def plot_learning_curves(curves: list[GroupCurve], path: Path, window: int
                         ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """One panel per env id; returns the lines drawn."""
    envs = list(dict.fromkeys(c.env_id for c in curves))
    fig, axes = _figure(ncols=len(envs))
    for ax, env in zip(axes, envs):
        for curve in (c for c in curves if c.env_id == env):
            _draw_curve(ax, curve)
        ax.set(title=env, xlabel="env steps",
               ylabel=f"episode return (mean of last {window} episodes)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("Learning curves: mean over seeds (thin: each seed), 95% confidence band")
    lines = _lines(axes)
    _save(fig, path)
    return lines


def plot_run_learning_curve(run_dir: Path, path: Path, window: int = FINAL_EPISODES) -> Path:
    """One run's episode returns (faint) and their trailing mean, from episodes.csv."""
    run = load_run(run_dir)
    fig, (ax,) = _figure()
    ax.plot(run.steps, run.returns, ".", alpha=0.3, markersize=3, label="episode return")
    ax.plot(run.steps, smooth(run.returns, window), label=f"mean of last {window}")
    ax.set(title=f"{run.path.name} ({run.env_id}, {run.mode}, seed {run.seed})",
           xlabel="env steps", ylabel="episode return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, Path(path))


def histogram_edges(samples: list[np.ndarray], max_bins: int = 60) -> np.ndarray:
    """Common bin edges for samples drawn in one panel; geometric (drawn on a log axis) when
    the range spans more than LOG_RATIO: real-time timing has long tails, and they matter."""
    allv = np.concatenate(samples)
    bins = int(min(max_bins, max(10, np.sqrt(allv.size))))
    lo, hi = float(allv.min()), float(allv.max())
    if lo > 0 and hi / lo > LOG_RATIO:
        return np.geomspace(lo, hi, bins + 1)
    return np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)


def collect_histograms(groups: list[list[RunData]], labels: list[str], notes: list[str]
                       ) -> dict[str, list[Histogram]]:
    """Per timing array, one histogram per group that has samples (all groups of an array
    share bin edges).  Inline runs have no per-step arrays: their update-time samples are
    the per-window medians of metrics.jsonl."""
    found: dict[str, list[tuple[str, np.ndarray, str]]] = {name: [] for name in TIMING_ARRAYS}
    for runs, label in zip(groups, labels):
        missing, medians = [], False
        for name in TIMING_ARRAYS:
            parts = [_finite(r.timing_steps[name]) for r in runs
                     if r.timing_steps and name in r.timing_steps]
            source = "timing_steps.npz"
            if not parts and name == "update_us":
                parts = [_finite([m["timing/update_us_p50"] for m in r.metrics
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
        if not entries:
            continue
        edges = histogram_edges([e[1] for e in entries])
        out[name] = [Histogram(label, np.histogram(samples, bins=edges)[0], edges,
                               int(samples.size), source)
                     for label, samples, source in entries]
    return out


def plot_histograms(hists: dict[str, list[Histogram]], path: Path) -> None:
    """One panel per timing array that has data."""
    fig, axes = _figure(ncols=len(hists), size=(5.2, 3.8))
    for ax, (name, entries) in zip(axes, hists.items()):
        title = TIMING_ARRAYS[name]
        for h in entries:
            src = " (window medians)" if h.source == "metrics.jsonl" else ""
            ax.stairs(h.counts, h.edges, label=f"{h.label}{src}, n={h.samples}")
        if h.edges[0] > 0 and h.edges[-1] / h.edges[0] > LOG_RATIO:
            ax.set_xscale("log")
        ax.set(title=title, xlabel=title.split(" (")[-1].rstrip(")"), ylabel="count")
        ax.legend(fontsize="x-small")
        ax.grid(alpha=0.3)
    fig.suptitle("Timing histograms")
    _save(fig, path)


def plot_comparison(by_mode: dict[str, list[RunData]], path: Path, points: int, window: int
                    ) -> tuple[dict[str, list[GroupCurve]], list]:
    """Return against env steps and against wall-clock time, and throughput, per mode."""
    fig, axes = _figure(ncols=3, size=(5.0, 4.0))
    curves: dict[str, list[GroupCurve]] = {"steps": [], "wall_time": []}
    for mode, runs in by_mode.items():
        for key, ax in (("steps", axes[0]), ("wall_time", axes[1])):
            curve = build_curve(mode, runs, points, window,
                                x_of="steps" if key == "steps" else "wall_s")
            curves[key].append(curve)
            _draw_curve(ax, curve)
    axes[0].set(title="return vs env steps", xlabel="env steps", ylabel="episode return")
    axes[1].set(title="return vs wall-clock time", xlabel="seconds", ylabel="episode return")
    modes = list(by_mode)
    rates = [np.mean([r.steps_per_s() or np.nan for r in by_mode[m]]) for m in modes]
    axes[2].bar(modes, rates, color=[f"C{i}" for i in range(len(modes))])
    for i, m in enumerate(modes):
        p50 = [v for r in by_mode[m] if (v := r.latency_us("p50")) is not None]
        p99 = [v for r in by_mode[m] if (v := r.latency_us("p99")) is not None]
        if p50 and p99:
            axes[2].annotate(f"latency p50 {np.mean(p50):.0f} us\np99 {np.mean(p99):.0f} us",
                             (i, rates[i]), ha="center", va="bottom", fontsize="x-small")
    axes[2].set(title="throughput", ylabel="env steps / s")
    for ax in axes:
        ax.grid(alpha=0.3)
    for ax in axes[:2]:
        ax.legend(fontsize="small")
    fig.suptitle(f"async vs sequential: {next(iter(by_mode.values()))[0].env_id}")
    lines = _lines(axes[:2])
    _save(fig, path)
    return curves, lines


# ----------------------------------------------------------------------------- table


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def _summary_row(name: str, runs: list[RunData]) -> SummaryRow:
    finals = [final_return(r.returns) for r in runs]
    finals = [f for f in finals if math.isfinite(f)]

    def mean_of(values: list[float | None]) -> float | None:
        vals = [v for v in values if v is not None]
        return float(np.mean(vals)) if vals else None

    return SummaryRow(name, runs[0].mode, [r.seed for r in runs],
                      float(np.mean(finals)) if finals else math.nan,
                      float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0,
                      mean_of([r.steps_per_s() for r in runs]),
                      mean_of([r.latency_us("p50") for r in runs]),
                      mean_of([r.latency_us("p99") for r in runs]))


HEADER = ("run/group", "mode", "seeds", f"final return (last {FINAL_EPISODES})", "steps/s",
          "latency p50 (us)", "latency p99 (us)")


def _cells(row: SummaryRow) -> list[str]:
    ret = _fmt(row.final_return_mean, ".2f")
    if len(row.seeds) > 1 and math.isfinite(row.final_return_mean):
        ret += f" ± {row.final_return_std:.2f}"
    return [row.name, row.mode, ",".join(map(str, row.seeds)), ret,
            _fmt(row.steps_per_s, ".0f"), _fmt(row.latency_p50_us), _fmt(row.latency_p99_us)]


def format_table(rows: list[SummaryRow]) -> str:
    """Aligned plain-text table for the terminal."""
    cells = [list(HEADER)] + [_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: list[SummaryRow]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(HEADER), line(["---"] * len(HEADER))] +
                     [line(_cells(r)) for r in rows])


def _summary_markdown(result: ReportResult, runs: list[RunData]) -> str:
    parts = ["# rt-avg report", "", f"Runs: {len(runs)}, config groups: {len(result.groups)}.",
             f"Final return: mean of the last {FINAL_EPISODES} episodes of each run; groups show "
             "mean ± standard deviation over seeds.", "", "## Groups", "",
             markdown_table(result.group_rows), "", "## Runs", "",
             markdown_table(result.run_rows), "", "## Figures", ""]
    parts += [f"![{name}]({path.name})" for name, path in result.figures.items()]
    if result.notes:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- entry points


def make_report(run_dirs: list[Path], out_dir: Path, *, smooth_episodes: int = FINAL_EPISODES,
                grid_points: int = 200) -> ReportResult:
    """Write the figures and summary.md of ``run_dirs`` into ``out_dir``."""
    paths = expand_run_dirs(run_dirs)
    if not paths:
        raise ReportError("report: no run directories given")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ReportResult(out_dir)
    runs = [load_run(p) for p in paths]
    for r in runs:
        if r.returns.size == 0:
            result.notes.append(f"{r.path}: no finished episodes; left out of the curves")

    groups = group_runs(runs)
    labels = [group_label(g, groups) for g in groups]
    for g, label in zip(groups, labels):
        with_eps = [r for r in g if r.returns.size]
        if with_eps:
            result.groups.append(build_curve(label, with_eps, grid_points, smooth_episodes))
        result.group_rows.append(_summary_row(label, g))
    result.run_rows = [_summary_row(r.path.name, [r]) for r in runs]

    if result.groups:
        path = out_dir / "learning_curves.png"
        result.plotted["learning_curves"] = plot_learning_curves(result.groups, path,
                                                                 smooth_episodes)
        result.figures["learning_curves"] = path

    result.histograms = collect_histograms(groups, labels, result.notes)
    if result.histograms:
        path = out_dir / "timing_histograms.png"
        plot_histograms(result.histograms, path)
        result.figures["timing_histograms"] = path

    # async vs sequential: runs whose configs differ only in run.mode.
    pairs: dict[tuple, dict[str, list[RunData]]] = {}
    for r in runs:
        if r.mode in COMPARED_MODES and r.returns.size:
            key = tuple(kv for kv in r.group_key() if kv[0] != "run.mode")
            pairs.setdefault(key, {}).setdefault(r.mode, []).append(r)
    both = [p for p in pairs.values() if all(m in p for m in COMPARED_MODES)]
    for i, by_mode in enumerate(both):
        name = "async_vs_sequential" + (f"_{i + 1}" if len(both) > 1 else "")
        ordered = {m: by_mode[m] for m in COMPARED_MODES}
        curves, lines = plot_comparison(ordered, out_dir / f"{name}.png", grid_points,
                                        smooth_episodes)
        result.comparison[name] = curves
        result.plotted[name] = lines
        result.figures[name] = out_dir / f"{name}.png"
    if any(r.mode in COMPARED_MODES for r in runs) and not both:
        result.notes.append("no async/sequential pair with otherwise equal configs; "
                            "comparison figure skipped")

    result.summary_md = out_dir / "summary.md"
    result.summary_md.write_text(_summary_markdown(result, runs))
    return result


def default_out_dir() -> Path:
    return Path("reports") / time.strftime("%Y%m%d-%H%M%S")


def main_report(run_dirs: list[str], out: str | None) -> int:
    """``rt-avg report``: print the summary table and where the figures went."""
    try:
        result = make_report([Path(p) for p in run_dirs],
                             Path(out) if out else default_out_dir())
    except (ReportError, FileNotFoundError) as exc:
        print(f"rt-avg: error: {exc}", file=sys.stderr)
        return 2
    print("groups:")
    print(format_table(result.group_rows))
    if len(result.run_rows) > len(result.group_rows):
        print("\nruns:")
        print(format_table(result.run_rows))
    for note in result.notes:
        print(f"note: {note}")
    print()
    for name, path in result.figures.items():
        print(f"{name}: {path}")
    print(f"summary: {result.summary_md}")
    return 0

"""Aggregate a sweep: rank configurations across seeds, with 95% confidence intervals.

Per run (one configuration, one seed), from ``episodes.csv``:

- **final return**: the mean return of the episodes that end in the last 10% of the run's
  steps (the last episode's return if none ends there);
- **AUC**: the area under the learning curve divided by the run's steps, i.e. the mean of
  the binned curve (100 equal step bins, each the mean return of the episodes ending in it,
  an empty bin repeating the previous value); it rewards learning early as well as well.

Per configuration: the mean over seeds and a 95% confidence interval from Student's
t-distribution, ``mean +- t(0.975, n-1) * s / sqrt(n)`` with the sample standard deviation
``s`` (no interval with one seed).  Configurations are ranked by mean final return (ties by
mean AUC), within each environment when a sweep spans several.  The plot shows, for the best
configurations, the mean curve over seeds with its pointwise 95% t-band.

Only completed runs count (``sweep_trial.json`` says done, or the run has its final
checkpoint); others are reported as incomplete.  Works on a sweep directory (``sweep.json``
names the trials) or on any folder of run directories (grouped by config, seed aside).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import yaml

from rt_avg.config import ConfigError

CURVE_POINTS = 100
FINAL_FRACTION = 0.1
CI_LEVEL = 0.95
TRIAL_RECORD = "sweep_trial.json"
"""Per-trial record the sweep runner keeps in each run directory."""


# ----------------------------------------------------------------------------- statistics


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                    -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student's t cumulative distribution function."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with ``df`` degrees of freedom (bisection on t_cdf)."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile: need 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def mean_ci(values: Sequence[float], level: float = CI_LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): the t-interval of the mean; low = high = nan with fewer than 2 values."""
    x = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = t_quantile(0.5 + level / 2.0, x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return mean, mean - half, mean + half


def pointwise_ci(curves: np.ndarray, level: float = CI_LEVEL
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and t-band over the rows of ``curves`` (seeds x points); band = mean with one row."""
    mean = curves.mean(axis=0)
    n = curves.shape[0]
    if n < 2:
        return mean, mean.copy(), mean.copy()
    half = t_quantile(0.5 + level / 2.0, n - 1) * curves.std(axis=0, ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half


# ----------------------------------------------------------------------------- per run


def learning_curve(steps: Sequence[int], returns: Sequence[float], total_steps: int,
                   points: int = CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(bin ends, values): mean return of the episodes ending in each of ``points`` equal
    step bins of (0, total_steps]; an empty bin repeats the previous one, leading empty bins
    take the first value; all nan without episodes."""
    edges = np.linspace(0, total_steps, points + 1)
    values = np.full(points, np.nan)
    s = np.asarray(steps, dtype=float)
    r = np.asarray(returns, dtype=float)
    if s.size:
        index = np.clip(np.searchsorted(edges, s, side="left") - 1, 0, points - 1)
        sums = np.bincount(index, weights=r, minlength=points)
        counts = np.bincount(index, minlength=points)
        filled = counts > 0
        values[filled] = sums[filled] / counts[filled]
        last = values[np.argmax(filled)]
        for i in range(points):
            if np.isnan(values[i]):
                values[i] = last
            last = values[i]
    return edges[1:], values


def final_return(steps: Sequence[int], returns: Sequence[float], total_steps: int,
                 fraction: float = FINAL_FRACTION) -> float:
    """Mean return of the episodes ending in the last ``fraction`` of the steps (else of
    the last episode)."""
    if not len(returns):
        return math.nan
    s = np.asarray(steps, dtype=float)
    r = np.asarray(returns, dtype=float)
    late = s > (1.0 - fraction) * total_steps
    return float(r[late].mean()) if late.any() else float(r[-1])


def area_under_curve(steps: Sequence[int], returns: Sequence[float], total_steps: int,
                     points: int = CURVE_POINTS) -> float:
    """Area under the binned learning curve divided by the steps (its mean; units of return)."""
    _, values = learning_curve(steps, returns, total_steps, points)
    return float(values.mean()) if np.isfinite(values).all() else math.nan


def run_scores(episodes: Iterable[dict[str, Any]], total_steps: int) -> dict[str, float]:
    """{final_return, auc, episodes} of one run from its episode rows."""
    rows = list(episodes)
    steps = [e["step"] for e in rows]
    returns = [e["return"] for e in rows]
    return {"final_return": final_return(steps, returns, total_steps),
            "auc": area_under_curve(steps, returns, total_steps), "episodes": len(rows)}


# ----------------------------------------------------------------------------- per sweep


@dataclass
class RunResult:
    run_id: str
    path: Path
    seed: int
    total_steps: int
    complete: bool
    final_return: float = math.nan
    auc: float = math.nan
    curve: np.ndarray | None = None


@dataclass
class ConfigSummary:
    config_id: str
    env_id: str
    params: dict[str, Any]
    runs: list[RunResult] = field(default_factory=list)
    rank: int = 0

    @property
    def done(self) -> list[RunResult]:
        return [r for r in self.runs if r.complete]

    @property
    def final(self) -> tuple[float, float, float]:
        return mean_ci([r.final_return for r in self.done])

    @property
    def auc(self) -> tuple[float, float, float]:
        return mean_ci([r.auc for r in self.done])


def _flatten(cfg: dict[str, Any]) -> dict[str, Any]:
    return {f"{s}.{k}": (tuple(v) if isinstance(v, list) else json.dumps(v, sort_keys=True)
                         if isinstance(v, dict) else v)
            for s, section in cfg.items() for k, v in (section or {}).items()}


def _load_run(run_id: str, path: Path) -> RunResult | None:
    from rt_avg.checkpoint import latest_checkpoint
    from rt_avg.run_dir import RunDirectory, read_episodes

    rd = RunDirectory(path)
    if not rd.config.exists():
        return None
    cfg = yaml.safe_load(rd.config.read_text()) or {}
    total = int(cfg.get("run", {}).get("steps", 0)) or 1
    seed = int(cfg.get("run", {}).get("seed", 0))
    record = path / TRIAL_RECORD
    if record.exists():
        complete = json.loads(record.read_text()).get("status") == "done"
    else:
        ckpt = latest_checkpoint(rd.checkpoints)
        complete = ckpt is not None and ckpt.name == f"step_{total:010d}.pt"
    result = RunResult(run_id, path, seed, total, complete)
    if rd.episodes.exists():
        episodes = read_episodes(rd)
        scores = run_scores(episodes, total)
        result.final_return, result.auc = scores["final_return"], scores["auc"]
        result.curve = learning_curve([e["step"] for e in episodes],
                                      [e["return"] for e in episodes], total)[1]
    return result


def _from_sweep_file(sweep_dir: Path) -> list[ConfigSummary]:
    data = json.loads((sweep_dir / "sweep.json").read_text())
    groups: dict[str, ConfigSummary] = {}
    for t in data["trials"]:
        group = groups.setdefault(t["config_id"], ConfigSummary(
            t["config_id"], t["config"]["env"]["id"], dict(t["params"])))
        run = _load_run(t["trial_id"], sweep_dir / "runs" / t["trial_id"])
        if run is None:
            run = RunResult(t["trial_id"], sweep_dir / "runs" / t["trial_id"], t["seed"],
                            int(t["config"]["run"]["steps"]), complete=False)
        group.runs.append(run)
    return list(groups.values())


def _from_run_dirs(folder: Path) -> list[ConfigSummary]:
    paths = sorted({p.parent for pattern in ("*/config.yaml", "runs/*/config.yaml")
                    for p in folder.glob(pattern)})
    keyed: dict[tuple, list[tuple[Path, dict]]] = {}
    for path in paths:
        flat = _flatten(yaml.safe_load(path.joinpath("config.yaml").read_text()) or {})
        flat = {k: v for k, v in flat.items() if k != "run.seed" and not k.startswith("tracking.")}
        keyed.setdefault(tuple(sorted(flat.items(), key=lambda kv: kv[0])), []).append((path, flat))
    varying = {k for key in keyed for k, v in key
               if len({dict(other).get(k) for other in keyed}) > 1}
    groups = []
    for index, (key, members) in enumerate(keyed.items()):
        flat = dict(key)
        group = ConfigSummary(f"g{index:03d}", str(flat.get("env.id", "?")),
                              {k: flat[k] for k in sorted(varying) if k in flat})
        for path, _ in members:
            run = _load_run(path.name, path)
            if run is not None:
                group.runs.append(run)
        groups.append(group)
    return groups


def summarize(sweep_dir: Path) -> list[ConfigSummary]:
    """Every configuration of a sweep (or folder of runs), ranked within its environment."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ConfigError(f"sweep-summary: {sweep_dir} is not a directory")
    if (sweep_dir / "sweep.json").exists():
        groups = _from_sweep_file(sweep_dir)
    else:
        groups = _from_run_dirs(sweep_dir)
    if not any(g.runs for g in groups):
        raise ConfigError(f"sweep-summary: no run directories in {sweep_dir} (expected "
                          "sweep.json and runs/<trial>/, or folders with config.yaml)")

    def order(g: ConfigSummary) -> tuple:
        final, auc = g.final[0], g.auc[0]
        return (not g.done, -final if np.isfinite(final) else math.inf,
                -auc if np.isfinite(auc) else math.inf, g.config_id)

    ranked = []
    for env_id in sorted({g.env_id for g in groups}):
        same = sorted((g for g in groups if g.env_id == env_id), key=order)
        for rank, g in enumerate(same, 1):
            g.rank = rank
        ranked += same
    return ranked


# ----------------------------------------------------------------------------- output


def _fmt(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"


def _with_ci(stat: tuple[float, float, float]) -> str:
    mean, lo, hi = stat
    if not np.isfinite(lo):
        return _fmt(mean)
    return f"{_fmt(mean)} [{_fmt(lo)}, {_fmt(hi)}]"


def _fmt_param(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def table_rows(groups: list[ConfigSummary]) -> tuple[list[str], list[list[str]]]:
    header = ["env", "rank", "config", "seeds", "final return (95% CI)", "AUC (95% CI)",
              "params"]
    rows = []
    for g in groups:
        seeds = f"{len(g.done)}/{len(g.runs)}"
        params = ", ".join(f"{k}={_fmt_param(v)}" for k, v in g.params.items()) or "-"
        rows.append([g.env_id, str(g.rank), g.config_id, seeds, _with_ci(g.final),
                     _with_ci(g.auc), params])
    return header, rows


def format_table(groups: list[ConfigSummary]) -> str:
    header, rows = table_rows(groups)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def format_markdown(groups: list[ConfigSummary], title: str = "Sweep summary") -> str:
    header, rows = table_rows(groups)
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    lines = [f"# {title}", "",
             "Final return: mean return of episodes ending in the last "
             f"{FINAL_FRACTION:.0%} of steps. AUC: area under the learning curve / steps. "
             "Intervals: 95% Student-t confidence interval of the mean over seeds. "
             "Seeds: completed/total.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def plot_best(groups: list[ConfigSummary], path: Path, top: int = 5) -> Path:
    """PNG: per environment, the ``top`` best configurations' mean curves with 95% bands."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = sorted({g.env_id for g in groups})
    cols = min(3, len(envs))
    rows = math.ceil(len(envs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 4 * rows), squeeze=False)
    for ax, env_id in zip(axes.flat, envs):
        best = [g for g in groups if g.env_id == env_id and g.rank <= top]
        for g in best:
            done = [r for r in g.done if r.curve is not None and np.isfinite(r.curve).all()]
            if not done:
                continue
            total = max(r.total_steps for r in done)
            x = np.linspace(0, total, CURVE_POINTS + 1)[1:]
            mean, lo, hi = pointwise_ci(np.stack([r.curve for r in done]))
            params = ", ".join(f"{k.split('.')[-1]}={_fmt_param(v)}" for k, v in g.params.items())
            label = f"#{g.rank} {g.config_id} (n={len(done)}) {params}"
            line, = ax.plot(x, mean, label=label if len(label) <= 70 else label[:67] + "...")
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2)
        ax.set_title(env_id)
        ax.set_xlabel("steps")
        ax.set_ylabel("episode return")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(envs):]:
        ax.set_visible(False)
    fig.suptitle("Best configurations: mean over seeds, 95% t-band")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def to_json(groups: list[ConfigSummary]) -> list[dict[str, Any]]:
    def num(v: float) -> float | None:
        return float(v) if np.isfinite(v) else None

    out = []
    for g in groups:
        final, auc = g.final, g.auc
        out.append({"env_id": g.env_id, "rank": g.rank, "config_id": g.config_id,
                    "params": g.params, "seeds_done": len(g.done), "seeds_total": len(g.runs),
                    "final_return": {"mean": num(final[0]), "ci95": [num(final[1]), num(final[2])]},
                    "auc": {"mean": num(auc[0]), "ci95": [num(auc[1]), num(auc[2])]},
                    "runs": [{"run_id": r.run_id, "seed": r.seed, "complete": r.complete,
                              "final_return": num(r.final_return), "auc": num(r.auc)}
                             for r in g.runs]})
    return out


def main_summary(sweep_dir: str, out: str | None = None, top: int = 5) -> int:
    """``rt-avg sweep-summary``: print the ranked table and write ``summary.md``,
    ``summary.json`` and ``summary.png`` into ``out`` (default: the sweep directory).
    Raises ConfigError when there is nothing to summarise."""
    groups = summarize(Path(sweep_dir))
    out_dir = Path(out) if out else Path(sweep_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = Path(sweep_dir).resolve().name
    print(format_table(groups))
    (out_dir / "summary.md").write_text(format_markdown(groups, f"Sweep summary: {name}"))
    (out_dir / "summary.json").write_text(json.dumps(to_json(groups), indent=1))
    plot_best(groups, out_dir / "summary.png", top)
    incomplete = sum(len(g.runs) - len(g.done) for g in groups)
    if incomplete:
        print(f"{incomplete} run(s) not complete yet are left out of the statistics")
    print(f"wrote {out_dir / 'summary.md'}, {out_dir / 'summary.json'}, {out_dir / 'summary.png'}")
    return 0


def add_summary_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``rt-avg sweep-summary`` (for rt_avg/cli.py; the command calls
    ``main_summary(args.sweep_dir, args.out, args.top)``)."""
    p.add_argument("sweep_dir", help="a sweep directory (or any folder of run directories)")
    p.add_argument("--out", help="folder for summary.md, summary.json and summary.png "
                   "(default: the sweep directory)")
    p.add_argument("--top", type=int, default=5, help="configurations to plot per environment")

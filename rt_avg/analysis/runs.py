"""Run directories as data: one loader and one grouping rule.

:func:`load_run` reads what the analyses need from a run directory (``config.yaml``,
``episodes.csv``, ``metrics.jsonl``, ``timing.json``, ``timing_steps.npz``);
:func:`find_runs` finds the run directories of a sweep (``sweep.json``), of a folder of
runs, or as given.  :func:`group_runs` puts runs of one experiment together: two runs are
one group when their configs are equal apart from the seed and bookkeeping that does not
change the experiment (:data:`IGNORED_KEYS`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from rt_avg.analysis import stats
from rt_avg.core.config import ConfigError

IGNORED_KEYS = ("run.seed", "run.checkpoint_every", "run.keep_checkpoints",
                "run.metrics_every", "run.torch_threads", "tracking.")
"""Config keys (or prefixes ending in '.') that do not make two runs different experiments."""
TRIAL_RECORD = "sweep_trial.json"
"""Per-trial record the sweep runner keeps in each run directory (``status: done``)."""
SWEEP_FILE = "sweep.json"


class RunDataError(ConfigError):
    """A path given to an analysis is not a run directory, or holds nothing to analyse."""


@dataclass
class Run:
    """One run directory as data."""

    path: Path
    config: dict[str, Any]
    """config.yaml flattened to dotted keys (``agent.actor_lr``)."""
    steps: np.ndarray = field(default_factory=lambda: np.empty(0))
    """Env step at which each episode ended."""
    returns: np.ndarray = field(default_factory=lambda: np.empty(0))
    wall_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    metrics: list[dict[str, Any]] = field(default_factory=list)
    timing: dict[str, Any] | None = None
    """timing.json flattened to '/'-joined keys, when present."""
    timing_steps: dict[str, np.ndarray] | None = None
    """timing_steps.npz arrays, when present."""
    complete: bool = False
    """The run reached ``run.steps`` (sweep record says done, or the final checkpoint)."""
    stopped_early: bool = False
    """A sweep's scheduler stopped the trial before ``run.steps`` (sweep record)."""
    name: str = ""

    @property
    def mode(self) -> str:
        return str(self.config.get("run.mode", "inline"))

    @property
    def seed(self) -> int:
        return int(self.config.get("run.seed", 0))

    @property
    def env_id(self) -> str:
        return str(self.config.get("env.id", "?"))

    @property
    def planned_steps(self) -> int:
        return int(self.config.get("run.steps", 0)) or 1

    @property
    def total_steps(self) -> int:
        """The steps the run covers: ``run.steps`` when complete, else the last step logged."""
        planned = self.planned_steps
        if self.complete:
            return planned
        logged = [float(self.steps[-1])] if self.steps.size else []
        logged += [float(m["step"]) for m in self.metrics[-1:] if "step" in m]
        return int(min(planned, max(logged))) if logged else planned

    @property
    def final_return(self) -> float:
        return stats.final_return(self.steps, self.returns, self.total_steps)

    @property
    def auc(self) -> float:
        return stats.area_under_curve(self.steps, self.returns, self.total_steps)

    @property
    def status(self) -> str:
        """``complete``, or how far an unfinished run got (what every table shows)."""
        if self.complete:
            return "complete"
        why = "stopped early by the scheduler" if self.stopped_early else "unfinished"
        return f"{why} at {self.total_steps:,} of {self.planned_steps:,} steps"

    def final_return_text(self) -> str:
        """``final return 412.3`` and, for a run that did not reach its steps, its status:
        the line ``rt-avg train`` and ``rt-avg eval`` print."""
        text = f"final return {stats.fmt(self.final_return)}"
        return text if self.complete else f"{text} ({self.status})"

    def group_key(self) -> tuple:
        return tuple(sorted((k, _hashable(v)) for k, v in self.config.items()
                            if not ignored(k)))

    def steps_per_s(self) -> float | None:
        """Env steps per second: timing.json (real-time modes), else the last metrics row,
        else the last episode."""
        if self.timing:
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
            a = finite(self.timing_steps["action_latency_us"])
            if a.size:
                return float(np.percentile(a, float(pct[1:])))
        return None


def ignored(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in IGNORED_KEYS)


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value


def flatten(data: Any, prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested mappings to one level with ``sep``-joined keys."""
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name, sep))
        else:
            out[name] = value
    return out


def finite(a: Any) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def _status(path: Path, planned: int) -> str | None:
    """The sweep record's status (``done``, ``stopped``, ``running``), else ``done`` when
    the final checkpoint exists; None otherwise."""
    from rt_avg.run.checkpoint_files import latest_checkpoint  # no torch: a driver loads this

    record = path / TRIAL_RECORD
    if record.exists():
        return json.loads(record.read_text()).get("status")
    ckpt = latest_checkpoint(path / "checkpoints")
    return "done" if ckpt is not None and ckpt.name == f"step_{planned:010d}.pt" else None


def load_run(path: Path | str, config: dict[str, Any] | None = None) -> Run:
    """Read one run directory.  ``config`` (plain nested data) stands in for a missing
    config.yaml: a sweep trial that has not started yet is a run with no episodes."""
    from rt_avg.run.run_dir import RunDirectory, read_episodes, read_metrics

    path = Path(path)
    rd = RunDirectory(path)
    if rd.config.exists():
        config = yaml.safe_load(rd.config.read_text()) or {}
    elif config is None:
        raise RunDataError(f"{path}: no config.yaml (not an rt-avg run directory)")
    flat = flatten(config)
    run = Run(path, flat, name=path.name)
    if not rd.config.exists():
        return run
    episodes = read_episodes(rd) if rd.episodes.exists() else []
    run.steps = np.array([e["step"] for e in episodes], dtype=np.float64)
    run.returns = np.array([e["return"] for e in episodes], dtype=np.float64)
    run.wall_s = np.array([e["wall_time_s"] for e in episodes], dtype=np.float64)
    run.metrics = read_metrics(rd) if rd.metrics.exists() else []
    if rd.timing.exists():
        try:
            run.timing = flatten(json.loads(rd.timing.read_text()), sep="/")
        except (json.JSONDecodeError, OSError):
            run.timing = None
    if (path / "timing_steps.npz").exists():
        with np.load(path / "timing_steps.npz") as npz:
            run.timing_steps = {k: np.asarray(npz[k]) for k in npz.files}
    status = _status(path, int(flat.get("run.steps", 0)))
    run.complete, run.stopped_early = status == "done", status == "stopped"
    return run


def final_return_text(path: Path | str) -> str:
    """The final return of the run directory ``path`` as ``rt-avg train`` and ``rt-avg
    eval`` print it (:meth:`Run.final_return_text`); ``n/a`` without episodes."""
    return load_run(path).final_return_text()


def expand_run_dirs(paths: Sequence[Path | str]) -> list[Path]:
    """Run directories as given; a directory without config.yaml stands for the run
    directories inside it (directly, or under ``runs/`` as in a sweep directory)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / "config.yaml").exists():
            out.append(p)
            continue
        inner = sorted({c.parent for pattern in ("*/config.yaml", "runs/*/config.yaml")
                        for c in p.glob(pattern)}) if p.is_dir() else []
        if not inner:
            raise RunDataError(f"{p}: not an rt-avg run directory (no config.yaml), "
                               "nor a directory of run directories")
        out.extend(inner)
    return out


def find_runs(folder: Path | str) -> tuple[list[Run], dict[str, dict[str, Any]]]:
    """Every run of a sweep directory (``sweep.json`` lists its trials, started or not) or
    of a folder of run directories, with the sweep's trial records by run path (empty for a
    plain folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RunDataError(f"{folder} is not a directory")
    if (folder / SWEEP_FILE).exists():
        trials = json.loads((folder / SWEEP_FILE).read_text())["trials"]
        runs = [load_run(folder / "runs" / t["trial_id"], config=t["config"]) for t in trials]
        return runs, {str(r.path): t for r, t in zip(runs, trials)}
    paths = sorted({c.parent for pattern in ("*/config.yaml", "runs/*/config.yaml")
                    for c in folder.glob(pattern)})
    if not paths:
        raise RunDataError(f"no run directories in {folder} (expected sweep.json and "
                           "runs/<trial>/, or folders with config.yaml)")
    return [load_run(p) for p in paths], {}


def group_runs(runs: Sequence[Run]) -> list[list[Run]]:
    """Runs with equal configs (apart from :data:`IGNORED_KEYS`), in first-seen order."""
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.group_key(), []).append(run)
    return list(groups.values())


def varying_keys(groups: Sequence[Sequence[Run]]) -> list[str]:
    """The config keys whose values differ between groups (sorted)."""
    keys = sorted({k for g in groups for k in g[0].config if not ignored(k)})
    return [k for k in keys if len({_hashable(g[0].config.get(k)) for g in groups}) > 1]


def group_params(group: Sequence[Run], keys: Sequence[str]) -> dict[str, Any]:
    return {k: group[0].config.get(k) for k in keys}


INLINE_IGNORES = ("realtime.",)
"""Config sections an inline run does not use (its labels leave them out)."""


def legend_labels(groups: Sequence[Sequence[Run]]) -> list[str]:
    """One legend label per group, from the config values that differ between these
    groups only (``env.id`` aside: figures put the env in the panel title).  A key shows
    by its last part unless two keys share it; keys an inline run ignores (``realtime.*``)
    are left out of its label unless that would make two labels equal.  Labels are never
    cut; should two still read alike, they are numbered."""
    keys = [k for k in varying_keys(groups) if k != "env.id"]
    short = {k: k.split(".")[-1] for k in keys}
    if len(set(short.values())) < len(short):
        short = {k: (k.split(".")[-1] if list(short.values()).count(short[k]) == 1 else k)
                 for k in keys}

    def label(group: Sequence[Run], drop_unused: bool) -> str:
        unused = INLINE_IGNORES if drop_unused and group[0].mode == "inline" else ()
        return ", ".join(f"{short[k]}={format_value(group[0].config.get(k))}" for k in keys
                         if not k.startswith(unused)) or "all runs"

    labels = [label(g, True) for g in groups]
    if len(set(labels)) < len(labels):
        labels = [label(g, False) for g in groups]
    if len(set(labels)) < len(labels):
        labels = [f"{lab} #{i + 1}" for i, lab in enumerate(labels)]
    return labels


def format_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) and math.isfinite(value) else str(value)

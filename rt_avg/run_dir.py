"""The run directory: the lossless record of a run.

    <run>/config.yaml      the fully resolved config
    <run>/episodes.csv     step, episode, return, length, wall_time_s
    <run>/metrics.jsonl    learner metrics over time (one JSON object per line)
    <run>/timing.json      latency/jitter summaries (real-time modes)
    <run>/checkpoints/     learner, optimisers, normaliser, scaler, RNG, counters
"""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path
from typing import Any, Callable

from rt_avg import config as config_mod
from rt_avg.config import Config

EPISODE_FIELDS = ("step", "episode", "return", "length", "wall_time_s")


def default_run_path(cfg: Config, root: Path = Path("runs")) -> Path:
    env = re.sub(r"[^A-Za-z0-9_.-]+", "_", cfg.env.id)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return root / f"{env}-s{cfg.run.seed}-{cfg.run.mode}-{stamp}"


def check_run_path(path: Path, flag: str, existing: bool) -> None:
    """Raise ConfigError naming ``flag`` unless ``path`` can serve as a run directory: an
    existing one (``existing``, e.g. ``--resume``) or one to create (e.g. ``--run-dir``)."""
    if not str(path):
        raise config_mod.ConfigError(f"{flag}: got an empty path, expected a directory")
    if existing:
        if not path.exists():
            raise config_mod.ConfigError(f"{flag}: {path} does not exist; expected an rt-avg "
                                         "run directory")
        if not path.is_dir():
            raise config_mod.ConfigError(f"{flag}: {path} is a file; expected an rt-avg run "
                                         "directory")
        return
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                what = "is a file" if parent == path else f"is inside {parent}, a file"
                raise config_mod.ConfigError(f"{flag}: {path} {what}; expected a "
                                             "directory to write the run into")
            return


class RunDirectory:
    """Paths of a run directory and append-only writers for its logs."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.config = self.path / "config.yaml"
        self.episodes = self.path / "episodes.csv"
        self.metrics = self.path / "metrics.jsonl"
        self.timing = self.path / "timing.json"
        self.checkpoints = self.path / "checkpoints"

    def create(self, cfg: Config) -> "RunDirectory":
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(exist_ok=True)
        config_mod.save(cfg, self.config)
        with open(self.episodes, "w", newline="") as f:
            csv.writer(f).writerow(EPISODE_FIELDS)
        self.metrics.touch()
        return self

    def load_config(self) -> Config:
        if not self.config.exists():
            raise config_mod.ConfigError(f"run dir: {self.path} has no config.yaml "
                                         "(not an rt-avg run directory)")
        return config_mod.load(self.config)

    def truncate_after(self, step: int) -> None:
        """Drop log rows newer than ``step`` (what a resumed run will write again); rows
        kept stay byte-identical, and a file with nothing to drop is not rewritten."""
        _keep_lines(self.episodes, lambda line: int(line.split(",", 1)[0]) <= step, header=1)
        _keep_lines(self.metrics,
                    lambda line: not line.strip() or json.loads(line).get("step", 0) <= step)


def _keep_lines(path: Path, keep: Callable[[str], bool], header: int = 0) -> None:
    with open(path, newline="") as f:
        lines = f.readlines()
    kept = lines[:header] + [line for line in lines[header:] if keep(line)]
    if len(kept) != len(lines):
        with open(path, "w", newline="") as f:
            f.writelines(kept)


class RunLog:
    """Appends episodes and metrics, flushed per row so a crash loses nothing written."""

    def __init__(self, run_dir: RunDirectory) -> None:
        self.run_dir = run_dir
        self._episodes = open(run_dir.episodes, "a", newline="")
        self._episode_writer = csv.writer(self._episodes)
        self._metrics = open(run_dir.metrics, "a")

    def episode(self, step: int, episode: int, ret: float, length: int,
                wall_time_s: float) -> None:
        self._episode_writer.writerow([step, episode, repr(float(ret)), length,
                                       f"{wall_time_s:.3f}"])
        self._episodes.flush()

    def metrics(self, row: dict[str, Any]) -> None:
        self._metrics.write(json.dumps(row) + "\n")
        self._metrics.flush()

    def close(self) -> None:
        self._episodes.close()
        self._metrics.close()


def read_episodes(run_dir: RunDirectory | Path) -> list[dict[str, Any]]:
    path = run_dir.episodes if isinstance(run_dir, RunDirectory) else RunDirectory(run_dir).episodes
    with open(path, newline="") as f:
        return [{"step": int(r["step"]), "episode": int(r["episode"]),
                 "return": float(r["return"]), "length": int(r["length"]),
                 "wall_time_s": float(r["wall_time_s"])} for r in csv.DictReader(f)]


def read_metrics(run_dir: RunDirectory | Path) -> list[dict[str, Any]]:
    path = run_dir.metrics if isinstance(run_dir, RunDirectory) else RunDirectory(run_dir).metrics
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]

"""The run directory: the lossless record of a run.

    <run>/config.yaml      the fully resolved config
    <run>/episodes.csv     step, episode, return, length, wall_time_s
    <run>/metrics.jsonl    learner metrics over time (one JSON object per line)
    <run>/timing.json      latency/jitter summaries (real-time modes)
    <run>/events.jsonl     what a user should see (stalls, faults, failed checkpoint writes)
    <run>/checkpoints/     learner, optimisers, normaliser, scaler, RNG, counters
    <run>/.lock            the one writer's lock (see :class:`RunLock`)

One process writes a run directory at a time: every runner claims it with
:class:`RunClaim` before it writes anything and holds it until the run ends.  Logs are
appended a row at a time; a crash in the middle of a row leaves a partial last line, which
readers skip and a resumed run drops (with a note on stderr).
"""

from __future__ import annotations

import csv
import errno
import fcntl
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Callable

from rt_avg.core import config as config_mod
from rt_avg.core.config import Config

EPISODE_FIELDS = ("step", "episode", "return", "length", "wall_time_s")
LOCK_NAME = ".lock"


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
        self.events = self.path / "events.jsonl"
        self.checkpoints = self.path / "checkpoints"
        self.lock = self.path / LOCK_NAME

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
            holder = lock_holder(self.path)
            if holder is not None:  # a new run that has not written its config.yaml yet
                raise RunBusyError(f"run dir: {self.path} is being written by another rt-avg "
                                   f"process (pid {holder}); wait for it to end or stop it, "
                                   "then try again")
            raise config_mod.ConfigError(f"run dir: {self.path} has no config.yaml "
                                         "(not an rt-avg run directory)")
        return config_mod.load(self.config)

    def truncate_after(self, step: int) -> None:
        """Drop log rows newer than ``step`` (what a resumed run will write again) and a
        partial last row (a crash in the middle of writing it; noted on stderr); rows kept
        stay byte-identical, and a file with nothing to drop is not rewritten."""
        _keep_lines(self.episodes, lambda line: int(line.split(",", 1)[0]) <= step, header=1)
        _keep_lines(self.metrics,
                    lambda line: not line.strip() or json.loads(line).get("step", 0) <= step)


def _complete_lines(path: Path, lines: list[str]) -> list[str]:
    """``lines`` without a last line that has no line end (a row cut short by a crash),
    noting the drop on stderr."""
    if lines and not lines[-1].endswith("\n"):
        print(f"rt-avg: note: {path}: dropped a partial last row {lines[-1][:60]!r} (a run "
              "stopped while writing it)", file=sys.stderr)
        return lines[:-1]
    return lines


def _keep_lines(path: Path, keep: Callable[[str], bool], header: int = 0) -> None:
    with open(path, newline="") as f:
        lines = f.readlines()
    complete = _complete_lines(path, lines)
    kept = complete[:header] + [line for line in complete[header:] if keep(line)]
    if len(kept) != len(lines):
        with open(path, "w", newline="") as f:
            f.writelines(kept)


class RunBusyError(config_mod.ConfigError):
    """Another process is writing the run directory."""


class RunLock:
    """The one writer of a run directory: an exclusive ``flock`` on ``<run>/.lock``.

    The kernel releases the lock when its holder exits however it exits (a crash, SIGKILL),
    so a lock file left behind by a dead process is simply taken over.  The file stays
    empty (a resumed run leaves the directory byte-identical); a refused writer finds the
    holder's pid in ``/proc/locks``.  The descriptor is not inherited by child processes
    (Python opens files close-on-exec), so nothing outlives the holder with the lock."""

    def __init__(self, run_path: Path) -> None:
        self.path = Path(run_path) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, flag: str) -> "RunLock":
        """Take the lock or raise RunBusyError naming ``flag`` and the holder's pid."""
        fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _flock_holder(os.fstat(fd).st_ino)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise RunBusyError(f"{flag}: {self.path.parent} is being written by another "
                               f"rt-avg process (pid {holder}); wait for it to end or stop "
                               "it, then try again") from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def lock_holder(run_path: Path) -> str | None:
    """The pid (or "unknown") of the process holding ``run_path``'s lock; None if free.
    Looks without taking the lock: a shared flock is refused while a writer holds it."""
    try:
        fd = os.open(Path(run_path) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        return _flock_holder(os.fstat(fd).st_ino)
    finally:
        os.close(fd)  # also releases the shared lock if it was taken
    return None


def _flock_holder(inode: int) -> str:
    """The pid holding a flock on the file with ``inode`` ("unknown" if not found)."""
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return "unknown"
    for line in lines:  # "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF"
        parts = line.split()
        if "FLOCK" in parts and len(parts) >= 6:
            i = parts.index("FLOCK")
            pid, where = parts[i + 3], parts[i + 4]
            if where.rsplit(":", 1)[-1] == str(inode) and pid.isdigit():
                return pid
    return "unknown"


class RunClaim:
    """A runner's hold on its run directory, from before its first write to the run's end.

    ``with RunClaim(path, resume) as claim:`` creates the directory of a new run, takes its
    :class:`RunLock`, and checks that a new run does not land on an existing one (which the
    lock makes race-free).  Until :meth:`started` is called, a failure removes what the new
    run made (the whole directory if this claim created it), so a run that fails to start
    leaves no half-made run directory behind; a resumed run's directory is never removed."""

    def __init__(self, path: Path, resume: bool = False) -> None:
        self.run_dir = RunDirectory(path)
        self.resume = resume
        self.flag = "--resume" if resume else "--run-dir"
        self._lock = RunLock(self.run_dir.path)
        self._created = False
        self._started = resume

    def __enter__(self) -> "RunClaim":
        path = self.run_dir.path
        if not self.resume and not path.exists():
            path.mkdir(parents=True)
            self._created = True
        try:
            self._lock.acquire(self.flag)
        except BaseException:
            if self._created:  # (another writer never works in a directory this one made)
                shutil.rmtree(path, ignore_errors=True)
            raise
        if not self.resume and self.run_dir.config.exists():
            self._lock.release()
            raise config_mod.ConfigError(
                f"--run-dir: {path} already holds a run; use --resume {path} to continue it "
                "or choose another directory")
        return self

    def started(self) -> None:
        """The run is under way: from now on its directory stays, whatever happens."""
        self._started = True

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is not None and not self._started:
            self._remove_unstarted()
        self._lock.release()

    def _remove_unstarted(self) -> None:
        rd = self.run_dir
        if self._created:
            shutil.rmtree(rd.path, ignore_errors=True)
            return
        for path in (rd.config, rd.episodes, rd.metrics, rd.events, rd.lock):
            path.unlink(missing_ok=True)
        if rd.checkpoints.is_dir() and not any(rd.checkpoints.iterdir()):
            rd.checkpoints.rmdir()


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


def _read_complete(path: Path) -> list[str]:
    with open(path, newline="") as f:
        return _complete_lines(path, f.readlines())


def read_episodes(run_dir: RunDirectory | Path) -> list[dict[str, Any]]:
    """The rows of ``episodes.csv`` (a partial last row is skipped, with a note)."""
    path = run_dir.episodes if isinstance(run_dir, RunDirectory) else RunDirectory(run_dir).episodes
    return [{"step": int(r["step"]), "episode": int(r["episode"]),
             "return": float(r["return"]), "length": int(r["length"]),
             "wall_time_s": float(r["wall_time_s"])}
            for r in csv.DictReader(_read_complete(path))]


def read_metrics(run_dir: RunDirectory | Path) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` (a partial last row is skipped, with a note)."""
    path = run_dir.metrics if isinstance(run_dir, RunDirectory) else RunDirectory(run_dir).metrics
    return [json.loads(line) for line in _read_complete(path) if line.strip()]

"""Where a run's record goes: the ``Sink`` its workers write to, and the ``LocalSink`` that
writes the run directory.

Everything that must not be lost (episodes, metrics, timing, state snapshots, events)
goes through a ``Sink``; the real-time channels carry only what may be overwritten.  The
inline runner and the batch baselines write through a :class:`LocalSink` directly; in the
real-time modes the workers' sink forwards to the logger actor, which wraps a
:class:`LocalSink` (so the files are written the same way in every mode).  This module
imports no torch: the real-time logger stores checkpoints as the bytes the learner encoded.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rt_avg.run.checkpoint_files import CheckpointWriteError, write_checkpoint_bytes
from rt_avg.core.config import Config
from rt_avg.run.run_dir import RunDirectory, RunLog
from rt_avg.run.tracking.tracker import make_tracker

if TYPE_CHECKING:
    from rt_avg.run.checkpoint import Checkpoint


class Sink(Protocol):
    """The lossless path of the real-time workers (the env's and the learner's)."""

    def episode(self, step: int, episode: int, ret: float, length: int) -> None: ...

    def metrics(self, row: dict[str, Any]) -> None: ...

    def timing(self, role: str, chunk: dict[str, np.ndarray]) -> None: ...

    def snapshot(self, role: str, step: int, state: dict[str, Any]) -> None:
        """The env's resumable state at env step ``step`` (every ``run.checkpoint_every``
        env steps), to be paired with the learner's in a checkpoint."""

    def checkpoint(self, learner_state: dict[str, Any], env_step: int) -> None:
        """Write a checkpoint of ``learner_state`` with the env's state of ``env_step``;
        raises CheckpointWriteError when it could not be written."""

    def event(self, kind: str, message: str, step: int) -> None:
        """Something a user should see (a stall, a fault), kept in ``events.jsonl``."""


class LocalSink:
    """Writes one run's record into its run directory, from the process that writes it:
    ``episodes.csv``, ``metrics.jsonl``, ``events.jsonl`` (each event also a line on
    stderr), the tracker, checkpoints (every write checked) and ``timing.json``.

    ``wall_offset_s`` is the training time of the run before this process took it over (a
    resumed run continues the clock)."""

    def __init__(self, cfg: Config, run_dir: RunDirectory, wall_offset_s: float = 0.0) -> None:
        self.cfg, self.run_dir = cfg, run_dir
        self.log = RunLog(run_dir)
        self._events = open(run_dir.events, "a")
        self.tracker = make_tracker(cfg, run_dir.path)
        self._t0 = time.monotonic() - wall_offset_s
        self.chunks: dict[str, list[dict[str, np.ndarray]]] = {"env": [], "learner": []}
        self.checkpoint_failures = 0

    def wall_s(self) -> float:
        """Training time of the run so far (seconds)."""
        return time.monotonic() - self._t0

    def episode(self, step: int, episode: int, ret: float, length: int,
                age_s: float = 0.0) -> None:
        """An episode that ended ``age_s`` seconds ago."""
        self.log.episode(step, episode, ret, length, max(self.wall_s() - age_s, 0.0))
        self.tracker.log_episode(step, episode, ret, length)

    def metrics(self, row: dict[str, Any]) -> None:
        self.log.metrics(row)
        self.tracker.log_metrics(int(row.get("step", 0)), row)

    def timing(self, role: str, chunk: dict[str, np.ndarray]) -> None:
        self.chunks[role].append(chunk)

    def event(self, kind: str, message: str, step: int, console: bool = True) -> None:
        """Keep an event in ``events.jsonl`` and (``console``) print it on stderr."""
        self._events.write(json.dumps({"kind": kind, "message": message, "step": step,
                                       "wall_time_s": self.wall_s()}) + "\n")
        self._events.flush()
        if console:
            print(f"rt-avg: {kind} at step {step}: {message}", file=sys.stderr)

    def write_checkpoint(self, step: int, data: bytes) -> Path:
        """Write an encoded checkpoint (``rt_avg.run.checkpoint.encode_checkpoint``).  A write
        the file system refuses is an event, then raises CheckpointWriteError: the run
        stops with the error as its one line on the console, or, when
        ``run.checkpoint_errors`` is ``continue``, goes on after a warning on the console."""
        try:
            return write_checkpoint_bytes(self.run_dir.checkpoints, step, data,
                                          self.cfg.run.keep_checkpoints)
        except CheckpointWriteError as exc:
            self.checkpoint_failures += 1
            going_on = self.cfg.run.checkpoint_errors == "continue"
            self.event("checkpoint_failed", f"{exc}{'; the run goes on' if going_on else ''}",
                       step, console=going_on)
            raise

    def save_checkpoint(self, ckpt: Checkpoint) -> Path:
        """Encode ``ckpt`` (torch) and write it as :meth:`write_checkpoint` does; raises
        NonFiniteError, without writing, for a state that holds NaN or inf."""
        from rt_avg.run.checkpoint import encode_checkpoint

        return self.write_checkpoint(ckpt.step, encode_checkpoint(ckpt))

    def write_timing(self, extra: dict[str, Any] | None = None,
                     **counts: Any) -> dict[str, Any]:
        """Write ``timing.json`` (the summary of the timing chunks received, with ``counts``
        as :func:`rt_avg.realtime.timing.summarize` takes them, and ``extra`` entries) and
        the per-step arrays (``timing_steps.npz``); returns the summary."""
        from rt_avg.realtime.timing import ENV_FIELDS, LEARNER_FIELDS, concat, summarize

        env = concat(self.chunks["env"], ENV_FIELDS)
        learner = concat(self.chunks["learner"], LEARNER_FIELDS)
        summary = summarize(env, learner, dt_s=self.cfg.realtime.dt_s, mode=self.cfg.run.mode,
                            **counts)
        summary.update(extra or {})
        self.run_dir.timing.write_text(json.dumps(summary, indent=2))
        np.savez_compressed(self.run_dir.path / "timing_steps.npz", **env, **learner)
        self.tracker.log_timing(summary)
        return summary

    def close(self) -> None:
        try:
            self.log.close()
            self._events.close()
        finally:
            self.tracker.finish(self.run_dir.path)

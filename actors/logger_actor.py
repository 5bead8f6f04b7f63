"""LoggerActor: the lossless record of a real-time run, a :class:`rt_avg.run.sink.LocalSink`
in its own process.

It runs on the driver's node, so the run directory is local to the user (the driver holds
the directory's lock for the whole run).  It neither learns nor acts and does not import
torch: state snapshots and checkpoints reach it as bytes (see ``rt_avg.actors.sink``),
which it keeps or writes as they are.  It writes nothing until ``open`` (the driver calls it
once the run has started); events before that go to stderr only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import ray

from rt_avg.actors.mailbox import current_node_id
from rt_avg.core.config import from_dict
from rt_avg.bench.footprint import tree_footprint
from rt_avg.run.run_dir import RunDirectory
from rt_avg.run.sink import LocalSink

SNAPSHOTS_KEPT = 3  # env snapshots kept for the learner's checkpoints (newest ones)


@ray.remote(num_cpus=0, max_concurrency=1)
class LoggerActor:
    def __init__(self, cfg_data: dict, run_path: str, wall_offset_s: float) -> None:
        self.cfg = from_dict(cfg_data)
        self.run_dir = RunDirectory(Path(run_path))
        self.wall_offset_s = wall_offset_s
        self.sink: LocalSink | None = None
        self.snapshots: dict[str, dict[int, bytes]] = {"env": {}}

    def ready(self) -> dict[str, Any]:
        """Where it runs."""
        return {"node_id": current_node_id(), "pid": os.getpid()}

    def open(self) -> None:
        """Start writing the run directory (which the driver has created or resumed)."""
        self.sink = LocalSink(self.cfg, self.run_dir, self.wall_offset_s)

    def ping(self) -> bool:
        return True

    def footprint(self) -> dict[str, Any]:
        return tree_footprint()

    def wall_s(self) -> float:
        return self.sink.wall_s() if self.sink is not None else self.wall_offset_s

    def episodes(self, batch: list[tuple[int, int, float, int, float]]) -> None:
        """Episodes as (step, episode, return, length, seconds since it ended)."""
        for step, episode, ret, length, age_s in batch:
            self.sink.episode(step, episode, ret, length, age_s)

    def metrics(self, row: dict[str, Any]) -> None:
        self.sink.metrics(row)

    def timing(self, role: str, chunk: dict[str, np.ndarray]) -> None:
        self.sink.timing(role, chunk)

    def event(self, kind: str, message: str, step: int) -> None:
        if self.sink is not None:
            self.sink.event(kind, message, step)
        else:
            print(f"rt-avg: {kind} at step {step}: {message}", file=sys.stderr)

    def snapshot(self, role: str, step: int, state: bytes) -> None:
        """Keep a role's state of ``step`` (pickled by the role; opaque here)."""
        kept = self.snapshots.setdefault(role, {})
        kept[step] = state
        for old in sorted(kept)[:-SNAPSHOTS_KEPT]:
            del kept[old]

    def latest_snapshot(self, role: str) -> bytes | None:
        kept = self.snapshots.get(role, {})
        return kept[max(kept)] if kept else None

    def latest_step(self, role: str) -> int:
        return max(self.snapshots.get(role, {}) or [0])

    def checkpoint_inputs(self, env_step: int) -> tuple[bytes | None, float]:
        """What the learner needs to encode the checkpoint of ``env_step``: the env's state
        of that step (or of the oldest kept one after it; None while none has arrived) and
        the training time so far."""
        kept = self.snapshots["env"]
        after = [s for s in kept if s >= env_step]
        return (kept[min(after)] if after else None), self.wall_s()

    def write_checkpoint(self, step: int, data: bytes) -> str:
        """Write a checkpoint the learner encoded; raises CheckpointWriteError (after an
        event) if the disk refuses it."""
        return str(self.sink.write_checkpoint(step, data))

    def finalize(self, placement: dict | None = None, footprint: dict | None = None,
                 **counts: Any) -> dict[str, Any]:
        """Write timing.json and the per-step arrays (timing_steps.npz); ``counts`` as
        :func:`rt_avg.realtime.timing.summarize` takes them."""
        extra = {k: v for k, v in (("placement", placement), ("footprint", footprint)) if v}
        return self.sink.write_timing(extra, **counts)

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()
            self.sink = None


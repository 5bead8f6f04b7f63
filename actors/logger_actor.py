"""LoggerActor: the lossless record of a real-time run (files, tracker, checkpoints).

It runs on the driver's node, so the run directory is local to the user.  It neither
learns nor acts and does not import torch: state snapshots and checkpoints reach it as
bytes (see ``rt_avg.actors.sink``), which it keeps or writes as they are.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import ray

from rt_avg.actors.mailbox import current_node_id
from rt_avg.checkpoint_files import write_checkpoint_bytes
from rt_avg.config import from_dict
from rt_avg.footprint import tree_footprint
from rt_avg.realtime.timing import ENV_FIELDS, LEARNER_FIELDS, concat, summarize
from rt_avg.run_dir import RunDirectory, RunLog
from rt_avg.tracking.tracker import make_tracker


@ray.remote(num_cpus=0, max_concurrency=1)
class LoggerActor:
    def __init__(self, cfg_data: dict, run_path: str, resume: bool, wall_offset_s: float) -> None:
        self.cfg = from_dict(cfg_data)
        self.run_dir = RunDirectory(Path(run_path))
        if not resume:
            self.run_dir.create(self.cfg)
        self.log = RunLog(self.run_dir)
        self.tracker = make_tracker(self.cfg, self.run_dir.path)
        self.t0 = time.monotonic() - wall_offset_s
        self.chunks: dict[str, list[dict[str, np.ndarray]]] = {"env": [], "learner": []}
        self.snapshots: dict[str, tuple[int, bytes]] = {}
        self.events = open(self.run_dir.path / "events.jsonl", "a")

    def ready(self) -> dict[str, Any]:
        """Where it runs (the run directory exists once this returns)."""
        return {"node_id": current_node_id(), "pid": os.getpid()}

    def footprint(self) -> dict[str, Any]:
        return tree_footprint()

    def wall_s(self) -> float:
        return time.monotonic() - self.t0

    def episodes(self, batch: list[tuple[int, int, float, int, float]]) -> None:
        """Episodes as (step, episode, return, length, seconds since it ended)."""
        wall = self.wall_s()
        for step, episode, ret, length, age_s in batch:
            self.log.episode(step, episode, ret, length, max(wall - age_s, 0.0))
            self.tracker.log_episode(step, episode, ret, length)

    def metrics(self, row: dict[str, Any]) -> None:
        self.log.metrics(row)
        self.tracker.log_metrics(int(row.get("step", 0)), row)

    def timing(self, role: str, chunk: dict[str, np.ndarray]) -> None:
        self.chunks[role].append(chunk)

    def event(self, kind: str, message: str, step: int) -> None:
        self.events.write(json.dumps({"kind": kind, "message": message, "step": step,
                                      "wall_time_s": self.wall_s()}) + "\n")
        self.events.flush()
        print(f"rt-avg: {kind} at step {step}: {message}", file=sys.stderr)

    def snapshot(self, role: str, step: int, state: bytes) -> None:
        """Keep a role's newest state (pickled by the role; opaque here)."""
        self.snapshots[role] = (step, state)

    def latest_snapshot(self, role: str) -> bytes | None:
        return self.snapshots.get(role, (0, None))[1]

    def latest_step(self, role: str) -> int:
        return self.snapshots.get(role, (0, None))[0]

    def checkpoint_inputs(self) -> tuple[bytes | None, float]:
        """What the learner needs to encode a checkpoint: the env's newest snapshot (in async
        mode a few steps apart from the learner's state) and the training time so far."""
        return self.latest_snapshot("env"), self.wall_s()

    def write_checkpoint(self, encoded: tuple[int, bytes] | None) -> str | None:
        """Write a checkpoint the learner encoded, ``(env step, file bytes)``."""
        if encoded is None:
            return None
        step, data = encoded
        return str(write_checkpoint_bytes(self.run_dir.checkpoints, step, data,
                                          self.cfg.run.keep_checkpoints))

    def finalize(self, env_steps: int, updates: int, skipped: int, stalls: int,
                 wall_s: float, placement: dict | None = None,
                 footprint: dict | None = None) -> dict[str, Any]:
        """Write timing.json and the per-step arrays (timing_steps.npz)."""
        env = concat(self.chunks["env"], ENV_FIELDS)
        learner = concat(self.chunks["learner"], LEARNER_FIELDS)
        summary = summarize(env, learner, dt_s=self.cfg.realtime.dt_s, mode=self.cfg.run.mode,
                            wall_s=wall_s, env_steps=env_steps, updates=updates,
                            skipped=skipped, stalls=stalls)
        if placement:
            summary["placement"] = placement
        if footprint:
            summary["footprint"] = footprint
        self.run_dir.timing.write_text(json.dumps(summary, indent=2))
        np.savez_compressed(self.run_dir.path / "timing_steps.npz", **env, **learner)
        self.tracker.log_timing(summary)
        return summary

    def close(self) -> None:
        self.log.close()
        self.events.close()
        self.tracker.finish(self.run_dir.path)

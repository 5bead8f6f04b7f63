"""A ``Sink`` (rt_avg.realtime.sink) that forwards to the LoggerActor with Ray calls.

Calls are fire-and-forget so the control loop never waits for the logger; ``flush`` waits
for all of them (the workers flush before their ``run`` returns, so nothing is lost).
Episodes are sent in batches (at most ``batch_s`` old): submitting one Ray call costs a
few hundred microseconds, which per episode of a short-lived simulated task was 5 % of
the env loop.

State snapshots travel as bytes, never as tensors, so the logger needs no torch: the env's
pickled; the learner's (with ``checkpoint``) encoded into a whole checkpoint together with
the env's newest snapshot, which it fetches from the logger.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import ray


class RaySink:
    def __init__(self, logger: ray.actor.ActorHandle, batch_s: float = 0.5,
                 checkpoint: Callable[[dict, bytes, float], tuple[int, bytes]] | None = None
                 ) -> None:
        """``checkpoint(learner_state, env_state, wall_s) -> (env step, file bytes)`` encodes
        a checkpoint; the learner's sink has one."""
        self.logger = logger
        self._checkpoint = checkpoint
        self.batch_s = batch_s
        self._pending: list[ray.ObjectRef] = []
        self._episodes: list[tuple[int, int, float, int, float]] = []
        self._first_buffered = 0.0

    def _track(self, ref: ray.ObjectRef) -> None:
        self._pending.append(ref)
        if len(self._pending) > 64:  # drop the ones already done, without blocking
            _, self._pending = ray.wait(self._pending, num_returns=len(self._pending),
                                        timeout=0)

    def episode(self, step: int, episode: int, ret: float, length: int) -> None:
        now = time.monotonic()
        if not self._episodes:
            self._first_buffered = now
        self._episodes.append((step, episode, ret, length, now))
        if now - self._first_buffered >= self.batch_s:
            self._send_episodes()

    def _send_episodes(self) -> None:
        if self._episodes:
            # Ages rather than timestamps: clocks of different nodes don't compare.
            now = time.monotonic()
            batch = [(s, e, r, n, now - t) for s, e, r, n, t in self._episodes]
            self._track(self.logger.episodes.remote(batch))
            self._episodes = []

    def metrics(self, row: dict[str, Any]) -> None:
        self._track(self.logger.metrics.remote(row))

    def timing(self, role: str, chunk: dict[str, np.ndarray]) -> None:
        self._track(self.logger.timing.remote(role, chunk))

    def snapshot(self, role: str, step: int, state: dict[str, Any]) -> None:
        if self._checkpoint is None:
            blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
            self._track(self.logger.snapshot.remote(role, step, blob))
            return
        # One blocking call per checkpoint (every run.checkpoint_every updates).
        env_state, wall_s = ray.get(self.logger.checkpoint_inputs.remote())
        if env_state is not None:  # no env snapshot yet: nothing to pair this state with
            env_step, data = self._checkpoint(state, env_state, wall_s)
            self._track(self.logger.write_checkpoint.remote((env_step, data)))

    def event(self, kind: str, message: str, step: int) -> None:
        self._track(self.logger.event.remote(kind, message, step))

    def flush(self, timeout_s: float = 60.0) -> None:
        self._send_episodes()
        if self._pending:
            ray.wait(self._pending, num_returns=len(self._pending), timeout=timeout_s)
            self._pending = []

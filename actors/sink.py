"""A ``Sink`` (rt_avg.realtime.sink) that forwards to the LoggerActor with Ray calls.

Calls are fire-and-forget so the control loop never waits for the logger; ``flush`` waits
for all of them (the workers flush before their ``run`` returns, so nothing is lost).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import ray


class RaySink:
    def __init__(self, logger: ray.actor.ActorHandle) -> None:
        self.logger = logger
        self._pending: list[ray.ObjectRef] = []

    def _track(self, ref: ray.ObjectRef) -> None:
        self._pending.append(ref)
        if len(self._pending) > 64:  # drop the ones already done, without blocking
            _, self._pending = ray.wait(self._pending, num_returns=len(self._pending),
                                        timeout=0)

    def episode(self, step: int, episode: int, ret: float, length: int) -> None:
        self._track(self.logger.episode.remote(step, episode, ret, length))

    def metrics(self, row: dict[str, Any]) -> None:
        self._track(self.logger.metrics.remote(row))

    def timing(self, role: str, chunk: dict[str, np.ndarray]) -> None:
        self._track(self.logger.timing.remote(role, chunk))

    def snapshot(self, role: str, step: int, state: dict[str, Any]) -> None:
        self._track(self.logger.snapshot.remote(role, step, state))

    def event(self, kind: str, message: str, step: int) -> None:
        self._track(self.logger.event.remote(kind, message, step))

    def flush(self, timeout_s: float = 60.0) -> None:
        if self._pending:
            ray.wait(self._pending, num_returns=len(self._pending), timeout=timeout_s)
            self._pending = []

"""A ``Sink`` (rt_avg.run.sink) that forwards to the LoggerActor with Ray calls.

Calls are fire-and-forget so the control loop never waits for the logger; ``flush`` waits
for all of them (the workers flush before their ``run`` returns, so nothing is lost).
Checkpoints are the exception: the learner waits for each one to be written (every
``run.checkpoint_every`` env steps), so a write the disk refuses stops the run as it
does inline.  Every wait is bounded by ``timeout_s``.
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
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from rt_avg.run.checkpoint_files import CheckpointWriteError

SNAPSHOT_POLL_S = 0.005


class RaySink:
    def __init__(self, logger: ray.actor.ActorHandle, batch_s: float = 0.5,
                 encode: Callable[[dict, bytes, float], tuple[int, bytes]] | None = None,
                 timeout_s: float = 60.0) -> None:
        """``encode(learner_state, env_state, wall_s) -> (env step, file bytes)`` encodes
        a checkpoint; the learner's sink has one."""
        self.logger = logger
        self._encode = encode
        self.timeout_s = timeout_s
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
        blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        self._track(self.logger.snapshot.remote(role, step, blob))

    def checkpoint(self, learner_state: dict[str, Any], env_step: int) -> None:
        """Pair ``learner_state`` with the env's snapshot of ``env_step`` (sent before the
        transition the learner just took, so it is there or on its way), encode, and wait
        for the logger to write it.  Raises CheckpointWriteError if the disk refused it, or
        if the logger did not answer within ``timeout_s``."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            env_state, wall_s = self._get(self.logger.checkpoint_inputs.remote(env_step),
                                          deadline, env_step)
            if env_state is not None:
                break
            if time.monotonic() > deadline:
                raise CheckpointWriteError(f"no env state of step {env_step} reached the "
                                           f"logger within {self.timeout_s:g} s; the "
                                           "checkpoint was not written")
            time.sleep(SNAPSHOT_POLL_S)
        step, data = self._encode(learner_state, env_state, wall_s)
        self._get(self.logger.write_checkpoint.remote(step, data), deadline, step)

    def _get(self, ref: ray.ObjectRef, deadline: float, step: int) -> Any:
        try:
            return ray.get(ref, timeout=max(deadline - time.monotonic(), 0.0))
        except RayTaskError as exc:
            if isinstance(exc.cause, CheckpointWriteError):
                raise exc.cause from None
            raise
        except GetTimeoutError:
            raise CheckpointWriteError(f"the logger did not answer within {self.timeout_s:g} s; "
                                       f"the checkpoint of step {step} was not written") from None
        except RayActorError as exc:
            raise CheckpointWriteError(f"the logger is gone ({type(exc).__name__}); the "
                                       f"checkpoint of step {step} was not written") from None

    def event(self, kind: str, message: str, step: int) -> None:
        self._track(self.logger.event.remote(kind, message, step))

    def flush(self) -> None:
        """Send what is buffered and wait (at most ``timeout_s``) for every call to land."""
        self._send_episodes()
        if self._pending:
            ray.wait(self._pending, num_returns=len(self._pending), timeout=self.timeout_s)
            self._pending = []

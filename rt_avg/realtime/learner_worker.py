"""The learning role: take the newest unused transition, run one learner update, publish
the policy's parameters every ``sync_every`` updates (after every update in sequential mode).

When the learner is slower than the env it skips transitions (counted), it never queues
them: incremental learners learn from the newest sample only.  In async mode it waits for a
transition without spinning (it sleeps between polls of the channel): on a small computer
the core it would burn is the env's or Ray's, and nobody waits for the learner.  In
sequential mode the env waits for each update, so the learner spins briefly first.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import torch

from rt_avg import algos
from rt_avg.realtime.channels import LatestChannel, LatestReader, LatestWriter
from rt_avg.realtime.channels.record import transition_from_record
from rt_avg.core.config import Config
from rt_avg.core.finite import NonFiniteError
from rt_avg.run.learn_step import LearnStep
from rt_avg.realtime.timing import LEARNER_FIELDS, TimingBuffer
from rt_avg.run.sink import Sink


class LearnerWorker:
    def __init__(self, cfg: Config, obs_dim: int, act_dim: int, sink: Sink,
                 update_delay_s: float = 0.0) -> None:
        torch.set_num_threads(1)
        self.cfg, self.sink = cfg, sink
        self.learner = algos.get(cfg.agent.algo).make_learner(cfg, obs_dim, act_dim)
        self.n_weights = self.learner.policy_params().numel()
        self.transitions: LatestReader | None = None
        self.weights: LatestWriter | None = None
        self._stop = threading.Event()
        self.update_delay_s = update_delay_s  # benchmark knob: a learner slower than dt
        self.stalls = 0
        self.last_env_step = 0
        self.wall_offset_s = 0.0
        self.transitions_seen = 0
        self.step: LearnStep | None = None
        self._poisoned: NonFiniteError | None = None  # the learner's state is not finite

    @property
    def skipped(self) -> int:
        return self.step.skipped if self.step is not None else 0

    def connect(self, transitions: LatestReader, weights: LatestWriter) -> None:
        self.transitions, self.weights = transitions, weights
        self._wait_newer = transitions.wait_newer
        if self.cfg.run.mode != "sequential" and isinstance(transitions, LatestChannel):
            self._wait_newer = functools.partial(transitions.wait_newer, spin_s=0.0)

    def restore(self, learner_state: dict[str, Any], env_step: int,
                wall_time_s: float = 0.0) -> None:
        self.learner.load_state_dict(learner_state)
        self.last_env_step = env_step
        self.wall_offset_s = wall_time_s

    def stop(self) -> None:
        self._stop.set()

    def _publish(self) -> None:
        self.weights.write(version=self.learner.updates, env_step=self.last_env_step,
                           values=self.learner.policy_params().numpy())

    def _checkpoint(self, env_step: int) -> None:
        self.sink.checkpoint(self.learner.state_dict(), env_step)

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        timing = TimingBuffer(LEARNER_FIELDS)
        t_start = time.monotonic()

        def on_update_ns(update_ns: int) -> None:
            if timing.add(update_us=update_ns / 1e3):
                self.sink.timing("learner", timing.take())

        step = self.step = LearnStep(
            cfg, self.learner, publish=self._publish, metrics=self.sink.metrics,
            checkpoint=self._checkpoint, start_step=self.last_env_step,
            wall_s=lambda: self.wall_offset_s + time.monotonic() - t_start,
            update_delay_s=self.update_delay_s, on_update_ns=on_update_ns)
        self._publish()  # the env acts with exactly these initial weights
        last_seq = 0
        last_arrival = time.monotonic()
        try:
            while not self._stop.is_set():
                rec = self._wait_newer(last_seq, timeout_s=0.05)
                if rec is None:
                    if time.monotonic() - last_arrival > cfg.realtime.watchdog_s:
                        self.stalls += 1
                        self.sink.event("stall", f"no new transition for "
                                        f"{cfg.realtime.watchdog_s} s", self.last_env_step)
                        last_arrival = time.monotonic()
                    continue
                seq = int(rec["seq"])
                step.skipped += seq - last_seq - 1
                last_seq = seq
                last_arrival = time.monotonic()
                self.transitions_seen += 1
                self.last_env_step = int(rec["env_step"])
                step(transition_from_record(rec), self.last_env_step)
        except NonFiniteError as exc:
            self._poisoned = exc
            raise
        finally:
            step.flush_metrics()
            self.sink.timing("learner", timing.take())
        return {"updates": self.learner.updates, "start_updates": step.start_updates,
                "skipped": step.skipped, "stalls": self.stalls, "env_step": self.last_env_step}

    def state(self) -> dict[str, Any]:
        if self._poisoned is not None:  # never checkpoint it
            raise self._poisoned
        return self.learner.state_dict()

    def close(self) -> None:
        for ch in (self.transitions, self.weights):
            if ch is not None:
                ch.close()

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

import numpy as np
import torch

from rt_avg import algos
from rt_avg.channels import LatestChannel, LatestReader, LatestWriter
from rt_avg.config import Config
from rt_avg.core import Transition
from rt_avg.finite import NonFiniteError, check_metrics, check_weights
from rt_avg.metrics import MetricsWindow
from rt_avg.realtime.sink import Sink
from rt_avg.realtime.timing import LEARNER_FIELDS, TimingBuffer


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
        self.skipped = 0
        self.stalls = 0
        self.last_env_step = 0
        self.transitions_seen = 0
        self._publish_ns = int(cfg.realtime.sync_min_interval_s * 1e9)
        self._next_publish_ns = 0
        self._poisoned: NonFiniteError | None = None  # the learner's state is not finite

    def connect(self, transitions: LatestReader, weights: LatestWriter) -> None:
        self.transitions, self.weights = transitions, weights
        self._wait_newer = transitions.wait_newer
        if self.cfg.run.mode != "sequential" and isinstance(transitions, LatestChannel):
            self._wait_newer = functools.partial(transitions.wait_newer, spin_s=0.0)

    def restore(self, learner_state: dict[str, Any], env_step: int) -> None:
        self.learner.load_state_dict(learner_state)
        self.last_env_step = env_step

    def stop(self) -> None:
        self._stop.set()

    def _publish(self) -> None:
        self.weights.write(version=self.learner.updates, env_step=self.last_env_step,
                           values=self.learner.policy_params().numpy())

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        sync_every = cfg.realtime.sync_every  # sequential mode publishes every update
        window = MetricsWindow()
        timing = TimingBuffer(LEARNER_FIELDS)
        self._publish()  # the env acts with exactly these initial weights
        last_seq = 0
        last_arrival = time.monotonic()
        t_start = time.monotonic()
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
                self.skipped += seq - last_seq - 1
                last_seq = seq
                last_arrival = time.monotonic()
                self.transitions_seen += 1
                self.last_env_step = int(rec["env_step"])
                if self.last_env_step > cfg.run.learning_starts:
                    t = Transition(rec["obs"].astype(np.float32),
                                   rec["action"].astype(np.float32),
                                   rec["eps"].astype(np.float32),
                                   float(rec["reward"]), rec["next_obs"].astype(np.float32),
                                   bool(rec["terminated"]), bool(rec["truncated"]),
                                   int(rec["policy_version"]))
                    t0 = time.perf_counter_ns()
                    metrics = self.learner.update(t)
                    if self.update_delay_s:
                        time.sleep(self.update_delay_s)
                    update_ns = time.perf_counter_ns() - t0
                    # Before these weights reach the env (or a checkpoint).
                    check_metrics(self.last_env_step, self.learner.updates, metrics)
                    check_weights(self.last_env_step, self.learner.updates,
                                  self.learner.policy_params())
                    window.add(metrics, update_ns)
                    if timing.add(update_us=update_ns / 1e3):
                        self.sink.timing("learner", timing.take())
                if cfg.run.mode == "sequential":
                    self._publish()  # the env is waiting for exactly this update
                elif self.learner.updates % sync_every == 0:
                    now = time.monotonic_ns()
                    if now >= self._next_publish_ns:
                        self._next_publish_ns = now + self._publish_ns
                        self._publish()
                if len(window) >= cfg.run.metrics_every:
                    self.sink.metrics(window.flush(
                        step=self.last_env_step, updates=self.learner.updates,
                        wall_time_s=time.monotonic() - t_start, skipped=self.skipped))
                if self.learner.updates and self.learner.updates % cfg.run.checkpoint_every == 0:
                    self.sink.snapshot("learner", self.last_env_step, self.learner.state_dict())
        except NonFiniteError as exc:
            self._poisoned = exc
            raise
        finally:
            if len(window):
                self.sink.metrics(window.flush(step=self.last_env_step,
                                               updates=self.learner.updates,
                                               wall_time_s=time.monotonic() - t_start,
                                               skipped=self.skipped))
            self.sink.timing("learner", timing.take())
        return {"updates": self.learner.updates, "skipped": self.skipped,
                "stalls": self.stalls, "env_step": self.last_env_step}

    def state(self) -> dict[str, Any]:
        if self._poisoned is not None:  # never checkpoint it
            raise self._poisoned
        return self.learner.state_dict()

    def close(self) -> None:
        for ch in (self.transitions, self.weights):
            if ch is not None:
                ch.close()

"""One learning step, the same in every mode.

The inline runner calls it after every env step; the real-time learner worker after every
transition it takes from the channel (in sequential mode every one, in async mode the
newest).  Sequential mode reproduces inline exactly because both run this code::

    learning_starts -> update -> check metrics -> check weights -> metrics window
                    -> publish -> checkpoint

Checkpoints come every ``run.checkpoint_every`` *env steps* in every mode: when the env
step of the transition just learned from reaches the next multiple (in async mode the
learner may skip the transition of that very step; the checkpoint then comes with the next
one it takes and carries the env's state of the multiple).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rt_avg.run.checkpoint_files import periodic_checkpoint
from rt_avg.core.config import Config
from rt_avg.core import Learner, Transition
from rt_avg.core.finite import check_metrics, check_weights
from rt_avg.run.metrics import MetricsWindow


class LearnStep:
    """The learning side's step.  What differs between runners is passed in:

    ``publish()`` hands the learner's policy parameters to the acting side (inline: the
    shared network's version; real-time: the weights channel); ``metrics(row)`` writes a
    metrics row; ``checkpoint(env_step)`` writes a checkpoint of the learner's state with
    the env's state of ``env_step`` (raising CheckpointWriteError when the disk refuses it);
    ``wall_s()`` is the run's training time so far."""

    def __init__(self, cfg: Config, learner: Learner, *, publish: Callable[[], None],
                 metrics: Callable[[dict[str, Any]], None],
                 checkpoint: Callable[[int], None], wall_s: Callable[[], float],
                 start_step: int = 0, update_delay_s: float = 0.0,
                 on_update_ns: Callable[[int], None] | None = None) -> None:
        self.cfg, self.learner = cfg, learner
        self._publish, self._metrics, self._checkpoint = publish, metrics, checkpoint
        self._wall_s = wall_s
        self._on_update_ns = on_update_ns
        self.update_delay_s = update_delay_s  # benchmark knob: a learner slower than dt
        self.window = MetricsWindow()
        self.env_step = start_step
        self.start_updates = learner.updates
        self.skipped = 0  # transitions the caller did not learn from (async mode)
        self._mark = start_step // cfg.run.checkpoint_every  # multiples checkpointed
        # Async mode publishes every sync_every updates, at most every sync_min_interval_s.
        self._every_step = cfg.run.mode != "async"
        self._publish_gap_ns = int(cfg.realtime.sync_min_interval_s * 1e9)
        self._next_publish_ns = 0

    def __call__(self, t: Transition, env_step: int) -> bool:
        """Learn from ``t``, the transition of env step ``env_step``; True if it updated."""
        cfg, learner = self.cfg, self.learner
        self.env_step = env_step
        learned = env_step > cfg.run.learning_starts
        if learned:
            t0 = time.perf_counter_ns()
            metrics = learner.update(t)
            if self.update_delay_s:
                time.sleep(self.update_delay_s)
            update_ns = time.perf_counter_ns() - t0
            # Before these weights reach the acting side (or a checkpoint).
            check_metrics(env_step, learner.updates, metrics)
            check_weights(env_step, learner.updates, learner.policy_params())
            self.window.add(metrics, update_ns)
            if self._on_update_ns is not None:
                self._on_update_ns(update_ns)
        if self._publish_due():
            self._publish()
        if len(self.window) >= cfg.run.metrics_every:
            self.flush_metrics()
        if env_step // cfg.run.checkpoint_every > self._mark:
            self._mark = env_step // cfg.run.checkpoint_every
            self.save(self._mark * cfg.run.checkpoint_every)
        return learned

    def _publish_due(self) -> bool:
        if self._every_step:  # inline, and sequential's env waits for exactly this update
            return True
        if self.learner.updates % self.cfg.realtime.sync_every:
            return False
        now = time.monotonic_ns()
        if now < self._next_publish_ns:
            return False
        self._next_publish_ns = now + self._publish_gap_ns
        return True

    def save(self, env_step: int) -> None:
        """A periodic checkpoint.  A refused write stops the run (the error propagates)
        unless ``run.checkpoint_errors`` is ``continue``; the writer has already reported it
        (an event and a warning)."""
        periodic_checkpoint(lambda: self._checkpoint(env_step), self.cfg.run.checkpoint_errors)

    def flush_metrics(self) -> None:
        """Write the metrics window's row now (also at the end of a run: a partial one)."""
        if len(self.window):
            self._metrics(self.window.flush(step=self.env_step, updates=self.learner.updates,
                                            wall_time_s=self._wall_s(), skipped=self.skipped))

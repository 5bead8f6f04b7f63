"""The env/robot role: one control cycle per ``dt_s``, never waiting for the learner
(async) or waiting for update t before acting at t+1 (sequential).

Cycle (async)::

    wait for the cycle start (sleep, then spin)            <- observation "in"
    act with the local policy copy, hand the action to the env  <- action "out"
    publish the transition (latest channel), log the episode if it ended (sink)
    pick up newer actor weights if the learner published some

A robot task whose ``step`` sends the command and then reads the sensors must not read them
at once: the reading would describe the moment the command left, not the end of the cycle.
Such a task offers ``set_cycle_waiter(fn) -> bool`` (True when it will call ``fn()``
between sending the command and reading the state), and the worker then waits for the cycle boundary *there* (after
picking up new weights, which keeps that copy off the latency path).  The observation then
comes in at the cycle start, as SenseAct's tasks do it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np

from rt_avg import algos
from rt_avg.core.config import Config
from rt_avg.realtime.channels import LatestReader, LatestWriter
from rt_avg.realtime.channels.record import transition_fields
from rt_avg.run.env_loop import EnvLoop
from rt_avg.core.environments import make_env
from rt_avg.core.finite import NonFiniteError, check_env_step, check_observation
from rt_avg.nn.policy import env_dims
from rt_avg.core.pacing import Pacer
from rt_avg.core import RealtimeTask
from rt_avg.realtime.timing import ENV_FIELDS, TimingBuffer
from rt_avg.run.sink import Sink


class EnvWorker:
    def __init__(self, cfg: Config, sink: Sink) -> None:
        self.cfg, self.sink = cfg, sink
        self.env = make_env(cfg.env)
        self.policy = algos.get(cfg.agent.algo).make_policy(cfg, self.env, None)
        self.loop = EnvLoop(self.env, self.policy, cfg.run.seed)
        self.obs_dim, self.act_dim = env_dims(self.env)
        self.transitions: LatestWriter | None = None
        self.weights: LatestReader | None = None
        self._stop = threading.Event()
        self._restored = False
        self._weights_seq = 0
        self._weights_step = 0
        self.returns: deque[float] = deque(maxlen=10)
        self.overruns = 0
        self._closed = False
        self._poisoned: NonFiniteError | None = None  # the acting state is not finite
        self._pacer = Pacer(cfg.realtime.dt_s)
        self._cycle: tuple[int, bool] | None = None
        task = self.env.unwrapped
        # The task answers whether it will call the waiter (a robot on hardware: yes; a
        # simulated twin that steps its own clock: no).
        self._inner_wait = (cfg.realtime.dt_s > 0 and isinstance(task, RealtimeTask)
                            and bool(task.set_cycle_waiter(self._wait_in_step)))

    # ---------------------------------------------------------------- set-up

    def connect(self, transitions: LatestWriter, weights: LatestReader) -> None:
        self.transitions, self.weights = transitions, weights

    def restore(self, env_loop_state: dict[str, Any]) -> None:
        self.loop.load_state_dict(env_loop_state)
        self._restored = True

    def stop(self) -> None:
        """End the run at the next step boundary; a robot task also stops now, which cuts
        short a reset in progress (a move home, a charging wait)."""
        self._stop.set()
        self.safe_stop()

    # ---------------------------------------------------------------- weights

    def _load(self, rec: Any) -> None:
        self.policy.load_params(rec["values"], int(rec["version"]))
        self._weights_seq = int(rec["seq"])
        self._weights_step = int(rec["env_step"])

    def _wait_weights(self, min_env_step: int) -> bool:
        """Block until weights from an update of env step >= ``min_env_step`` arrive (or stop).

        Waiting longer than ``watchdog_s`` is reported as a stall; the wait goes on (the
        driver decides whether the learner is gone)."""
        waited_from = time.monotonic()
        reported = False
        while not self._stop.is_set():
            rec = self.weights.wait_newer(self._weights_seq, timeout_s=0.05)
            if rec is not None:
                self._load(rec)
                if self._weights_step >= min_env_step:
                    return True
            elif not reported and time.monotonic() - waited_from > self.cfg.realtime.watchdog_s:
                self.sink.event("stall", f"no weights for env step {min_env_step} within "
                                f"{self.cfg.realtime.watchdog_s} s", self.loop.state.step)
                reported = True
        return False

    def _warm_up(self) -> None:
        """A throw-away policy pass (no RNG draw, no state change) before the deadline."""
        if self.loop.state.obs is not None:
            self.policy.warm_up(self.loop.state.obs)

    def _pick_up_weights(self) -> None:
        if (rec := self.weights.read_latest(self._weights_seq)) is not None:
            self._load(rec)

    def _wait_in_step(self) -> None:
        """Called by the task between sending a command and reading its sensors."""
        if self.cfg.run.mode != "sequential":
            self._pick_up_weights()
        self._cycle = self._pacer.wait(self._warm_up)

    # ---------------------------------------------------------------- the loop

    def run(self) -> dict[str, Any]:
        """Run until ``run.steps`` env steps or ``stop()``; always leaves the env safe."""
        cfg = self.cfg
        sequential = cfg.run.mode == "sequential"
        timing = TimingBuffer(ENV_FIELDS)
        pacer = self._pacer
        t_start = time.monotonic()
        try:
            if not self._wait_weights(self.loop.state.step):  # the learner's initial weights
                return self._summary(t_start)
            if not self._restored:
                self.loop.start()
                check_observation(0, self.loop.state.obs)
            last_start: int | None = None
            t_obs = time.monotonic_ns()
            while self.loop.state.step < cfg.run.steps and not self._stop.is_set():
                if self._inner_wait and self._cycle is not None:
                    start, overran = self._cycle  # waited inside the previous step,
                    t_obs = start  # right before the task read its sensors
                else:
                    start, overran = pacer.wait(self._warm_up)
                    t_obs = max(t_obs, start)
                result = self.loop.step()
                step = self.loop.state.step
                tr = result.transition
                # Before the learner sees it or the policy acts on it (the robot is stopped
                # by the finally below).
                check_env_step(step, tr.reward, self.loop.state.obs,
                               tr.next_obs if result.episode is not None else None,
                               self.loop.state.raw_obs)
                if step % cfg.run.checkpoint_every == 0:
                    # Sent before the transition, so the learner, which checkpoints when it
                    # has learned from this step, finds this state at the logger.
                    self.sink.snapshot("env", step, self.loop.state_dict())
                self.transitions.write(**transition_fields(tr), env_step=step,
                                       episode=self.loop.state.episode, t_obs_ns=t_obs,
                                       t_act_ns=result.t_act_ns)
                if result.episode is not None:
                    ep = result.episode
                    self.sink.episode(ep.step, ep.episode, ep.ret, ep.length)
                    self.returns.append(ep.ret)
                if timing.add(action_latency_us=(result.t_act_ns - t_obs) / 1e3,
                              cycle_ms=np.nan if last_start is None else (start - last_start) / 1e6,
                              overrun=overran,
                              staleness_steps=step - 1 - self._weights_step):
                    self.sink.timing("env", timing.take())
                last_start = start
                self.overruns = pacer.overruns
                if result.episode is not None:
                    # A reset (a robot homing, seconds) is not a control cycle: restart the
                    # schedule instead of counting it as an overrun or a long cycle.
                    pacer.restart()
                    self._cycle, last_start = None, None
                if sequential:
                    if not self._wait_weights(step):
                        break
                elif not self._inner_wait:
                    self._pick_up_weights()
                t_obs = time.monotonic_ns()  # the env.step result is the next observation
        except NonFiniteError as exc:
            self._poisoned = exc
            raise
        finally:
            self.safe_stop()
            self.sink.timing("env", timing.take())
        return self._summary(t_start)

    def _summary(self, t_start: float) -> dict[str, Any]:
        return {"env_steps": self.loop.state.step, "episodes": self.loop.state.episode,
                "overruns": self.overruns, "wall_s": time.monotonic() - t_start}

    def safe_stop(self) -> None:
        """Command the robot to a standstill (tasks that have ``stop()``); idempotent."""
        task = self.env.unwrapped
        if isinstance(task, RealtimeTask):
            try:
                task.stop()
            except Exception as exc:  # noqa: BLE001 - report, never mask the original error
                self.sink.event("fault", f"env stop failed: {exc!r}", self.loop.state.step)

    def state(self) -> dict[str, Any]:
        if self._poisoned is not None:  # never checkpoint it
            raise self._poisoned
        return self.loop.state_dict()

    def progress(self) -> dict[str, Any]:
        r = list(self.returns)
        return {"step": self.loop.state.step, "episode": self.loop.state.episode,
                "recent_return": float(np.mean(r)) if r else None, "overruns": self.overruns}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.safe_stop()
        self.env.close()
        if self.transitions is not None:
            self.transitions.close()
        if self.weights is not None:
            self.weights.close()

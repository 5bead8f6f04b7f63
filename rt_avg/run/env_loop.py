"""The env side of a run: observe, act, step, keep episode books, reset.

One definition serves every mode: the inline runner calls :meth:`EnvLoop.step` between
updates; the real-time EnvActor calls it once per control cycle.

Termination vs truncation (as in Gymnasium): both end the episode and start a new one;
the transition carries both flags, and only ``terminated`` stops bootstrapping.
Every episode is reset with its own seed (``episode_seed``), so a checkpoint taken in the
middle of an episode can rebuild the env state by replaying that episode's actions.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from rt_avg.core import Acting, Transition
from rt_avg.core.environments import episode_seed
from rt_avg.core import ResetInterrupted


@dataclass
class EpisodeRecord:
    step: int  # env steps taken when the episode ended
    episode: int
    ret: float
    length: int
    terminated: bool


@dataclass
class StepResult:
    transition: Transition
    episode: EpisodeRecord | None  # set when this step ended an episode
    action: np.ndarray  # what was sent to the env
    t_act_ns: int  # time.monotonic_ns() when the action was handed to the env


@dataclass
class EnvLoopState:
    step: int = 0
    episode: int = 0
    episode_return: float = 0.0
    episode_actions: list = field(default_factory=list)
    raw_obs: np.ndarray | None = None
    obs: np.ndarray | None = None  # normalised
    reset_pending: bool = False  # a reset was cut short (a robot task's stop())


class EnvLoop:
    """Drives one env with one policy, one step at a time."""

    def __init__(self, env: gym.Env, policy: Acting, seed: int) -> None:
        self.env, self.policy, self.seed = env, policy, seed
        self.state = EnvLoopState()
        self._replayable = True

    def start(self) -> None:
        """Reset for the current episode (call once before the first step)."""
        self._reset()

    def _reset(self) -> None:
        s = self.state
        s.episode_return, s.episode_actions, s.reset_pending = 0.0, [], True
        raw, _ = self.env.reset(seed=episode_seed(self.seed, s.episode))
        s.raw_obs = np.asarray(raw)
        s.obs = self.policy.observe(raw)
        s.reset_pending = False

    def step(self) -> StepResult:
        """One step; when it ends the episode, the next one is reset before returning.  A
        reset cut short by the task's ``stop()`` is done again by the next step (or by a
        resumed run): the step's transition and episode record are returned either way."""
        s = self.state
        if s.reset_pending:
            self._reset()
        sample = self.policy.act(s.obs)
        t_act_ns = time.monotonic_ns()
        raw, reward, terminated, truncated, _ = self.env.step(sample.env_action)
        next_obs = self.policy.observe(raw)
        transition = Transition(s.obs, sample.action, sample.eps, float(reward), next_obs,
                                bool(terminated), bool(truncated), self.policy.version)
        s.step += 1
        s.episode_return += float(reward)
        s.episode_actions.append(sample.env_action)
        s.raw_obs, s.obs = np.asarray(raw), next_obs
        record = None
        if terminated or truncated:
            record = EpisodeRecord(s.step, s.episode, s.episode_return,
                                   len(s.episode_actions), bool(terminated))
            s.episode += 1
            try:
                self._reset()
            except ResetInterrupted:
                pass  # the robot was stopped; the caller sees the stop request next
        return StepResult(transition, record, sample.env_action, t_act_ns)

    def state_dict(self) -> dict:
        s = self.state
        return {"step": s.step, "episode": s.episode, "episode_return": s.episode_return,
                "episode_actions": np.array(s.episode_actions), "raw_obs": s.raw_obs,
                "obs": s.obs, "reset_pending": s.reset_pending,
                "policy": self.policy.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore counters and policy, then rebuild the env mid-episode by replaying the
        episode's actions from its reset seed.  If the env does not reproduce the saved
        observation (hardware, a non-deterministic simulator), a new episode starts."""
        s = self.state
        s.step, s.episode = int(state["step"]), int(state["episode"])
        self.policy.load_state_dict(state["policy"])
        actions = list(state["episode_actions"])
        if state.get("reset_pending", False):  # the episode had not started yet
            self._reset()
            return
        self.env.reset(seed=episode_seed(self.seed, s.episode))
        raw = None
        for a in actions:
            raw, *_ = self.env.step(a)
        if raw is None or np.array_equal(np.asarray(raw), state["raw_obs"]):
            s.episode_return = float(state["episode_return"])
            s.episode_actions = actions
            s.raw_obs, s.obs = state["raw_obs"], state["obs"]
            return
        warnings.warn("the env did not reproduce the checkpointed state; starting a new episode")
        s.episode += 1
        self._reset()

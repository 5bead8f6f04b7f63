"""A task whose episode lengths are scripted, to test what a run's final return is:
``short_count`` episodes of ``short`` steps, then episodes of ``long`` steps; every step
earns a reward of 1, so an episode's return is its length.  Import it as
``long_last_episode_env:LongLastEpisode-v0``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class LongLastEpisode(gym.Env):
    def __init__(self, short: int = 10, short_count: int = 85, long: int = 150) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.short, self.short_count, self.long = short, short_count, long
        self.episodes = 0
        self.t = 0
        self.length = short

    def _obs(self) -> np.ndarray:
        return self.np_random.uniform(-1, 1, 2).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.length = self.short if self.episodes < self.short_count else self.long
        self.episodes += 1
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 1.0, self.t >= self.length, False, {}


gym.register("LongLastEpisode-v0", entry_point=LongLastEpisode)

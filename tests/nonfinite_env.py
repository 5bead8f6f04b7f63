"""A task that goes bad at one step: NaN, inf or a huge value in its observation or reward.

Registered as ``test/NonFinite-v0``; from the command line it is
``--env tests.nonfinite_env:test/NonFinite-v0 --set env.kwargs.bad_step=250``.  It offers
``stop()`` like a robot task, counting the calls, so the real-time worker's stop path can
be checked.
"""

import gymnasium as gym
import numpy as np


class NonFiniteEnv(gym.Env):
    """A point on a line pushed by the action; reward -|x|; 50-step episodes."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, bad_step: int = 10**9, what: str = "obs", value: float = float("nan")):
        self.bad_step, self.what, self.value = bad_step, what, value
        self.steps = 0  # over the whole run, not per episode
        self.stopped = 0
        self.x = 0.0
        self.t = 0

    def _obs(self) -> np.ndarray:
        return np.array([self.x, self.t / 50.0, 1.0])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = float(self.np_random.uniform(-1, 1)), 0
        return self._obs(), {}

    def step(self, action):
        self.steps += 1
        self.t += 1
        self.x = float(np.clip(self.x + 0.1 * float(action[0]), -5, 5))
        obs, reward = self._obs(), -abs(self.x)
        if self.steps == self.bad_step:
            if self.what == "obs":
                obs[0] = self.value
            else:
                reward = self.value
        return obs, reward, False, self.t >= 50, {}

    def set_cycle_waiter(self, fn) -> bool:
        return False  # keeps its own time: the runner paces the cycles

    def stop(self) -> None:
        self.stopped += 1


gym.register("test/NonFinite-v0", entry_point=NonFiniteEnv)

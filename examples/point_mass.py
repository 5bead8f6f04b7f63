"""A task of your own in one file: a point mass driven the way a robot is (docs/your-task.md).

    cd examples
    rt-avg train --env point_mass:PointMass-v0 --mode async --steps 20000

``point_mass:PointMass-v0`` makes rt-avg (and every Ray worker) import this module, which
registers ``PointMass-v0`` with Gymnasium.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np


class PointMass(gym.Env):
    """Push a point mass on a line to the origin.  Observation: position and velocity;
    action: a force in [-1, 1]; reward: minus the squared distance; 200-step episodes.

    Like a robot task, ``step`` sends the command, lets the control cycle pass (the
    real-time runner's waiter, when it set one), then reads the state."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, dt_s: float = 0.02, episode_steps: int = 200) -> None:
        self.dt_s, self.episode_steps = dt_s, episode_steps
        self.x = self.v = self.force = 0.0
        self.t = 0
        self._wait: Callable[[], None] | None = None

    # -- the real-time hooks (optional: a plain simulation needs neither) -------------
    def set_cycle_waiter(self, fn: Callable[[], None] | None) -> bool:
        """The runner's cycle boundary, called in ``step`` between command and reading."""
        self._wait = fn
        return fn is not None

    def stop(self) -> None:
        """Standstill now (any thread): the runner calls it whatever ends the run."""
        self.force = 0.0

    # -- Gymnasium --------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.x, self.v, self.force, self.t = float(self.np_random.uniform(-1, 1)), 0.0, 0.0, 0
        return self._read(), {}

    def step(self, action: np.ndarray):
        self.force = float(np.clip(action[0], -1.0, 1.0))  # send the command
        if self._wait is not None:
            self._wait()  # the cycle passes (on a robot: the world moves meanwhile)
        self.v += self.dt_s * (self.force - 0.5 * self.v)
        self.x += self.dt_s * self.v
        self.t += 1
        obs = self._read()
        return obs, -self.x ** 2, False, self.t >= self.episode_steps, {}

    def _read(self) -> np.ndarray:
        return np.array([self.x, self.v])


gym.register("PointMass-v0", entry_point=PointMass)

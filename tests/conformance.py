"""Conformance checks that every environment used with rt-avg must pass.

Use as a mixin: subclass ``EnvConformance`` in a test module and implement ``make_env``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env


class EnvConformance:
    """Reusable conformance tests; subclasses provide ``make_env``."""

    #: steps taken in the rollout checks
    rollout_steps: int = 50

    def make_env(self) -> gym.Env:  # pragma: no cover - abstract
        raise NotImplementedError

    def test_gymnasium_env_checker(self) -> None:
        env = self.make_env()
        try:
            check_env(env.unwrapped, skip_render_check=True)
        finally:
            env.close()

    def test_spaces_are_continuous_boxes(self) -> None:
        env = self.make_env()
        try:
            assert isinstance(env.observation_space, gym.spaces.Box)
            assert isinstance(env.action_space, gym.spaces.Box)
            assert len(env.observation_space.shape) == 1
            assert len(env.action_space.shape) == 1
            assert np.all(np.isfinite(env.action_space.low))
            assert np.all(np.isfinite(env.action_space.high))
        finally:
            env.close()

    def test_rollout_types_and_bounds(self) -> None:
        env = self.make_env()
        try:
            obs, info = env.reset(seed=0)
            assert env.observation_space.contains(obs), obs
            assert isinstance(info, dict)
            for _ in range(self.rollout_steps):
                obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
                assert env.observation_space.contains(obs), obs
                assert np.isfinite(reward)
                assert isinstance(terminated, bool) and isinstance(truncated, bool)
                if terminated or truncated:
                    obs, info = env.reset()
        finally:
            env.close()

    def test_out_of_bounds_action_is_accepted_and_clipped(self) -> None:
        env = self.make_env()
        try:
            env.reset(seed=0)
            big = env.action_space.high * 10.0
            obs, reward, *_ = env.step(big.astype(env.action_space.dtype))
            assert env.observation_space.contains(obs)
            assert np.isfinite(reward)
        finally:
            env.close()

    def test_same_seed_same_trajectory(self) -> None:
        def rollout() -> list[np.ndarray]:
            env = self.make_env()
            try:
                env.action_space.seed(123)
                obs, _ = env.reset(seed=7)
                seen = [obs]
                for _ in range(self.rollout_steps):
                    obs, *_ = env.step(env.action_space.sample())
                    seen.append(obs)
                return seen
            finally:
                env.close()

        first, second = rollout(), rollout()
        for a, b in zip(first, second):
            np.testing.assert_allclose(a, b, atol=self.determinism_atol)

    #: twins with real-time components may need a tolerance; pure simulators use 0
    determinism_atol: float = 0.0

    def test_close_is_idempotent(self) -> None:
        env = self.make_env()
        env.reset(seed=0)
        env.close()
        env.close()

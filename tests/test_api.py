"""The Python API: rt_avg.train on an env class defined here (inline, async, the batch
SAC), rt_avg.load and act; ids the Ray workers could not make are refused before the run
directory is made; a run that fails to start leaves no directory."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rt_avg
from rt_avg.core.config import ConfigError
from rt_avg.realtime import RealtimeFault

SMALL = {"agent.hidden_sizes": [16, 16], "run.metrics_every": 50}


class PointMass(gym.Env):
    """A point on a line pushed towards the origin; 50-step episodes."""

    observation_space = gym.spaces.Box(-10.0, 10.0, (2,), np.float64)
    action_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)

    def __init__(self, start: float = 1.0) -> None:
        self.start = start
        self.x = self.v = 0.0
        self.t = 0

    def _obs(self) -> np.ndarray:
        return np.array([self.x, self.v])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.x = self.start * float(self.np_random.uniform(-1, 1))
        self.v, self.t = 0.0, 0
        return self._obs(), {}

    def step(self, action):
        self.v = 0.9 * self.v + 0.05 * float(np.clip(action[0], -2, 2))
        self.x = float(np.clip(self.x + self.v, -10, 10))
        self.t += 1
        return self._obs(), -self.x ** 2, False, self.t >= 50, {}


class BrokenAtBirth(PointMass):
    def __init__(self) -> None:
        raise RuntimeError("no such robot")


def _check_policy(policy: rt_avg.api.Policy) -> None:
    obs, _ = PointMass().reset(seed=3)
    action = policy.act(obs)
    assert action.shape == (1,) and -2.0 <= action[0] <= 2.0
    assert np.array_equal(policy.act(obs), action)  # deterministic: the mean action
    sampled = policy.act(obs, deterministic=False)
    assert sampled.shape == (1,) and -2.0 <= sampled[0] <= 2.0


def test_train_inline_on_an_env_class_then_load_and_act(tmp_path):
    run = rt_avg.train(env=PointMass, mode="inline", steps=300, run_dir=tmp_path / "run",
                       overrides=SMALL)
    assert run.run_dir == tmp_path / "run" and run.steps == 300
    summary = run.summary
    assert summary["episodes"] == 6 and summary["return_last10"] is not None
    policy = rt_avg.load(run.run_dir, env=PointMass)
    assert policy.step == 300 and policy.config.env.id == "rt_avg_api/PointMass-v0"
    _check_policy(policy)


def test_overrides_as_the_command_line_takes_them(tmp_path):
    with pytest.raises(ConfigError, match="agent.gamma"):
        rt_avg.train(env=PointMass, steps=100, run_dir=tmp_path / "run",
                     overrides=["agent.gamma=2"])
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_batch_sac_through_the_api(tmp_path):
    run = rt_avg.train(env=PointMass, algo="sac", steps=300, run_dir=tmp_path / "sac",
                       overrides={**SMALL, "batch.learning_starts": 50,
                                  "batch.batch_size": 16})
    assert run.steps == 300
    policy = rt_avg.load(run.run_dir, env=PointMass)
    assert policy.config.agent.algo == "sac"
    _check_policy(policy)


@pytest.mark.slow
@pytest.mark.ray
def test_train_async_on_an_env_class_of_this_module(tmp_path):
    run = rt_avg.train(env=PointMass, mode="async", steps=300, run_dir=tmp_path / "run",
                       overrides=SMALL)
    assert run.steps == 300 and run.timing["env_steps"] == 300
    assert run.summary["timing"]["mode"] == "async"
    _check_policy(rt_avg.load(run.run_dir, env=PointMass))


@pytest.mark.slow
@pytest.mark.ray
def test_an_id_the_workers_cannot_make_is_refused_before_the_run_directory(tmp_path):
    gym.register("test_api/OnlyHere-v0", entry_point=PointMass)  # this process only
    with pytest.raises(ConfigError, match="known in this Python process only"):
        rt_avg.train(env="test_api/OnlyHere-v0", mode="async", steps=100,
                     run_dir=tmp_path / "run", overrides=SMALL)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.ray
def test_a_run_that_fails_to_start_leaves_no_directory(tmp_path):
    with pytest.raises(RealtimeFault, match="no such robot"):
        rt_avg.train(env=BrokenAtBirth, mode="async", steps=100, run_dir=tmp_path / "run",
                     overrides=SMALL)
    assert not (tmp_path / "run").exists()
    (tmp_path / "given").mkdir()  # a folder the user made stays, empty
    with pytest.raises(RealtimeFault, match="no such robot"):
        rt_avg.train(env=BrokenAtBirth, mode="async", steps=100, run_dir=tmp_path / "given",
                     overrides=SMALL)
    assert list((tmp_path / "given").iterdir()) == []

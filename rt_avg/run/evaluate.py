"""Evaluation: the deterministic policy (tanh of the mean) with frozen normalisation, or a
batch learner's deterministic policy (Stable-Baselines3's ``predict``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gymnasium as gym
import numpy as np
import torch

from rt_avg import algos
from rt_avg.run.checkpoint import load_newest
from rt_avg.core.config import ConfigError
from rt_avg.core.environments import episode_seed, make_env
from rt_avg.nn.policy import env_dims
from rt_avg.run.resume import check_resume
from rt_avg.run.run_dir import RunDirectory, check_run_path
from rt_avg.run.trust import check_run_dir_imports

EVAL_SEED_OFFSET = 1_000_003  # evaluation episodes never reuse a training reset seed


@dataclass
class EvalResult:
    returns: list[float]
    step: int

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))


def _returns(env: gym.Env, act: Callable[[np.ndarray], np.ndarray], seed: int,
             episodes: int) -> list[float]:
    """Undiscounted returns of ``episodes`` episodes with the action function ``act``."""
    returns = []
    for i in range(episodes):
        raw, _ = env.reset(seed=episode_seed(seed + EVAL_SEED_OFFSET, i))
        total, done = 0.0, False
        while not done:
            raw, reward, terminated, truncated, _ = env.step(act(raw))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns


def evaluate(run_path: Path, episodes: int = 10, trust_run_dir: bool = False) -> EvalResult:
    """The deterministic policy of ``run_path``'s newest usable checkpoint over ``episodes``
    (>= 1) episodes.  A module of one's own that the run's config.yaml names is imported
    only with ``trust_run_dir`` (:mod:`rt_avg.run.trust`)."""
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ConfigError(f"--episodes: got {episodes!r}, expected an integer >= 1")
    check_run_path(Path(run_path), "run_dir", existing=True)
    run_dir = RunDirectory(run_path)
    cfg = run_dir.load_config()
    if not trust_run_dir:
        check_run_dir_imports(cfg, run_dir.config, set(),
                              f"rt-avg eval {run_path} --trust-run-dir", name_again=False)
    saved = load_newest(run_dir.checkpoints)
    if saved is None:
        raise ConfigError(f"run dir: {run_path} has no usable checkpoint to evaluate")
    torch.set_num_threads(cfg.run.torch_threads)
    env = make_env(cfg.env)
    try:
        if algos.is_batch(cfg.agent.algo):  # Stable-Baselines3's deterministic policy
            from rt_avg.baselines.sb3 import build_model, check_model_state

            model = build_model(cfg, env)
            check_model_state(run_dir, cfg, saved, model)  # config.yaml edited: a clear error
            return EvalResult(_returns(env, lambda raw: model.predict(raw, deterministic=True)[0],
                                       cfg.run.seed, episodes), saved.step)
        algo = algos.get(cfg.agent.algo)
        learner = algo.make_learner(cfg, *env_dims(env))
        check_resume(run_dir, cfg, saved, learner)  # config.yaml edited since: a clear error
        policy = algo.make_policy(cfg, env, None)
        policy.load_state_dict(saved.acting_state)
        policy.load_params(learner.policy_params(), learner.updates)
        policy.freeze()
        return EvalResult(_returns(env, lambda raw: policy.act_deterministic(policy.observe(raw)),
                                   cfg.run.seed, episodes), saved.step)
    finally:
        env.close()

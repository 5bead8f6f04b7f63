"""Building an agent for an env: one builder for every mode (inline, sequential, async)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rt_avg.actions import ActionMap
from rt_avg.config import Config
from rt_avg.learner import AVGLearner
from rt_avg.policy import Policy, build_actor


def env_dims(env: gym.Env) -> tuple[int, int]:
    return int(np.prod(env.observation_space.shape)), int(env.action_space.shape[0])


def build_learner(cfg: Config, obs_dim: int, act_dim: int) -> AVGLearner:
    return AVGLearner(obs_dim, act_dim, cfg.agent, cfg.run.seed)


def build_policy(cfg: Config, env: gym.Env, learner: AVGLearner | None = None) -> Policy:
    """A policy sharing ``learner``'s actor (inline) or with its own actor copy."""
    obs_dim, act_dim = env_dims(env)
    actor = learner.actor if learner is not None else build_actor(obs_dim, act_dim, cfg.agent)
    action_map = ActionMap(env.action_space.low, env.action_space.high, cfg.env.action_mode)
    return Policy(actor, cfg.agent, obs_dim, action_map, cfg.run.seed)

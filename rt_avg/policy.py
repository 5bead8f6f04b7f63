"""The acting side of a squashed-Gaussian agent (AVG, IAC, SAC-1): observation
normaliser, actor copy and action sampling; implements :class:`rt_avg.core.Acting`.

In the real-time modes this object lives in the env process with its own copy of the actor
and receives new weights from the learner; inline, it shares the learner's actor.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from rt_avg.actions import ActionMap
from rt_avg.config import AgentConfig, Config
from rt_avg.core import ActionSample
from rt_avg.networks import MLP
from rt_avg.noise import NoiseStream
from rt_avg.normalization import ObservationNormalizer
from rt_avg.squashed_gaussian import SquashedGaussianHead


def build_actor(obs_dim: int, act_dim: int, cfg: AgentConfig) -> MLP:
    """Actor: heads (mean, std parameter) of size act_dim each."""
    return MLP(obs_dim, cfg.hidden_sizes, (act_dim, act_dim), cfg.activation, cfg.penultimate_norm)


def build_critic(obs_dim: int, act_dim: int, cfg: AgentConfig) -> MLP:
    """Critic Q(s, a) on concat(obs, action)."""
    return MLP(obs_dim + act_dim, cfg.hidden_sizes, (1,), cfg.activation, cfg.penultimate_norm)


def env_dims(env: gym.Env) -> tuple[int, int]:
    """(observation size, action size) of a vector-observation, Box-action env."""
    return int(np.prod(env.observation_space.shape)), int(env.action_space.shape[0])


def build_policy(cfg: Config, env: gym.Env, actor: MLP | None = None) -> "Policy":
    """A policy acting with ``actor`` (a learner's live network, inline) or with its own
    copy of the actor network (filled by ``load_params``)."""
    obs_dim, act_dim = env_dims(env)
    actor = actor if actor is not None else build_actor(obs_dim, act_dim, cfg.agent)
    action_map = ActionMap(env.action_space.low, env.action_space.high, cfg.env.action_mode)
    return Policy(actor, cfg.agent, obs_dim, action_map, cfg.run.seed)


class Policy:
    """Normalises observations and samples actions from an actor (inference only)."""

    def __init__(self, actor: MLP, cfg: AgentConfig, obs_dim: int, action_map: ActionMap,
                 seed: int) -> None:
        self.actor = actor
        self.cfg = cfg
        self.act_dim = action_map.low.shape[0]
        self.action_map = action_map
        self.normalizer = ObservationNormalizer(obs_dim, enabled=cfg.normalize_obs)
        self.head = SquashedGaussianHead(self.act_dim, cfg.std_param, cfg.log_std_min,
                                         cfg.log_std_max)
        self.noise = NoiseStream(seed, 2, self.act_dim)  # acting noise
        self.version = 0
        self._zeros = [0.0] * self.act_dim

    def observe(self, raw_obs: np.ndarray) -> np.ndarray:
        """Normalise an observation from the env, updating the statistics unless frozen."""
        return self.normalizer(raw_obs)

    def act(self, obs: np.ndarray) -> ActionSample:
        """Sample a = tanh(mu + std * eps) for a normalised observation."""
        out = self.actor(torch.from_numpy(obs).unsqueeze(0)).tolist()[0]
        eps = self.noise.next()
        squashed = np.array(self.head.sample(out, eps).action)
        return ActionSample(self.action_map(squashed), squashed.astype(np.float32),
                            np.array(eps, np.float32))

    def warm_up(self, obs: np.ndarray) -> None:
        """Go through ``act`` once without drawing noise or changing any state, and discard
        the result: brings code and weights back into the caches."""
        out = self.actor(torch.from_numpy(obs).unsqueeze(0)).tolist()[0]
        self.action_map(np.array(self.head.sample(out, self._zeros).action))

    def act_deterministic(self, obs: np.ndarray) -> np.ndarray:
        """The mean action tanh(mu), mapped to the env's bounds (evaluation)."""
        out = self.actor(torch.from_numpy(obs).unsqueeze(0)).tolist()[0]
        return self.action_map(np.array(self.head.mean_action(out)))

    def load_params(self, flat: torch.Tensor, version: int) -> None:
        """Install actor weights published by the learner (``Learner.policy_params``); a
        policy that shares the learner's network (inline) only takes the version."""
        if flat.data_ptr() != self.actor.flat_param.data_ptr():
            self.actor.flat_param.copy_(flat)
        self.version = version

    def freeze(self) -> None:
        self.normalizer.frozen = True

    def state_dict(self) -> dict:
        return {"normalizer": self.normalizer.state_dict(), "noise": self.noise.state_dict(),
                "version": self.version}

    def load_state_dict(self, state: dict) -> None:
        self.normalizer.load_state_dict(state["normalizer"])
        self.noise.load_state_dict(state["noise"])
        self.version = int(state["version"])

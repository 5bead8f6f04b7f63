"""The acting side of a squashed-Gaussian agent (AVG, IAC, SAC-1): observation
normaliser, actor copy and action sampling; implements :class:`rt_avg.core.Acting`.

In the real-time modes this object lives in the env process with its own copy of the actor
and receives new weights from the learner; inline, it shares the learner's actor.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rt_avg.nn.acting_net import ActorForward, layer_shapes, param_count
from rt_avg.core.actions import ActionMap
from rt_avg.core.config import AgentConfig, Config
from rt_avg.core import ActionSample
from rt_avg.nn.noise import NoiseStream
from rt_avg.nn.normalization import ObservationNormalizer
from rt_avg.nn.squashed_gaussian import SquashedGaussianHead


def env_dims(env: gym.Env) -> tuple[int, int]:
    """(observation size, action size) of a vector-observation, Box-action env."""
    return int(np.prod(env.observation_space.shape)), int(env.action_space.shape[0])


def build_policy(cfg: Config, env: gym.Env, params: Any = None) -> "Policy":
    """A policy acting with ``params`` (a learner's live actor parameters, inline: a CPU
    tensor or array, shared without a copy) or with its own parameter vector (filled by
    ``load_params``)."""
    obs_dim, act_dim = env_dims(env)
    shapes = layer_shapes(obs_dim, cfg.agent.hidden_sizes, 2 * act_dim)
    flat = np.zeros(param_count(shapes), np.float32) if params is None else np.asarray(params)
    action_map = ActionMap(env.action_space.low, env.action_space.high, cfg.env.action_mode)
    actor = ActorForward(flat, shapes, cfg.agent.activation, cfg.agent.penultimate_norm)
    return Policy(actor, cfg.agent, obs_dim, action_map, cfg.run.seed)


def learner_policy(cfg: Config, env: gym.Env, learner: Any = None) -> "Policy":
    """``Algorithm.make_policy`` of a learner whose ``policy_params()`` are an actor from
    :func:`rt_avg.nn.networks.build_actor` (AVG, IAC, SAC-1): shares them inline."""
    return build_policy(cfg, env, None if learner is None else learner.policy_params())


class Policy:
    """Normalises observations and samples actions from an actor (inference only)."""

    def __init__(self, actor: ActorForward, cfg: AgentConfig, obs_dim: int, action_map: ActionMap,
                 seed: int) -> None:
        self.actor = actor
        self.cfg = cfg
        self.act_dim = action_map.low.shape[0]
        self.action_map = action_map
        self.normalizer = ObservationNormalizer(obs_dim, enabled=cfg.normalize_obs)
        self.head = SquashedGaussianHead.for_agent(self.act_dim, cfg)
        self.noise = NoiseStream(seed, 2, self.act_dim)  # acting noise
        self.version = 0
        self._zeros = [0.0] * self.act_dim

    def observe(self, raw_obs: np.ndarray) -> np.ndarray:
        """Normalise an observation from the env, updating the statistics unless frozen."""
        return self.normalizer(raw_obs)

    def act(self, obs: np.ndarray) -> ActionSample:
        """Sample a = tanh(mu + std * eps) for a normalised observation."""
        out = self.actor(obs)
        eps = self.noise.next()
        squashed = np.array(self.head.sample(out, eps).action)
        return ActionSample(self.action_map(squashed), squashed.astype(np.float32),
                            np.array(eps, np.float32))

    def warm_up(self, obs: np.ndarray) -> None:
        """Go through ``act`` once without drawing noise or changing any state, and discard
        the result: brings code and weights back into the caches."""
        out = self.actor(obs)
        self.action_map(np.array(self.head.sample(out, self._zeros).action))

    def act_deterministic(self, obs: np.ndarray) -> np.ndarray:
        """The mean action tanh(mu), mapped to the env's bounds (evaluation)."""
        out = self.actor(obs)
        return self.action_map(np.array(self.head.mean_action(out)))

    def load_params(self, flat: Any, version: int) -> None:
        """Install actor weights published by the learner (``Learner.policy_params``, or a
        record's float32 array); a policy that shares the learner's parameters (inline)
        only takes the version."""
        flat = np.asarray(flat)
        if not np.may_share_memory(flat, self.actor.flat):
            self.actor.flat[:] = flat
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

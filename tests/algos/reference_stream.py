"""A stream of real InvertedPendulum transitions for pinning a fast learner to its
readable reference: short episodes (terminations and truncations both occur) and, every
``stale_every`` steps, a transition marked as acted by older weights (async mode)."""

from __future__ import annotations

from typing import Iterator

import gymnasium as gym
import numpy as np
import torch

from rt_avg.core import Transition
from rt_avg.nn.normalization import ObservationNormalizer


def pendulum_stream(steps: int, actor, head, stale_every: int = 7,
                    seed: int = 0) -> Iterator[Transition]:
    """Transitions whose actions ``actor`` (an rt_avg.nn.networks.MLP) samples through ``head``
    at the time they are drawn; yields them one by one so the caller updates in between."""
    env = gym.make("InvertedPendulum-v5", max_episode_steps=6)
    norm = ObservationNormalizer(env.observation_space.shape[0])
    rng = np.random.default_rng(seed + 1)
    obs = norm(env.reset(seed=seed)[0])
    act_dim = env.action_space.shape[0]
    for i in range(steps):
        eps = rng.standard_normal(act_dim).astype(np.float32)
        with torch.no_grad():
            out = actor(torch.as_tensor(obs, dtype=actor.flat_param.dtype)[None])[0].tolist()
        action = np.array(head.sample(out, eps.tolist()).action, np.float32)
        raw, r, term, trunc, _ = env.step(action * env.action_space.high)
        next_obs = norm(raw)
        version = -1 if stale_every and i % stale_every == stale_every - 1 else None
        yield Transition(obs, action, eps, float(r), next_obs, term, trunc, version)
        obs = norm(env.reset(seed=seed + i + 1)[0]) if term or trunc else next_obs


def assert_same_params(pairs, where: str, rtol: float) -> None:
    """Each (MLP, reference nn.Module) pair holds the same parameters to ``rtol``."""
    for fast, ref in pairs:
        for (name, a), b in zip(fast.named_parameters(), ref.parameters()):
            scale = b.detach().abs().max().item()
            err = (a - b.detach()).abs().max().item()
            assert err <= rtol * scale, f"{where}: {name} differs by {err:.3g} (scale {scale:.3g})"


def count_ends(transitions: list[Transition]) -> dict[str, int]:
    return {"terminated": sum(t.terminated for t in transitions),
            "truncated": sum(t.truncated and not t.terminated for t in transitions),
            "stale": sum(t.policy_version is not None for t in transitions)}



"""The IAC learner: the update of :mod:`rt_avg.algos.iac.reference`, hand-derived.

For one transition (S, A executed, eps, R, S'), with the Gaussian N(mu(S), std(S)) over
u = atanh(A) under the learner's current weights:

    delta = R + gamma (1 - terminated) V(S') - V(S)       V(S') a constant
    d     = delta / sigma_td                              (sigma_td = 1 without TD scaling)
    critic loss = d^2
    actor loss  = -(log pi(A|S) d + eta H)                d a constant, u a constant

H is the entropy of the Gaussian before tanh.  With u held fixed (the score-function, or
likelihood-ratio, gradient) and eps = (u - mu) / std:

    d log pi / d mu      = eps / std
    d log pi / d log std = eps^2 - 1,        d H / d log std = 1

so the actor's output gradient is a few float operations and one hand-written backward
pass (rt_avg.nn.networks) finishes the job.  Both losses use the pre-update parameters.

The executed action A and its noise eps come from the acting policy.  When that policy held
the learner's own weights (inline, sequential) u = mu + std * eps exactly.  When it was
older (async), log pi(A|S) must be that of the executed action under the current weights:
u = atanh(A), |A| clipped to 1 - 1e-6, and eps is recomputed from it.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from rt_avg.nn.adam import FlatAdam
from rt_avg.algos.iac.reference import ATANH_LIMIT
from rt_avg.core.config import AgentConfig
from rt_avg.core import Transition
from rt_avg.nn.networks import MLP
from rt_avg.nn.normalization import TDErrorScaler
from rt_avg.nn.networks import build_actor
from rt_avg.nn.squashed_gaussian import HeadSample, SquashedGaussianHead


GAUSS_ENTROPY = 0.5 * (1.0 + math.log(2.0 * math.pi))
"""Entropy of N(0, 1); a Gaussian's is this plus log std per dimension."""


def parts_state(parts: dict[str, Any]) -> dict[str, Any]:
    """Checkpoint form of a learner's parts: a network as a copy of its flat parameters, a
    tensor as a copy, anything else (optimisers, scalers, noise) by its ``state_dict``."""
    def one(part: Any) -> Any:
        if isinstance(part, MLP):
            return part.flat_param.clone()
        return part.clone() if isinstance(part, torch.Tensor) else part.state_dict()
    return {name: one(part) for name, part in parts.items()}


def load_parts_state(parts: dict[str, Any], state: dict[str, Any]) -> None:
    """Restore what :func:`parts_state` saved, in place."""
    for name, part in parts.items():
        if isinstance(part, MLP):
            part.flat_param.copy_(state[name])
        elif isinstance(part, torch.Tensor):
            part.copy_(state[name])
        else:
            part.load_state_dict(state[name])


def build_value(obs_dim: int, cfg: AgentConfig) -> MLP:
    """The state-value critic V(s): the actor's body with one output."""
    return MLP(obs_dim, cfg.hidden_sizes, (1,), cfg.activation, cfg.penultimate_norm)


def executed_noise(head: SquashedGaussianHead, row: Sequence[float],
                   action: Sequence[float]) -> list[float]:
    """The eps that makes the current Gaussian at ``row`` = [mu, h] produce ``action``."""
    m = head.act_dim
    std = head.sample(row, [0.0] * m).std
    u = [math.atanh(min(max(a, -ATANH_LIMIT), ATANH_LIMIT)) for a in action]
    return [(ui - mu) / sd for ui, mu, sd in zip(u, row[:m], std)]


def score_function_grad(head: SquashedGaussianHead, s: HeadSample, eps: Sequence[float],
                        d: float, eta: float) -> list[float]:
    """d/d[mu, h] of -(d log pi(A|S) + eta H) with u = mu + std * eps held fixed; the clamp
    of h passes no gradient where it is active."""
    g_mu = [-d * e / sd for e, sd in zip(eps, s.std)]
    g_h = [-(d * (e * e - 1.0) + eta) * head.scale if ok else 0.0
           for e, ok in zip(eps, s.in_range)]
    return g_mu + g_h


class IACLearner:
    """Owns the actor, the V critic, their Adam optimisers and the TD-error scaler;
    implements :class:`rt_avg.core.Learner`."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: AgentConfig, seed: int) -> None:
        self.cfg = cfg
        torch.manual_seed(seed)  # network init
        self.actor: MLP = build_actor(obs_dim, act_dim, cfg)
        self.critic: MLP = build_value(obs_dim, cfg)
        betas = (cfg.beta1, 0.999)
        self.actor_opt = FlatAdam(self.actor.flat_param, self.actor.flat_grad, cfg.actor_lr,
                                  betas, cfg.adam_eps)
        self.critic_opt = FlatAdam(self.critic.flat_param, self.critic.flat_grad, cfg.critic_lr,
                                   betas, cfg.adam_eps)
        # Fed the raw reward; G is the discounted return G <- gamma G + R.
        self.td_scaler = TDErrorScaler(cfg.scale_td, cfg.td_return_rule, cfg.gamma)
        self.head = SquashedGaussianHead.for_agent(act_dim, cfg)
        self.updates = 0
        self._obs2 = torch.empty(2, obs_dim)
        self._one = torch.ones(1, 1)
        self._g_out = torch.empty(1, 2 * act_dim)
        self._actor_out_bias = self.actor.out.bias.numpy()
        self._critic_out_bias = self.critic.out.bias.numpy()

    def update(self, t: Transition) -> dict[str, float]:
        """One IAC update from one transition; returns its metrics."""
        cfg = self.cfg
        obs2 = self._obs2.numpy()
        obs2[0], obs2[1] = t.obs, t.next_obs
        out, a_cache = self.actor.forward_cached(self._obs2[:1])
        row = out[0].tolist()
        stale = t.policy_version is not None and t.policy_version != self.updates
        eps = executed_noise(self.head, row, t.action.tolist()) if stale else t.eps.tolist()
        s = self.head.sample(row, eps)

        v, c_cache = self.critic.forward_cached(self._obs2)  # [V(S), V(S')]
        v0, v1 = v.view(-1).tolist()
        gamma_t = 0.0 if t.terminated else cfg.gamma
        sigma = self.td_scaler.update(t.reward, gamma_t, t.terminated, t.truncated)
        delta = t.reward + gamma_t * v1 - v0
        d = delta / sigma

        # d/dV(S) of d^2 = -2 d / sigma.
        self.critic.backward(self._one, c_cache, row=0, scale=-2.0 * d / sigma,
                             g_dot_features=v0 - self._critic_out_bias[0])
        g_out = score_function_grad(self.head, s, eps, d, cfg.entropy_coef)
        self._g_out.numpy()[0] = g_out
        self.actor.backward(self._g_out, a_cache, row=0, g_dot_features=sum(
            g * (o - b) for g, o, b in zip(g_out, row, self._actor_out_bias)))
        self.critic_opt.step()
        self.actor_opt.step()
        self.updates += 1
        entropy = sum(math.log(sd) + GAUSS_ENTROPY for sd in s.std)  # before tanh
        return {"losses/critic": d * d,
                "losses/actor": -(s.log_prob * d + cfg.entropy_coef * entropy),
                "losses/td_error": delta, "losses/td_sigma": sigma, "losses/v": v0,
                "losses/entropy": -s.log_prob}

    def policy_params(self) -> torch.Tensor:
        """The actor's parameters as one flat vector (a live view)."""
        return self.actor.flat_param

    def _parts(self) -> dict[str, Any]:
        return {"actor": self.actor, "critic": self.critic, "actor_opt": self.actor_opt,
                "critic_opt": self.critic_opt, "td_scaler": self.td_scaler}

    def state_dict(self) -> dict[str, Any]:
        return {**parts_state(self._parts()), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_parts_state(self._parts(), state)
        self.updates = int(state["updates"])

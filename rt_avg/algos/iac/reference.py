"""IAC in plain PyTorch: the update as published, readable top to bottom.

This is the definition; :mod:`rt_avg.algos.iac.learner` computes the same update with
hand-written gradients and the tests pin it to this one over hundreds of updates.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Normal

from rt_avg.algos.avg.reference import Net
from rt_avg.core.config import AgentConfig
from rt_avg.core import Transition
from rt_avg.nn.normalization import TDErrorScaler

ATANH_LIMIT = 1.0 - 1e-6
"""A stale executed action is read back as u = atanh(A) with |A| clipped to this (|u| <= 7.25)."""


def pre_squash_gaussian(actor: Net, obs: torch.Tensor, cfg: AgentConfig) -> Normal:
    """The actor's Gaussian over u (the action before tanh) at ``obs``."""
    mu, h = actor(obs).chunk(2)
    h = h.clamp(cfg.log_std_min, cfg.log_std_max)
    # As published, the second head is the log of the variance: std = exp(h / 2).
    log_std = h / 2 if cfg.std_param == "published" else h
    return Normal(mu, log_std.exp())


def squashed_log_prob(dist: Normal, u: torch.Tensor) -> torch.Tensor:
    """log pi(tanh(u)): the Gaussian density of u minus log |d tanh(u) / du|."""
    return dist.log_prob(u).sum() - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum()


class ReferenceIAC:
    """One incremental actor-critic update per transition: V critic, score-function actor."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: AgentConfig, seed: int,
                 dtype: torch.dtype = torch.float64) -> None:
        self.cfg, self.dtype = cfg, dtype
        torch.manual_seed(seed)
        self.actor = Net(obs_dim, cfg.hidden_sizes, 2 * act_dim, cfg.penultimate_norm).to(dtype)
        self.critic = Net(obs_dim, cfg.hidden_sizes, 1, cfg.penultimate_norm).to(dtype)
        betas = (cfg.beta1, 0.999)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), cfg.actor_lr, betas,
                                          eps=cfg.adam_eps)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), cfg.critic_lr, betas,
                                           eps=cfg.adam_eps)
        # Fed the raw reward; G is the discounted return G <- gamma G + R.
        self.td_scaler = TDErrorScaler(cfg.scale_td, cfg.td_return_rule, cfg.gamma)
        self.updates = 0

    def update(self, t: Transition) -> dict[str, float]:
        cfg = self.cfg
        tensor = lambda x: torch.as_tensor(x, dtype=self.dtype)  # noqa: E731
        s, s_next = tensor(t.obs), tensor(t.next_obs)

        dist = pre_squash_gaussian(self.actor, s, cfg)
        # The executed action's u, a constant (score-function gradient).  With the learner's
        # own weights it is mu + std * eps exactly; with older ones atanh(A).
        fresh = t.policy_version is None or t.policy_version == self.updates
        with torch.no_grad():
            u = (dist.mean + dist.stddev * tensor(t.eps) if fresh
                 else torch.atanh(tensor(t.action).clamp(-ATANH_LIMIT, ATANH_LIMIT)))
        log_prob = squashed_log_prob(dist, u)

        gamma_t = 0.0 if t.terminated else cfg.gamma
        sigma = self.td_scaler.update(t.reward, gamma_t, t.terminated, t.truncated)
        v = self.critic(s)[0]
        with torch.no_grad():
            v_next = self.critic(s_next)[0]
        delta = t.reward + gamma_t * v_next - v
        scaled = delta / sigma  # sigma = 1 without TD scaling; actor and critic both use it
        critic_loss = scaled ** 2
        entropy = dist.entropy().sum()  # of the Gaussian before tanh
        actor_loss = -(log_prob * scaled.detach() + cfg.entropy_coef * entropy)

        self.actor_opt.zero_grad()
        self.critic_opt.zero_grad()
        actor_loss.backward()
        critic_loss.backward()
        self.actor_opt.step()
        self.critic_opt.step()
        self.updates += 1
        return {"losses/td_error": delta.item(), "losses/td_sigma": sigma, "losses/v": v.item(),
                "losses/entropy": -log_prob.item()}

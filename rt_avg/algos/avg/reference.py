"""AVG in plain PyTorch: the update as published, readable top to bottom.

This is the definition; :mod:`rt_avg.algos.avg.learner` computes the same update a few
times faster and the tests pin it to this one over hundreds of updates.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rt_avg.core.config import AgentConfig
from rt_avg.core import Transition
from rt_avg.nn.noise import NoiseStream
from rt_avg.nn.normalization import TDErrorScaler


class Net(nn.Module):
    """LeakyReLU MLP; the last hidden activation is L2-normalised (penultimate norm)."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], out_dim: int, pnorm: bool) -> None:
        super().__init__()
        sizes = (in_dim, *hidden)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], out_dim)
        self.pnorm = pnorm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = F.leaky_relu(layer(x), 0.01)
        if self.pnorm:
            x = x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        return self.out(x)


class ReferenceAVG:
    """One AVG update per transition: no buffer, no target network, batch size 1."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: AgentConfig, seed: int,
                 dtype: torch.dtype = torch.float64) -> None:
        self.cfg, self.act_dim, self.dtype = cfg, act_dim, dtype
        h = cfg.hidden_sizes
        self.actor = Net(obs_dim, h, 2 * act_dim, cfg.penultimate_norm).to(dtype)
        self.critic = Net(obs_dim + act_dim, h, 1, cfg.penultimate_norm).to(dtype)
        betas = (cfg.beta1, 0.999)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), cfg.actor_lr, betas,
                                          eps=cfg.adam_eps)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), cfg.critic_lr, betas,
                                           eps=cfg.adam_eps)
        self.td_scaler = TDErrorScaler(cfg.scale_td, cfg.td_return_rule)
        self.noise = NoiseStream(seed, 1, act_dim)  # A' ~ pi(.|S'), as the fast learner
        self.updates = 0

    def sample(self, obs: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised A = tanh(mu + std * eps) and log pi(A|S)."""
        cfg = self.cfg
        mu, h = self.actor(obs).split(self.act_dim)
        h = h.clamp(cfg.log_std_min, cfg.log_std_max)
        # As published, the second head is the log of the variance: std = exp(h / 2).
        log_std = h / 2 if cfg.std_param == "published" else h
        u = mu + log_std.exp() * eps
        log_prob = (-0.5 * eps ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum()
        log_prob = log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum()  # tanh
        return torch.tanh(u), log_prob

    def q(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.critic(torch.cat([obs, action]))[0]

    def update(self, t: Transition) -> dict[str, float]:
        cfg, eta = self.cfg, self.cfg.entropy_coef
        tensor = lambda x: torch.as_tensor(x, dtype=self.dtype)  # noqa: E731
        s, s_next = tensor(t.obs), tensor(t.next_obs)

        a, log_prob = self.sample(s, tensor(t.eps))  # gradient flows through a
        with torch.no_grad():
            a_next, log_prob_next = self.sample(s_next, tensor(self.noise.next()))
            v_next = self.q(s_next, a_next) - eta * log_prob_next

        # R and S' belong to the executed action; with the learner's own weights it is a.
        fresh = t.policy_version is None or t.policy_version == self.updates
        a_executed = a.detach() if fresh else tensor(t.action)
        gamma_t = 0.0 if t.terminated else cfg.gamma
        sigma = self.td_scaler.update(t.reward - eta * log_prob.item(), gamma_t,
                                      t.terminated, t.truncated)
        q = self.q(s, a_executed)
        delta = t.reward + gamma_t * v_next - q
        critic_loss = (delta / sigma) ** 2
        actor_loss = eta * log_prob - self.q(s, a)

        # Each loss updates only its own network; both use the pre-update parameters.
        self.actor_opt.zero_grad()
        self.critic_opt.zero_grad()
        actor_loss.backward(inputs=list(self.actor.parameters()))
        critic_loss.backward(inputs=list(self.critic.parameters()))
        self.actor_opt.step()
        self.critic_opt.step()
        self.updates += 1
        return {"losses/td_error": delta.item(), "losses/td_sigma": sigma,
                "losses/q": q.item(), "losses/entropy": -log_prob.item()}

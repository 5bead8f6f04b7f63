"""SAC-1 in plain PyTorch: the update as published, readable top to bottom.

This is the definition; :mod:`rt_avg.algos.sac1.learner` computes the same update with
hand-written gradients and the tests pin it to this one over hundreds of updates.
"""

from __future__ import annotations

import copy
import math

import torch

from rt_avg.algos.avg.reference import Net
from rt_avg.algos.iac.reference import pre_squash_gaussian, squashed_log_prob
from rt_avg.core.config import AgentConfig, Sac1Config
from rt_avg.core import Transition
from rt_avg.nn.noise import NoiseStream
from rt_avg.nn.normalization import TDErrorScaler


class ReferenceSAC1:
    """One SAC update per transition with batch size 1 and no replay buffer."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: AgentConfig, sac: Sac1Config,
                 seed: int, dtype: torch.dtype = torch.float64) -> None:
        self.cfg, self.sac, self.dtype = cfg, sac, dtype
        torch.manual_seed(seed)
        h, pnorm = cfg.hidden_sizes, cfg.penultimate_norm
        self.actor = Net(obs_dim, h, 2 * act_dim, pnorm).to(dtype)
        self.q1 = Net(obs_dim + act_dim, h, 1, pnorm).to(dtype)
        self.q2 = Net(obs_dim + act_dim, h, 1, pnorm).to(dtype)
        self.q1_target, self.q2_target = copy.deepcopy(self.q1), copy.deepcopy(self.q2)
        self.log_alpha = torch.tensor(math.log(sac.init_temperature), dtype=dtype,
                                      requires_grad=True)
        self.target_entropy = -act_dim
        betas = (cfg.beta1, 0.999)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), cfg.actor_lr, betas,
                                          eps=cfg.adam_eps)
        self.critic_opt = torch.optim.Adam([*self.q1.parameters(), *self.q2.parameters()],
                                           cfg.critic_lr, betas, eps=cfg.adam_eps)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], sac.alpha_lr, (0.5, 0.999),
                                          eps=cfg.adam_eps)
        self.td_scaler = TDErrorScaler(cfg.scale_td, cfg.td_return_rule)
        self.noise = NoiseStream(seed, 1, act_dim)  # A' first, then the actor's A
        self.updates = 0

    def sample(self, obs: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised A = tanh(mu + std * eps) and log pi(A|S)."""
        dist = pre_squash_gaussian(self.actor, obs, self.cfg)
        u = dist.mean + dist.stddev * eps
        return torch.tanh(u), squashed_log_prob(dist, u)

    @staticmethod
    def q(net: Net, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return net(torch.cat([obs, action]))[0]

    def update(self, t: Transition) -> dict[str, float]:
        cfg = self.cfg
        tensor = lambda x: torch.as_tensor(x, dtype=self.dtype)  # noqa: E731
        s, s_next = tensor(t.obs), tensor(t.next_obs)
        eps_next, eps_actor = tensor(self.noise.next()), tensor(self.noise.next())
        alpha = self.log_alpha.exp().item()

        # TD scaler: entropy-augmented reward, log pi of the executed sample.
        with torch.no_grad():
            a_theta, log_prob = self.sample(s, tensor(t.eps))
        gamma_t = 0.0 if t.terminated else cfg.gamma
        sigma = self.td_scaler.update(t.reward - alpha * log_prob.item(), gamma_t,
                                      t.terminated, t.truncated)

        # Critics first, at the executed action (a_theta when the acting weights were ours).
        with torch.no_grad():
            a_next, log_prob_next = self.sample(s_next, eps_next)
            v_next = torch.min(self.q(self.q1_target, s_next, a_next),
                               self.q(self.q2_target, s_next, a_next)) - alpha * log_prob_next
            y = t.reward + gamma_t * v_next
        fresh = t.policy_version is None or t.policy_version == self.updates
        a = a_theta if fresh else tensor(t.action)
        q1, q2 = self.q(self.q1, s, a), self.q(self.q2, s, a)
        critic_loss = ((q1 - y) / sigma) ** 2 + ((q2 - y) / sigma) ** 2
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()

        # Then the actor: a fresh reparameterised A from S, through the updated critics.
        a_new, log_prob_new = self.sample(s, eps_actor)
        q_new = torch.min(self.q(self.q1, s, a_new), self.q(self.q2, s, a_new))
        actor_loss = alpha * log_prob_new - q_new
        self.actor_opt.zero_grad()
        actor_loss.backward(inputs=list(self.actor.parameters()))
        self.actor_opt.step()

        # Temperature: alpha (-log pi - target entropy), gradient to log alpha only.
        alpha_loss = self.log_alpha.exp() * (-log_prob_new.item() - self.target_entropy)
        self.alpha_opt.zero_grad()
        alpha_loss.backward()
        self.alpha_opt.step()

        with torch.no_grad():  # Polyak-averaged targets
            for net, target in ((self.q1, self.q1_target), (self.q2, self.q2_target)):
                for p, p_target in zip(net.parameters(), target.parameters()):
                    p_target.mul_(1 - self.sac.tau).add_(self.sac.tau * p)
        self.updates += 1
        return {"losses/td_error": (y - q1).item(), "losses/td_sigma": sigma,
                "losses/q": q1.item(), "losses/alpha": alpha, "losses/entropy": -log_prob.item()}

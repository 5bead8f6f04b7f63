"""The SAC-1 learner: the update of :mod:`rt_avg.algos.sac1.reference`, hand-derived.

For one transition (S, A executed, eps, R, S'), with the actor and alpha = exp(log alpha)
before this update, and two fresh noises (A' ~ pi(.|S') first, then the actor's A~):

    y = R + gamma (1 - terminated) (min_i Qtarget_i(S', A') - alpha log pi(A'|S'))
    critic loss = sum_i ((Q_i(S, A) - y) / sigma_td)^2          A a constant; step
    actor loss  = alpha log pi(A~|S) - min_i Q_i(S, A~)          updated critics; step
    alpha loss  = alpha (-log pi(A~|S) - target entropy)          gradient to log alpha; step
    Qtarget_i <- tau Q_i + (1 - tau) Qtarget_i

The TD-error scaler is AVG's: fed R - alpha log pi(A|S), with log pi of the executed sample
A = tanh(mu + std * eps) under the current weights (the acting sample itself when the
acting weights were the learner's own), and the undiscounted return.  When the acting
weights were older (async) the critics are evaluated at the executed action, whose R and S'
these are; the actor resamples in any case.

The gradient of min(Q1, Q2) goes to the smaller one (Q1 on a tie).  The actor's output
gradient is the same expression as AVG's (rt_avg.nn.squashed_gaussian) with eta = alpha; the
networks' backward passes are hand-written (rt_avg.nn.networks).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from rt_avg.nn.adam import FlatAdam
from rt_avg.algos.iac.learner import load_parts_state, parts_state
from rt_avg.core.config import AgentConfig, Sac1Config
from rt_avg.core import Transition
from rt_avg.nn.networks import MLP, ForwardCache
from rt_avg.nn.noise import NoiseStream
from rt_avg.nn.normalization import TDErrorScaler
from rt_avg.nn.networks import build_actor, build_critic
from rt_avg.nn.squashed_gaussian import SquashedGaussianHead


class SAC1Learner:
    """Owns the actor, twin critics and their targets, the temperature, the optimisers and
    the TD-error scaler; implements :class:`rt_avg.core.Learner`."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: AgentConfig, sac: Sac1Config,
                 seed: int) -> None:
        self.cfg, self.sac = cfg, sac
        self.obs_dim = obs_dim
        torch.manual_seed(seed)  # network init
        self.actor: MLP = build_actor(obs_dim, act_dim, cfg)
        self.critics = (build_critic(obs_dim, act_dim, cfg), build_critic(obs_dim, act_dim, cfg))
        self.targets = (build_critic(obs_dim, act_dim, cfg), build_critic(obs_dim, act_dim, cfg))
        for q, target in zip(self.critics, self.targets):
            target.flat_param.copy_(q.flat_param)
        betas = (cfg.beta1, 0.999)
        self.actor_opt = FlatAdam(self.actor.flat_param, self.actor.flat_grad, cfg.actor_lr,
                                  betas, cfg.adam_eps)
        self.critic_opts = tuple(FlatAdam(q.flat_param, q.flat_grad, cfg.critic_lr, betas,
                                          cfg.adam_eps) for q in self.critics)
        self.log_alpha = torch.full((1,), math.log(sac.init_temperature))
        self._alpha_grad = torch.zeros(1)
        self.alpha_opt = FlatAdam(self.log_alpha, self._alpha_grad, sac.alpha_lr, (0.5, 0.999),
                                  cfg.adam_eps)
        self.target_entropy = -float(act_dim)
        self.td_scaler = TDErrorScaler(cfg.scale_td, cfg.td_return_rule)
        self.head = SquashedGaussianHead.for_agent(act_dim, cfg)
        self.noise = NoiseStream(seed, 1, act_dim)  # A' first, then the actor's A~
        self.updates = 0
        self._obs2 = torch.empty(2, obs_dim)
        self._x = torch.empty(1, obs_dim + act_dim)
        self._one = torch.ones(1, 1)
        self._g_out = torch.empty(1, 2 * act_dim)
        self._actor_out_bias = self.actor.out.bias.numpy()

    def _q(self, nets: tuple[MLP, MLP], obs: Any, action: Any
           ) -> list[tuple[float, ForwardCache]]:
        """(Q_i(obs, action), its forward cache) for both ``nets``; the caches hold the
        shared input buffer, so they are good until the next call."""
        x = self._x.numpy()
        x[0, :self.obs_dim], x[0, self.obs_dim:] = obs, action
        return [(q.item(), cache) for q, cache in (net.forward_cached(self._x) for net in nets)]

    def update(self, t: Transition) -> dict[str, float]:
        """One SAC-1 update from one transition; returns its metrics."""
        cfg, n = self.cfg, self.obs_dim
        alpha = math.exp(self.log_alpha.item())
        obs2 = self._obs2.numpy()
        obs2[0], obs2[1] = t.obs, t.next_obs
        eps_next, eps_actor = self.noise.next(), self.noise.next()
        out, a_cache = self.actor.forward_cached(self._obs2)
        rows = out.tolist()
        executed = self.head.sample(rows[0], t.eps.tolist())
        nxt = self.head.sample(rows[1], eps_next)
        new = self.head.sample(rows[0], eps_actor)

        gamma_t = 0.0 if t.terminated else cfg.gamma
        sigma = self.td_scaler.update(t.reward - alpha * executed.log_prob, gamma_t,
                                      t.terminated, t.truncated)
        (qt1, _), (qt2, _) = self._q(self.targets, t.next_obs, nxt.action)
        y = t.reward + gamma_t * (min(qt1, qt2) - alpha * nxt.log_prob)

        # Critics at the executed action: d/dQ_i ((Q_i - y) / sigma)^2 = 2 (Q_i - y) / sigma^2.
        stale = t.policy_version is not None and t.policy_version != self.updates
        q_exec = self._q(self.critics, t.obs, t.action if stale else executed.action)
        for net, opt, (q, cache) in zip(self.critics, self.critic_opts, q_exec):
            net.backward(self._one, cache, row=0, scale=2.0 * (q - y) / (sigma * sigma),
                         g_dot_features=q - net.out.bias.item())
            opt.step()

        # Actor through the smaller updated critic at A~ (its parameter gradient written by
        # this pass is never stepped: the next update overwrites it).
        q_new = self._q(self.critics, t.obs, new.action)
        i = 0 if q_new[0][0] <= q_new[1][0] else 1
        q_min, cache = q_new[i]
        dq_dx = self.critics[i].backward(self._one, cache, row=0, input_grad=True,
                                         g_dot_features=q_min - self.critics[i].out.bias.item())
        g_out = self.head.actor_loss_grad(new, eps_actor, dq_dx[0, n:].tolist(), alpha)
        self._g_out.numpy()[0] = g_out
        self.actor.backward(self._g_out, a_cache, row=0, g_dot_features=sum(
            g * (o - b) for g, o, b in zip(g_out, rows[0], self._actor_out_bias)))
        self.actor_opt.step()

        # d/d log alpha of alpha (-log pi(A~|S) - target entropy).
        self._alpha_grad[0] = alpha * (-new.log_prob - self.target_entropy)
        self.alpha_opt.step()
        for q, target in zip(self.critics, self.targets):
            target.flat_param.lerp_(q.flat_param, self.sac.tau)
        self.updates += 1
        (q1, _), (q2, _) = q_exec
        return {"losses/critic": ((q1 - y) * (q1 - y) + (q2 - y) * (q2 - y)) / (sigma * sigma),
                "losses/actor": alpha * new.log_prob - q_min, "losses/td_error": y - q1,
                "losses/q": q1, "losses/td_sigma": sigma, "losses/alpha": alpha,
                "losses/entropy": -executed.log_prob}

    def policy_params(self) -> torch.Tensor:
        """The actor's parameters as one flat vector (a live view)."""
        return self.actor.flat_param

    def _parts(self) -> dict[str, Any]:
        return {"actor": self.actor, "q1": self.critics[0], "q2": self.critics[1],
                "q1_target": self.targets[0], "q2_target": self.targets[1],
                "log_alpha": self.log_alpha, "actor_opt": self.actor_opt,
                "q1_opt": self.critic_opts[0], "q2_opt": self.critic_opts[1],
                "alpha_opt": self.alpha_opt, "td_scaler": self.td_scaler, "noise": self.noise}

    def state_dict(self) -> dict[str, Any]:
        return {**parts_state(self._parts()), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_parts_state(self._parts(), state)
        self.updates = int(state["updates"])

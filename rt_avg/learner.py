"""The AVG learner: one update from the newest transition, no buffer, no target network.

For one transition (S, A = tanh(mu(S) + std(S) * eps), R, S'):

    A' ~ pi(.|S')                                      fresh sample, no gradient
    delta = R + gamma (1 - terminated) (Q(S', A') - eta log pi(A'|S')) - Q(S, A)
    critic loss = (delta / sigma_td)^2                 A treated as a constant
    actor loss  = eta log pi(A|S) - Q(S, A)            gradient through A

Both losses use the pre-update parameters; each network's Adam step sees only the
gradient of its own loss.  Truncation bootstraps; termination does not.

The forward passes are batched (actor on [S; S'], critic on [(S, A); (S', A')]) and the
backward passes are hand-written (see networks.py): one update costs a few hundred
microseconds on one CPU thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rt_avg.adam import FlatAdam
from rt_avg.config import AgentConfig
from rt_avg.networks import MLP
from rt_avg.normalization import TDErrorScaler
from rt_avg.noise import NoiseStream
from rt_avg.policy import build_actor, build_critic
from rt_avg.squashed_gaussian import SquashedGaussianHead


@dataclass
class Transition:
    """One step of experience; observations are already normalised (float32)."""

    obs: np.ndarray
    eps: np.ndarray  # noise that produced the action taken in ``obs``
    reward: float
    next_obs: np.ndarray
    terminated: bool
    truncated: bool


@dataclass
class UpdateStats:
    """Per-update diagnostics (all from pre-update parameters)."""

    q: float
    delta: float
    td_sigma: float
    log_prob: float

    def as_metrics(self, entropy_coef: float) -> dict[str, float]:
        return {
            "losses/critic": (self.delta / self.td_sigma) ** 2,
            "losses/actor": entropy_coef * self.log_prob - self.q,
            "losses/td_error": self.delta,
            "losses/q": self.q,
            "losses/td_sigma": self.td_sigma,
            "losses/entropy": -self.log_prob,
        }


class AVGLearner:
    """Owns the actor, critic, their Adam optimisers and the TD-error scaler."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: AgentConfig, seed: int) -> None:
        self.cfg = cfg
        self.obs_dim, self.act_dim = obs_dim, act_dim
        torch.manual_seed(seed)  # network init
        self.actor: MLP = build_actor(obs_dim, act_dim, cfg)
        self.critic: MLP = build_critic(obs_dim, act_dim, cfg)
        betas = (cfg.beta1, 0.999)
        self.actor_opt = FlatAdam(self.actor.flat_param, self.actor.flat_grad, cfg.actor_lr,
                                  betas, cfg.adam_eps)
        self.critic_opt = FlatAdam(self.critic.flat_param, self.critic.flat_grad, cfg.critic_lr,
                                   betas, cfg.adam_eps)
        self.td_scaler = TDErrorScaler(enabled=cfg.scale_td)
        self.head = SquashedGaussianHead(act_dim, cfg.std_param, cfg.log_std_min,
                                         cfg.log_std_max)
        self.noise = NoiseStream(seed, 1, act_dim)  # next-action noise
        self.updates = 0
        self._obs2 = torch.empty(2, obs_dim)
        self._critic_in = torch.empty(2, obs_dim + act_dim)
        self._one = torch.ones(1, 1)
        self._g_out = torch.empty(1, 2 * act_dim)
        # Float views of the output biases (numpy views of the live parameters).
        self._actor_out_bias = self.actor.out.bias.numpy()
        self._critic_out_bias = self.critic.out.bias.numpy()

    def update(self, t: Transition) -> UpdateStats:
        """One AVG update from one transition."""
        cfg, n = self.cfg, self.obs_dim
        eta = cfg.entropy_coef
        # Actor forward on [S; S'] with the taken noise for S and fresh noise for S'.
        obs2 = self._obs2.numpy()
        obs2[0], obs2[1] = t.obs, t.next_obs
        eps = t.eps.tolist()
        eps_next = self.noise.next()
        out, a_cache = self.actor.forward_cached(self._obs2)
        rows = out.tolist()
        s, s_next = self.head.sample(rows[0], eps), self.head.sample(rows[1], eps_next)

        # Critic forward on [(S, A); (S', A')]; A enters as a constant.
        critic_in = self._critic_in.numpy()
        critic_in[:, :n], critic_in[:, n:] = obs2, (s.action, s_next.action)
        q, c_cache = self.critic.forward_cached(self._critic_in)
        q0, q1 = q.view(-1).tolist()
        logp0, logp1 = s.log_prob, s_next.log_prob

        gamma_t = 0.0 if t.terminated else cfg.gamma
        sigma = self.td_scaler.update(t.reward - eta * logp0, gamma_t,
                                      t.terminated or t.truncated)
        delta = t.reward + gamma_t * (q1 - eta * logp1) - q0

        # One critic VJP gives both dQ/dphi (scaled into the critic loss gradient,
        # d/dQ (delta/sigma)^2 = -2 delta / sigma^2) and dQ/dA (for the actor).
        dq_dx = self.critic.backward(self._one, c_cache, row=0,
                                     scale=-2.0 * delta / (sigma * sigma), input_grad=True,
                                     out_dot=q0 - self._critic_out_bias[0])
        g_out = self.head.actor_loss_grad(s, eps, dq_dx[0, n:].tolist(), eta)
        self._g_out.numpy()[0] = g_out
        self.actor.backward(self._g_out, a_cache, row=0, out_dot=sum(
            g * (o - b) for g, o, b in zip(g_out, rows[0], self._actor_out_bias)))

        self.critic_opt.step()
        self.actor_opt.step()
        self.updates += 1
        return UpdateStats(q=q0, delta=delta, td_sigma=sigma, log_prob=logp0)

    def actor_weights(self) -> torch.Tensor:
        """The actor's parameters as one flat vector (for the acting process)."""
        return self.actor.flat_param.clone()

    def state_dict(self) -> dict:
        return {
            "actor": self.actor.flat_param.clone(), "critic": self.critic.flat_param.clone(),
            "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict(),
            "td_scaler": self.td_scaler.state_dict(), "noise": self.noise.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict) -> None:
        self.actor.flat_param.copy_(state["actor"])
        self.critic.flat_param.copy_(state["critic"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.td_scaler.load_state_dict(state["td_scaler"])
        self.noise.load_state_dict(state["noise"])
        self.updates = int(state["updates"])

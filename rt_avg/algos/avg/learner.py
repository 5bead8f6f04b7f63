"""The fast AVG learner: the update of :mod:`rt_avg.algos.avg.reference`, hand-derived.

For one transition (S, A executed, eps, R, S'), with A_theta = tanh(mu(S) + std(S) * eps)
under the learner's current weights:

    A' ~ pi(.|S')                                      fresh sample, no gradient
    delta = R + gamma (1 - terminated) (Q(S', A') - eta log pi(A'|S')) - Q(S, A)
    critic loss = (delta / sigma_td)^2                 A, the executed action, a constant
    actor loss  = eta log pi(A_theta|S) - Q(S, A_theta)   gradient through A_theta

Both losses use the pre-update parameters; each network's Adam step sees only the
gradient of its own loss.  Truncation bootstraps; termination does not.  When the acting
weights were the learner's own (inline, sequential: ``t.policy_version == updates``)
A_theta is the executed action and one critic pass serves both losses; when they were
older (async) the critic is also evaluated at A_theta for the actor's dQ/dA.

The forward passes are batched (actor on [S; S'], critic on [(S, A); (S', A')]) and the
backward passes are hand-written (see networks.py): one update costs a few hundred
microseconds on one CPU thread.
"""

from __future__ import annotations

import torch

from rt_avg.nn.adam import FlatAdam
from rt_avg.core.config import AgentConfig
from rt_avg.core import Transition
from rt_avg.nn.networks import MLP
from rt_avg.nn.normalization import TDErrorScaler
from rt_avg.nn.noise import NoiseStream
from rt_avg.nn.networks import build_actor, build_critic
from rt_avg.nn.squashed_gaussian import SquashedGaussianHead


def update_metrics(q: float, delta: float, sigma: float, log_prob: float, eta: float,
                   q_actor: float) -> dict[str, float]:
    """The metrics of one update (all from pre-update parameters); ``q`` is Q(S, A) of the
    executed action, ``q_actor`` Q(S, A_theta)."""
    return {
        # x * x, not x ** 2: a huge finite delta then gives inf (reported as a non-finite
        # loss) instead of Python's OverflowError.
        "losses/critic": (delta / sigma) * (delta / sigma),
        "losses/actor": eta * log_prob - q_actor,
        "losses/td_error": delta,
        "losses/q": q,
        "losses/td_sigma": sigma,
        "losses/entropy": -log_prob,
    }


class AVGLearner:
    """Owns the actor, critic, their Adam optimisers and the TD-error scaler; implements
    :class:`rt_avg.core.Learner`."""

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
        self.td_scaler = TDErrorScaler(enabled=cfg.scale_td, return_rule=cfg.td_return_rule)
        self.head = SquashedGaussianHead.for_agent(act_dim, cfg)
        self.noise = NoiseStream(seed, 1, act_dim)  # next-action noise
        # Buffers reused by every update (no allocation on the learning path).
        self._obs2 = torch.empty(2, obs_dim)
        self._critic_in = torch.empty(3, obs_dim + act_dim)
        self._one = torch.ones(1, 1)
        self._g_out = torch.empty(1, 2 * act_dim)
        # Float views of the output biases (numpy views of the live parameters).
        self._actor_out_bias = self.actor.out.bias.numpy()
        self._critic_out_bias = self.critic.out.bias.numpy()
        self.updates = 0

    def update(self, t: Transition) -> dict[str, float]:
        """One AVG update from one transition; returns its metrics."""
        cfg, n = self.cfg, self.obs_dim
        eta = cfg.entropy_coef
        # Actor forward on [S; S'] with the taken noise for S and fresh noise for S'.
        obs2 = self._obs2.numpy()
        obs2[0], obs2[1] = t.obs, t.next_obs
        eps = t.eps.tolist()
        eps_next = self.noise.next()
        out, a_cache = self.actor.forward_cached(self._obs2)
        rows = out.tolist()
        sampled, sampled_next = self.head.sample(rows[0], eps), self.head.sample(rows[1], eps_next)

        # Critic forward on [(S, A); (S', A')] (+ (S, A_theta) when the acting weights
        # were older); actions enter as constants.
        stale = t.policy_version is not None and t.policy_version != self.updates
        critic_rows = 3 if stale else 2
        critic_in = self._critic_in.numpy()
        critic_in[:2, :n] = obs2
        critic_in[:2, n:] = (t.action if stale else sampled.action), sampled_next.action
        if stale:
            critic_in[2, :n], critic_in[2, n:] = t.obs, sampled.action
        q, c_cache = self.critic.forward_cached(self._critic_in[:critic_rows])
        q_all = q.view(-1).tolist()
        q0, q1 = q_all[0], q_all[1]
        logp0, logp1 = sampled.log_prob, sampled_next.log_prob

        gamma_t = 0.0 if t.terminated else cfg.gamma
        sigma = self.td_scaler.update(t.reward - eta * logp0, gamma_t, t.terminated,
                                      t.truncated)
        delta = t.reward + gamma_t * (q1 - eta * logp1) - q0

        # dQ/dA at A_theta for the actor.  Fresh: one critic VJP gives both dQ/dphi (scaled
        # into the critic loss gradient, d/dQ (delta/sigma)^2 = -2 delta / sigma^2) and
        # dQ/dA.  Stale: a VJP at row 2 first (its parameter gradient is overwritten by
        # the row-0 pass that follows).
        q_actor = q_all[2] if stale else q0
        if stale:
            dq_dx = self.critic.backward(self._one, c_cache, row=2, input_grad=True,
                                         g_dot_features=q_actor - self._critic_out_bias[0])
        grad_x = self.critic.backward(self._one, c_cache, row=0,
                                      scale=-2.0 * delta / (sigma * sigma), input_grad=not stale,
                                      g_dot_features=q0 - self._critic_out_bias[0])
        if not stale:
            dq_dx = grad_x
        g_out = self.head.actor_loss_grad(sampled, eps, dq_dx[0, n:].tolist(), eta)
        self._g_out.numpy()[0] = g_out
        self.actor.backward(self._g_out, a_cache, row=0, g_dot_features=sum(
            g * (o - b) for g, o, b in zip(g_out, rows[0], self._actor_out_bias)))

        self.critic_opt.step()
        self.actor_opt.step()
        self.updates += 1
        return update_metrics(q0, delta, sigma, logp0, eta, q_actor)

    def policy_params(self) -> torch.Tensor:
        """The actor's parameters as one flat vector (a live view)."""
        return self.actor.flat_param

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

"""One IAC update against an independent autograd calculation on a tiny network.

The expected step is written out here (functional networks, the Gaussian's log density
and entropy by formula, the TD scaler's sigma from plain lists, Adam's first step); only
the starting weights come from the learner.
"""

import math

import numpy as np
import pytest
import torch

from autograd_nets import float64  # noqa: F401
from autograd_nets import (adam_first_step, f64, flat, forward, gaussian, leaves, log_pi,
                           perturb, scaler_sigma)
from rt_avg.algos.iac.learner import IACLearner
from rt_avg.core.config import AgentConfig
from rt_avg.core import Transition

OBS, ACT = 3, 2
pytestmark = pytest.mark.usefixtures("float64")


def _learner(cfg, seed=3):
    learner = IACLearner(OBS, ACT, cfg, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    perturb(learner.actor, gen)
    perturb(learner.critic, gen)
    return learner


def _expected_step(learner, t, cfg, sigma, u=None):
    """The IAC step by hand: V critic, delta / sigma, score-function actor gradient."""
    actor_p, critic_p = leaves(learner.actor), leaves(learner.critic)
    s, s2 = f64(t.obs), f64(t.next_obs)
    mu, log_std = gaussian(forward(actor_p, s, cfg.penultimate_norm), ACT, cfg.std_param)
    if u is None:  # the acting weights were the learner's own: u = mu + std * eps
        u = (mu + torch.exp(log_std) * f64(t.eps)).detach()
    lp = log_pi(u, mu, log_std)
    entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum()
    v = forward(critic_p, s, cfg.penultimate_norm)[0]
    v_next = forward(critic_p, s2, cfg.penultimate_norm)[0].detach()
    gamma_t = 0.0 if t.terminated else cfg.gamma
    delta = t.reward + gamma_t * v_next - v
    d = delta / sigma
    g_critic = torch.autograd.grad(d ** 2, critic_p)
    g_actor = torch.autograd.grad(-(lp * d.detach() + cfg.entropy_coef * entropy), actor_p)
    return {
        "delta": delta.item(), "log_pi": lp.item(), "g_actor": flat(g_actor),
        "g_critic": flat(g_critic),
        "actor": flat(adam_first_step(actor_p, g_actor, cfg.actor_lr, cfg.beta1)),
        "critic": flat(adam_first_step(critic_p, g_critic, cfg.critic_lr, cfg.beta1)),
    }


def _history(learner, rng, gamma):
    """Feed the scaler a history with two terminations; return what it was fed as lists
    plus the discounted G still running."""
    rewards, gammas, returns, g = [], [], [], 0.0
    for i in range(25):
        r, term = float(rng.normal(1.0, 2.0)), i in (7, 16)
        learner.td_scaler.update(r, 0.0 if term else gamma, term, False)
        rewards.append(r)
        gammas.append(0.0 if term else gamma)
        g = gamma * g + r
        if term:
            returns.append(g)
            g = 0.0
    return rewards, gammas, returns, g


CASES = [  # terminated, truncated, beta1, std_param, scale_td, penultimate_norm
    (False, False, 0.0, "published", True, True),
    (True, False, 0.9, "published", True, False),
    (False, True, 0.0, "log_std", True, True),
    (True, False, 0.9, "published", False, True),
]


@pytest.mark.parametrize("terminated,truncated,beta1,std_param,scale_td,pnorm", CASES)
def test_update_matches_independent_step(terminated, truncated, beta1, std_param, scale_td,
                                         pnorm):
    cfg = AgentConfig(hidden_sizes=(5, 4), actor_lr=1e-2, critic_lr=2e-2, beta1=beta1,
                      entropy_coef=0.3, gamma=0.9, std_param=std_param, scale_td=scale_td,
                      penultimate_norm=pnorm)
    learner = _learner(cfg)
    rng = np.random.default_rng(4)
    rewards, gammas, returns, g = _history(learner, rng, cfg.gamma)
    t = Transition(rng.normal(size=OBS).astype(np.float32), np.zeros(ACT, np.float32),
                   rng.normal(size=ACT).astype(np.float32), 0.7,
                   rng.normal(size=OBS).astype(np.float32), terminated, truncated)
    # The scaler sees the raw reward and the discounted return (recorded at termination).
    if terminated:
        returns = [*returns, cfg.gamma * g + t.reward]
    sigma = scaler_sigma([*rewards, t.reward], [*gammas, 0.0 if terminated else cfg.gamma],
                         returns) if scale_td else 1.0
    if scale_td:
        assert abs(sigma - 1.0) > 0.1
    expected = _expected_step(learner, t, cfg, sigma)

    metrics = learner.update(t)

    assert metrics["losses/td_sigma"] == pytest.approx(sigma, rel=1e-12)
    assert metrics["losses/td_error"] == pytest.approx(expected["delta"], rel=1e-9)
    assert metrics["losses/entropy"] == pytest.approx(-expected["log_pi"], rel=1e-9)
    torch.testing.assert_close(learner.actor.flat_grad, expected["g_actor"], rtol=1e-9,
                               atol=1e-12)
    torch.testing.assert_close(learner.critic.flat_grad, expected["g_critic"], rtol=1e-9,
                               atol=1e-12)
    torch.testing.assert_close(learner.actor.flat_param, expected["actor"], rtol=1e-9,
                               atol=1e-12)
    torch.testing.assert_close(learner.critic.flat_param, expected["critic"], rtol=1e-9,
                               atol=1e-12)


def test_termination_stops_bootstrapping_and_truncation_does_not():
    cfg = AgentConfig(hidden_sizes=(5, 4), gamma=0.9, scale_td=False)
    rng = np.random.default_rng(5)
    obs, nxt = rng.normal(size=OBS).astype(np.float32), rng.normal(size=OBS).astype(np.float32)
    eps = rng.normal(size=ACT).astype(np.float32)
    deltas = {}
    for end in ("none", "terminated", "truncated"):
        t = Transition(obs, np.zeros(ACT, np.float32), eps, 0.5, nxt, end == "terminated",
                       end == "truncated")
        deltas[end] = _learner(cfg).update(t)["losses/td_error"]
    v_next = forward(leaves(_learner(cfg).critic), f64(nxt), True)[0].item()
    assert deltas["truncated"] == pytest.approx(deltas["none"], rel=1e-12)
    assert deltas["none"] - deltas["terminated"] == pytest.approx(0.9 * v_next, rel=1e-9)
    assert abs(v_next) > 1e-3


def test_scaler_return_is_discounted():
    """The discounted G the test expects is not the undiscounted one: sigma differs."""
    rng = np.random.default_rng(4)
    learner = _learner(AgentConfig(hidden_sizes=(5, 4), gamma=0.9))
    rewards, gammas, returns, _ = _history(learner, rng, 0.9)
    undiscounted = [sum(rewards[:8]), sum(rewards[8:17])]
    assert learner.td_scaler.sigma == pytest.approx(scaler_sigma(rewards, gammas, returns))
    assert abs(scaler_sigma(rewards, gammas, undiscounted) - learner.td_scaler.sigma) > 0.05


def test_stale_action_uses_log_pi_of_the_executed_action():
    """Async: the action came from older weights.  The score-function gradient is that of
    log pi(A_executed|S) under the current weights, u = atanh(A_executed); reading the same
    transition as fresh (u = mu + std * eps) gives another step."""
    cfg = AgentConfig(hidden_sizes=(5, 4), actor_lr=1e-2, critic_lr=2e-2, beta1=0.9,
                      entropy_coef=0.3, gamma=0.9, scale_td=False)
    rng = np.random.default_rng(6)
    executed = np.array([0.8, -0.35], np.float32)
    t = Transition(rng.normal(size=OBS).astype(np.float32), executed,
                   rng.normal(size=ACT).astype(np.float32), 1.3,
                   rng.normal(size=OBS).astype(np.float32), False, False, policy_version=0)
    stale = _learner(cfg)
    stale.updates = 4  # the acting weights were 4 updates older
    expected = _expected_step(stale, t, cfg, 1.0, u=torch.atanh(f64(executed)))
    stale.update(t)
    torch.testing.assert_close(stale.actor.flat_grad, expected["g_actor"], rtol=1e-9,
                               atol=1e-12)
    torch.testing.assert_close(stale.actor.flat_param, expected["actor"], rtol=1e-9,
                               atol=1e-12)

    fresh = _learner(cfg)
    fresh.update(Transition(t.obs, executed, t.eps, 1.3, t.next_obs, False, False))
    assert (fresh.actor.flat_grad - stale.actor.flat_grad).abs().max() > 1e-3


def test_stale_action_at_the_bound_is_clipped():
    """An executed action of exactly +-1 (float32 rounding of tanh) still gives finite
    gradients: |A| is clipped to 1 - 1e-6 before atanh."""
    cfg = AgentConfig(hidden_sizes=(5, 4), scale_td=False)
    learner = _learner(cfg)
    learner.updates = 2
    t = Transition(np.ones(OBS, np.float32), np.array([1.0, -1.0], np.float32),
                   np.zeros(ACT, np.float32), 1.0, np.zeros(OBS, np.float32), False, False,
                   policy_version=0)
    u = torch.atanh(f64([1 - 1e-6, -(1 - 1e-6)]))
    expected = _expected_step(learner, t, cfg, 1.0, u=u)
    learner.update(t)
    assert torch.isfinite(learner.actor.flat_param).all()
    torch.testing.assert_close(learner.actor.flat_grad, expected["g_actor"], rtol=1e-7,
                               atol=1e-10)

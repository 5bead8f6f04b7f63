"""One SAC-1 update against an independent autograd calculation on tiny networks.

The expected step is written out here: target from the target critics, both critics'
Adam step, the actor's step through the *updated* critics at a resampled action, the
temperature's Adam step (betas 0.5, 0.999) and the Polyak target update.  Only the
starting weights and the learner's next two noise draws come from the learner.
"""

import copy

import numpy as np
import pytest
import torch

from autograd_nets import float64  # noqa: F401
from autograd_nets import (adam_first_step, f64, flat, forward, gaussian, leaves, log_pi,
                           perturb, scaler_sigma)
from rt_avg.algos.sac1.learner import SAC1Learner
from rt_avg.core.config import AgentConfig, Sac1Config
from rt_avg.core import Transition

OBS, ACT = 3, 2
pytestmark = pytest.mark.usefixtures("float64")


def _learner(cfg, sac, seed=3):
    learner = SAC1Learner(OBS, ACT, cfg, sac, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    # Online critics and targets apart, so using the wrong ones shows.
    for net in (learner.actor, *learner.critics, *learner.targets):
        perturb(net, gen)
    return learner


def _expected_step(learner, t, cfg, sac, sigma_of, executed=None):
    """The SAC-1 step by hand.  ``sigma_of(r_ent)`` gives the TD scaler's sigma."""
    noise = copy.deepcopy(learner.noise)
    eps_next, eps_actor = f64(noise.next()), f64(noise.next())
    actor_p = leaves(learner.actor)
    q_p = [leaves(q) for q in learner.critics]
    target_p = [leaves(q) for q in learner.targets]
    pn = cfg.penultimate_norm
    alpha = float(np.exp(learner.log_alpha.item()))
    s, s2 = f64(t.obs), f64(t.next_obs)

    def sample(obs, eps):
        mu, log_std = gaussian(forward(actor_p, obs, pn), ACT, cfg.std_param)
        u = mu + torch.exp(log_std) * eps
        return torch.tanh(u), log_pi(u, mu, log_std)

    def q(params, obs, action):
        return forward(params, torch.cat([obs, action]), pn)[0]

    a_theta, lp = sample(s, f64(t.eps))
    sigma = sigma_of(t.reward - alpha * lp.item())
    a2, lp2 = sample(s2, eps_next)
    gamma_t = 0.0 if t.terminated else cfg.gamma
    y = (t.reward + gamma_t * (torch.min(q(target_p[0], s2, a2), q(target_p[1], s2, a2))
                               - alpha * lp2)).detach()
    a = a_theta.detach() if executed is None else f64(executed)
    q_now = [q(p, s, a) for p in q_p]
    critic_loss = sum(((qi - y) / sigma) ** 2 for qi in q_now)
    g_q = [torch.autograd.grad(critic_loss, p, retain_graph=True) for p in q_p]
    q_new = [adam_first_step(p, g, cfg.critic_lr, cfg.beta1) for p, g in zip(q_p, g_q)]

    a_new, lp_new = sample(s, eps_actor)
    q_new_leaves = [[p.requires_grad_() for p in ps] for ps in q_new]
    actor_loss = alpha * lp_new - torch.min(q(q_new_leaves[0], s, a_new),
                                            q(q_new_leaves[1], s, a_new))
    g_actor = torch.autograd.grad(actor_loss, actor_p)
    log_alpha = f64(learner.log_alpha.item()).requires_grad_()
    alpha_loss = log_alpha.exp() * (-lp_new.item() + ACT)  # target entropy -|A|
    (g_alpha,) = torch.autograd.grad(alpha_loss, [log_alpha])
    tau = sac.tau
    return {
        "sigma": sigma, "y": y.item(), "q1": q_now[0].item(),
        "critics": [flat(p).detach() for p in q_new],
        "actor": flat(adam_first_step(actor_p, g_actor, cfg.actor_lr, cfg.beta1)),
        "log_alpha": adam_first_step([log_alpha], [g_alpha], sac.alpha_lr, 0.5)[0].item(),
        "targets": [tau * flat(new).detach() + (1 - tau) * flat(old).detach()
                    for new, old in zip(q_new, target_p)],
    }


def _assert_step(learner, expected, metrics):
    assert metrics["losses/td_sigma"] == pytest.approx(expected["sigma"], rel=1e-12)
    assert metrics["losses/td_error"] == pytest.approx(expected["y"] - expected["q1"], rel=1e-9)
    assert metrics["losses/q"] == pytest.approx(expected["q1"], rel=1e-9)
    for net, want in zip(learner.critics, expected["critics"]):
        torch.testing.assert_close(net.flat_param, want, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(learner.actor.flat_param, expected["actor"], rtol=1e-9,
                               atol=1e-12)
    assert learner.log_alpha.item() == pytest.approx(expected["log_alpha"], rel=1e-12)
    for net, want in zip(learner.targets, expected["targets"]):
        torch.testing.assert_close(net.flat_param, want, rtol=1e-9, atol=1e-12)


CASES = [  # terminated, truncated, beta1, std_param, scale_td, penultimate_norm
    (False, False, 0.9, "published", True, True),
    (True, False, 0.0, "published", True, False),
    (False, True, 0.9, "log_std", False, True),
]


@pytest.mark.parametrize("terminated,truncated,beta1,std_param,scale_td,pnorm", CASES)
def test_update_matches_independent_step(terminated, truncated, beta1, std_param, scale_td,
                                         pnorm):
    cfg = AgentConfig(hidden_sizes=(5, 4), actor_lr=1e-2, critic_lr=2e-2, beta1=beta1,
                      gamma=0.9, std_param=std_param, scale_td=scale_td,
                      penultimate_norm=pnorm)
    sac = Sac1Config(alpha_lr=0.05, init_temperature=0.3, tau=0.1)
    learner = _learner(cfg, sac)
    rng = np.random.default_rng(4)
    # A history for the scaler (entropy-augmented rewards, undiscounted G at termination).
    r_hist, g_hist, returns, g = [], [], [], 0.0
    for i in range(25):
        r, term = float(rng.normal(1.0, 2.0)), i in (7, 16)
        learner.td_scaler.update(r, 0.0 if term else 0.9, term, False)
        r_hist.append(r)
        g_hist.append(0.0 if term else 0.9)
        g += r
        if term:
            returns.append(g)
            g = 0.0

    def sigma_of(r_ent):
        if not scale_td:
            return 1.0
        ends = [*returns, g + r_ent] if terminated else returns
        return scaler_sigma([*r_hist, r_ent], [*g_hist, 0.0 if terminated else 0.9], ends)

    t = Transition(rng.normal(size=OBS).astype(np.float32), np.zeros(ACT, np.float32),
                   rng.normal(size=ACT).astype(np.float32), 0.7,
                   rng.normal(size=OBS).astype(np.float32), terminated, truncated)
    expected = _expected_step(learner, t, cfg, sac, sigma_of)
    if scale_td:
        assert abs(expected["sigma"] - 1.0) > 0.1
    _assert_step(learner, expected, learner.update(t))


def test_termination_zeroes_the_target_and_truncation_bootstraps():
    cfg = AgentConfig(hidden_sizes=(5, 4), gamma=0.9, scale_td=False)
    sac = Sac1Config()
    rng = np.random.default_rng(5)
    obs, nxt = rng.normal(size=OBS).astype(np.float32), rng.normal(size=OBS).astype(np.float32)
    eps = rng.normal(size=ACT).astype(np.float32)
    td = {}
    for end in ("none", "terminated", "truncated"):
        t = Transition(obs, np.zeros(ACT, np.float32), eps, 0.5, nxt, end == "terminated",
                       end == "truncated")
        m = _learner(cfg, sac).update(t)
        td[end] = m["losses/td_error"] + m["losses/q"]  # y
    assert td["terminated"] == pytest.approx(0.5, rel=1e-12)
    assert td["truncated"] == pytest.approx(td["none"], rel=1e-12)
    assert abs(td["none"] - 0.5) > 1e-3


def test_stale_action_feeds_the_critics_and_the_actor_resamples():
    """Async: R and S' belong to the executed action, so both critics are evaluated there;
    the actor's step (a fresh sample through the updated critics) is unchanged."""
    cfg = AgentConfig(hidden_sizes=(5, 4), actor_lr=1e-2, critic_lr=2e-2, beta1=0.9,
                      gamma=0.9, scale_td=False)
    sac = Sac1Config(alpha_lr=0.05, tau=0.1)
    rng = np.random.default_rng(6)
    executed = np.array([0.8, -0.35], np.float32)
    t = Transition(rng.normal(size=OBS).astype(np.float32), executed,
                   rng.normal(size=ACT).astype(np.float32), 1.3,
                   rng.normal(size=OBS).astype(np.float32), False, False, policy_version=0)
    learner = _learner(cfg, sac)
    learner.updates = 4  # the acting weights were 4 updates older
    expected = _expected_step(learner, t, cfg, sac, lambda r_ent: 1.0, executed=executed)
    _assert_step(learner, expected, learner.update(t))

    fresh = _learner(cfg, sac)
    m = fresh.update(Transition(t.obs, executed, t.eps, 1.3, t.next_obs, False, False))
    assert abs(m["losses/q"] - expected["q1"]) > 1e-3


def test_temperature_falls_when_entropy_is_above_target():
    """A wide policy (-log pi above the target -|A|) lowers alpha; a narrow one raises it."""
    cfg = AgentConfig(hidden_sizes=(5, 4), scale_td=False)
    rng = np.random.default_rng(7)
    t = Transition(rng.normal(size=OBS).astype(np.float32), np.zeros(ACT, np.float32),
                   rng.normal(size=ACT).astype(np.float32), 0.0,
                   rng.normal(size=OBS).astype(np.float32), False, False)
    moves = {}
    for bias in (0.0, -8.0):  # the std head's bias: std 1, then std 0.02
        learner = SAC1Learner(OBS, ACT, cfg, Sac1Config(alpha_lr=0.1), seed=0)
        learner.actor.out.bias[ACT:] = bias
        before = learner.log_alpha.item()
        learner.update(t)
        moves[bias] = learner.log_alpha.item() - before
    # Adam's first step moves by about the step size, in the sign of the gradient.
    assert moves[0.0] == pytest.approx(-0.1, rel=1e-3)
    assert moves[-8.0] == pytest.approx(0.1, rel=1e-3)


def test_temperature_follows_adam_with_betas_half():
    """Over several updates log alpha follows Adam(alpha_lr, betas (0.5, 0.999)) on the
    gradient alpha (-log pi(A~|S) + |A|); the actor is all but frozen (lr 1e-12) so that
    log pi(A~|S) can be computed here from the learner's noise draws."""
    cfg = AgentConfig(hidden_sizes=(5, 4), actor_lr=1e-12, scale_td=False)
    sac = Sac1Config(alpha_lr=0.2, init_temperature=0.5)
    learner = _learner(cfg, sac)
    rng = np.random.default_rng(8)
    noise = copy.deepcopy(learner.noise)
    actor_p = leaves(learner.actor)
    log_alpha, m, v = np.log(0.5), 0.0, 0.0
    for step in range(1, 7):
        t = Transition(rng.normal(size=OBS).astype(np.float32), np.zeros(ACT, np.float32),
                       rng.normal(size=ACT).astype(np.float32), 0.0,
                       rng.normal(size=OBS).astype(np.float32), False, False)
        noise.next()  # A' comes first
        mu, log_std = gaussian(forward(actor_p, f64(t.obs), True), ACT, cfg.std_param)
        u = mu + torch.exp(log_std) * f64(noise.next())
        g = np.exp(log_alpha) * (-log_pi(u, mu, log_std).item() + ACT)
        m, v = 0.5 * m + 0.5 * g, 0.999 * v + 0.001 * g * g
        log_alpha -= 0.2 * (m / (1 - 0.5 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
        learner.update(t)
        assert learner.log_alpha.item() == pytest.approx(log_alpha, rel=1e-9, abs=1e-12), step

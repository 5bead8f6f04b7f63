"""One full AVG update against a hand-written autograd step on a tiny network."""

import copy

import numpy as np
import pytest
import torch

from rt_avg.nn.adam import FlatAdam
from rt_avg.core.config import AgentConfig
from rt_avg.algos.avg.learner import AVGLearner
from rt_avg.core import Transition

OBS, ACT = 3, 2


def _params(mlp):
    """Float64 leaf copies of an MLP's (weight, bias) pairs, in forward order."""
    return [(w.detach().double().clone().requires_grad_(), b.detach().double().clone()
             .requires_grad_()) for w, b, *_ in mlp._layers]


def _mlp(params, x, norm=True):
    *hidden, (w_out, b_out) = params
    for w, b in hidden:
        x = torch.nn.functional.leaky_relu(x @ w.T + b, 0.01)
    if norm:
        x = x / x.norm(dim=-1, keepdim=True)
    return x @ w_out.T + b_out


def _log_pi(mu, h, eps, scale):
    std = torch.exp(torch.clamp(h, -20, 2) * scale)
    u = mu + std * eps
    a = torch.tanh(u)
    dist = torch.distributions.Normal(mu, std)
    return a, dist.log_prob(u).sum(-1) - torch.log(1 - a * a).sum(-1)


def _reference(learner, t, eps_next, sigma, cfg):
    """Independent AVG step: autograd gradients of each loss, one hand-written Adam step."""
    actor_p, critic_p = _params(learner.actor), _params(learner.critic)
    s, s2 = torch.tensor(t.obs, dtype=torch.float64), torch.tensor(t.next_obs, dtype=torch.float64)
    scale = 0.5 if cfg.std_param == "published" else 1.0
    out = _mlp(actor_p, s)
    a, logp = _log_pi(out[:ACT], out[ACT:], torch.tensor(t.eps, dtype=torch.float64), scale)
    with torch.no_grad():
        out2 = _mlp(actor_p, s2)
        a2, logp2 = _log_pi(out2[:ACT], out2[ACT:], torch.tensor(eps_next, dtype=torch.float64),
                            scale)
        q2 = _mlp(critic_p, torch.cat([s2, a2]))[0]
    q_detached_a = _mlp(critic_p, torch.cat([s, a.detach()]))[0]
    gamma_t = 0.0 if t.terminated else cfg.gamma
    target = t.reward + gamma_t * (q2 - cfg.entropy_coef * logp2)
    delta = target - q_detached_a
    critic_loss = (delta / sigma) ** 2
    actor_loss = cfg.entropy_coef * logp - _mlp(critic_p, torch.cat([s, a]))[0]
    flat_c = [p for pair in critic_p for p in pair]
    flat_a = [p for pair in actor_p for p in pair]
    g_c = torch.autograd.grad(critic_loss, flat_c)
    g_a = torch.autograd.grad(actor_loss, flat_a)

    def adam_first_step(params, grads, lr):
        b1, b2 = cfg.beta1, 0.999
        new = []
        for p, g in zip(params, grads):
            m, v = (1 - b1) * g, (1 - b2) * g * g
            m_hat, v_hat = m / (1 - b1), v / (1 - b2)
            new.append((p - lr * m_hat / (v_hat.sqrt() + cfg.adam_eps)).detach())
        return new

    return {
        "delta": delta.item(), "q": q_detached_a.item(), "logp": logp.item(),
        "critic_grads": [g.detach() for g in g_c], "actor_grads": [g.detach() for g in g_a],
        "critic_new": adam_first_step(flat_c, g_c, cfg.critic_lr),
        "actor_new": adam_first_step(flat_a, g_a, cfg.actor_lr),
    }


def _flat_views(mlp):
    return [t for w, b, *_ in mlp._layers for t in (w, b)]


def _grad_views(mlp):
    return [t for *_, gw, gb in mlp._layers for t in (gw, gb)]


@pytest.mark.parametrize("terminated,truncated,beta1,std_param,warm_scaler", [
    (False, False, 0.0, "published", False),
    (True, False, 0.9, "published", True),
    (False, True, 0.0, "log_std", True),
])
def test_update_matches_hand_written_step(terminated, truncated, beta1, std_param, warm_scaler):
    cfg = AgentConfig(hidden_sizes=(5, 4), actor_lr=1e-2, critic_lr=2e-2, beta1=beta1,
                      entropy_coef=0.2, gamma=0.9, std_param=std_param)
    learner = AVGLearner(OBS, ACT, cfg, seed=3)
    rng = np.random.default_rng(4)
    # Move the weights off their init so no unit is exactly zero.
    with torch.no_grad():
        learner.actor.flat_param.add_(torch.randn(learner.actor.flat_param.shape) * 0.3)
        learner.critic.flat_param.add_(torch.randn(learner.critic.flat_param.shape) * 0.3)
    if warm_scaler:  # some history so that sigma != 1
        for _ in range(30):
            learner.td_scaler.update(float(rng.normal(0, 3)), 0.9, rng.random() < 0.2, False)
    t = Transition(rng.normal(size=OBS).astype(np.float32), np.zeros(ACT, np.float32),
                   rng.normal(size=ACT).astype(np.float32), 0.7,
                   rng.normal(size=OBS).astype(np.float32), terminated, truncated)
    # The fresh next-action noise the learner will draw.
    eps_next = np.array(copy.deepcopy(learner.noise).next(), np.float32)

    scaler = copy.deepcopy(learner.td_scaler)
    ref_pre = _reference(learner, t, eps_next, 1.0, cfg)  # logp needed for the scaler
    sigma = scaler.update(0.7 - cfg.entropy_coef * ref_pre["logp"], 0.0 if terminated else 0.9,
                          terminated, truncated)
    ref = _reference(learner, t, eps_next, sigma, cfg)

    stats = learner.update(t)

    assert stats["losses/td_error"] == pytest.approx(ref["delta"], rel=1e-4, abs=1e-5)
    assert stats["losses/q"] == pytest.approx(ref["q"], rel=1e-5, abs=1e-6)  # pre-update
    assert stats["losses/td_sigma"] == pytest.approx(sigma, rel=1e-6)
    for ours, exp in zip(_grad_views(learner.critic), ref["critic_grads"]):
        np.testing.assert_allclose(ours.numpy(), exp.numpy(), rtol=2e-4, atol=1e-6)
    for ours, exp in zip(_grad_views(learner.actor), ref["actor_grads"]):
        np.testing.assert_allclose(ours.numpy(), exp.numpy(), rtol=2e-4, atol=1e-6)
    for ours, exp in zip(_flat_views(learner.critic), ref["critic_new"]):
        np.testing.assert_allclose(ours.numpy(), exp.numpy(), rtol=1e-4, atol=1e-5)
    for ours, exp in zip(_flat_views(learner.actor), ref["actor_new"]):
        np.testing.assert_allclose(ours.numpy(), exp.numpy(), rtol=1e-4, atol=1e-5)


def test_each_loss_reaches_only_its_own_network():
    """The critic step must not contain the actor loss's -dQ/dphi, nor the actor step the
    critic loss's gradient through A: compare with the summed-loss gradient, which differs."""
    cfg = AgentConfig(hidden_sizes=(5, 4), entropy_coef=0.2, gamma=0.9)
    learner = AVGLearner(OBS, ACT, cfg, seed=5)
    rng = np.random.default_rng(6)
    t = Transition(rng.normal(size=OBS).astype(np.float32), np.zeros(ACT, np.float32),
                   rng.normal(size=ACT).astype(np.float32), 1.5,
                   rng.normal(size=OBS).astype(np.float32), False, False)
    eps_next = np.array(copy.deepcopy(learner.noise).next(), np.float32)
    ref = _reference(learner, t, eps_next, 1.0, cfg)
    # Gradient of the *sum* of both losses w.r.t. the critic, for contrast.
    critic_p = _params(learner.critic)
    learner.update(t)
    ours = torch.cat([g.reshape(-1) for g in _grad_views(learner.critic)]).double()
    own = torch.cat([g.reshape(-1) for g in ref["critic_grads"]])
    np.testing.assert_allclose(ours.numpy(), own.numpy(), rtol=2e-4, atol=1e-6)
    # Q's own parameter gradient (what the actor loss would add) is far from zero, so a
    # leak would have been visible above.
    s = torch.tensor(t.obs, dtype=torch.float64)
    q = _mlp(critic_p, torch.cat([s, torch.zeros(ACT, dtype=torch.float64)]))[0]
    dq = torch.autograd.grad(q, [p for pair in critic_p for p in pair])
    assert torch.cat([g.reshape(-1) for g in dq]).abs().max() > 1e-2


@pytest.mark.parametrize("beta1", [0.0, 0.9])
def test_flat_adam_matches_torch_adam(beta1):
    torch.manual_seed(0)
    p_ours = torch.randn(1000)
    p_ref = torch.nn.Parameter(p_ours.clone())
    grad = torch.zeros(1000)
    ours = FlatAdam(p_ours, grad, lr=1e-3, betas=(beta1, 0.999))
    ref = torch.optim.Adam([p_ref], lr=1e-3, betas=(beta1, 0.999))
    for _ in range(5):
        g = torch.randn(1000)
        grad.copy_(g)
        p_ref.grad = g.clone()
        ours.step()
        ref.step()
        torch.testing.assert_close(p_ours, p_ref.detach(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("activation", ["leaky_relu", "relu", "tanh"])
@pytest.mark.parametrize("norm", [True, False])
def test_mlp_backward_matches_autograd(activation, norm):
    from rt_avg.nn.networks import MLP

    torch.manual_seed(1)
    net = MLP(4, (6, 5), (3,), activation, norm)
    x = torch.randn(2, 4)
    g_out = torch.randn(1, 3)
    out, cache = net.forward_cached(x)
    gx = net.backward(g_out, cache, row=1, scale=0.5, input_grad=True)
    # Independent: autograd on float64 copies, row 1 only.
    params = [(w.detach().double().requires_grad_(), b.detach().double().requires_grad_())
              for w, b, *_ in net._layers]
    xr = x[1:2].double().requires_grad_()
    h = xr
    act = {"leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
           "relu": torch.relu, "tanh": torch.tanh}[activation]
    for w, b in params[:-1]:
        h = act(h @ w.T + b)
    if norm:
        h = h / h.norm(dim=-1, keepdim=True)
    ref = h @ params[-1][0].T + params[-1][1]
    torch.testing.assert_close(out[1:2].double(), ref.detach(), rtol=1e-5, atol=1e-6)
    flat = [p for pair in params for p in pair]
    grads = torch.autograd.grad((ref * g_out.double()).sum(), [xr, *flat])
    torch.testing.assert_close(gx.double(), grads[0], rtol=1e-4, atol=1e-6)
    ours = [t for *_, gw, gb in net._layers for t in (gw, gb)]
    for o, r in zip(ours, grads[1:]):
        torch.testing.assert_close(o.double(), 0.5 * r, rtol=1e-4, atol=1e-6)

"""The fast AVG learner against the readable reference, update after update.

Both run in float64 on one stream of real InvertedPendulum transitions (short time limit,
so the stream holds terminations and truncations).  Agreement to 1e-6 relative after
hundreds of updates means the fast path computes the published update, not an
approximation of its first step.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rt_avg.algos.avg.learner import AVGLearner
from rt_avg.algos.avg.reference import ReferenceAVG
from rt_avg.core.config import AgentConfig
from rt_avg.core import Transition
from rt_avg.nn.normalization import ObservationNormalizer

RTOL = 1e-6


@pytest.fixture
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _pair(cfg, obs_dim, act_dim):
    fast = AVGLearner(obs_dim, act_dim, cfg, seed=0)
    ref = ReferenceAVG(obs_dim, act_dim, cfg, seed=0)
    # Same module names (hidden.N, out): start from the same parameters.
    ref.actor.load_state_dict(fast.actor.state_dict())
    ref.critic.load_state_dict(fast.critic.state_dict())
    return fast, ref


def _assert_same_params(fast, ref, where):
    for net_f, net_r in ((fast.actor, ref.actor), (fast.critic, ref.critic)):
        for (name, a), b in zip(net_f.named_parameters(), net_r.parameters()):
            scale = b.detach().abs().max().item()
            err = (a - b.detach()).abs().max().item()
            assert err <= RTOL * scale, f"{where}: {name} differs by {err:.3g} (scale {scale:.3g})"


def _sample(ref, obs, eps):
    with torch.no_grad():
        a, _ = ref.sample(torch.as_tensor(obs, dtype=torch.float64),
                          torch.as_tensor(eps, dtype=torch.float64))
    return a.numpy()


@pytest.mark.parametrize("beta1,rule", [(0.0, "termination"), (0.9, "episode_end")])
def test_fast_learner_follows_reference_for_320_updates(float64, beta1, rule):
    cfg = AgentConfig(hidden_sizes=(32, 32), actor_lr=3e-3, critic_lr=3e-3, beta1=beta1,
                      entropy_coef=0.1, gamma=0.99, td_return_rule=rule)
    env = gym.make("InvertedPendulum-v5", max_episode_steps=6)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    fast, ref = _pair(cfg, obs_dim, act_dim)
    norm = ObservationNormalizer(obs_dim)
    rng = np.random.default_rng(1)
    obs = norm(env.reset(seed=0)[0])
    ends = {"terminated": 0, "truncated": 0}
    for i in range(320):
        eps = rng.standard_normal(act_dim).astype(np.float32)
        action = _sample(ref, obs, eps)
        raw, r, term, trunc, _ = env.step(action * env.action_space.high)
        next_obs = norm(raw)
        t = Transition(obs, action.astype(np.float32), eps, float(r), next_obs, term, trunc)
        m_fast, m_ref = fast.update(t), ref.update(t)
        for key in ("losses/td_error", "losses/td_sigma", "losses/q"):
            assert m_fast[key] == pytest.approx(m_ref[key], rel=RTOL, abs=1e-9), (i, key)
        _assert_same_params(fast, ref, f"update {i}")
        if term or trunc:
            ends["terminated" if term else "truncated"] += 1
            obs = norm(env.reset(seed=i + 1)[0])
        else:
            obs = next_obs
    assert ends["terminated"] >= 5 and ends["truncated"] >= 5, ends


def test_stale_acting_weights_use_the_executed_action(float64):
    """Async: the action was sampled by weights k = 3 updates old.  The critic must be
    evaluated at that executed action (R and S' belong to it); the actor's gradient must
    flow through the reparameterised action under the current weights."""
    cfg = AgentConfig(hidden_sizes=(16, 16), actor_lr=1e-2, critic_lr=1e-2, beta1=0.9,
                      entropy_coef=0.1, gamma=0.9)
    obs_dim, act_dim, k = 4, 2, 3
    fast, ref = _pair(cfg, obs_dim, act_dim)
    rng = np.random.default_rng(7)
    obs = rng.normal(size=obs_dim).astype(np.float32)
    eps = rng.standard_normal(act_dim).astype(np.float32)
    executed = _sample(ref, obs, eps).astype(np.float32)  # the acting weights: version 0
    for _ in range(k):  # the learner moves on meanwhile
        t = Transition(rng.normal(size=obs_dim).astype(np.float32), np.zeros(act_dim, np.float32),
                       rng.standard_normal(act_dim).astype(np.float32), float(rng.normal()),
                       rng.normal(size=obs_dim).astype(np.float32), False, False)
        fast.update(t), ref.update(t)
    current = _sample(ref, obs, eps)
    assert np.abs(current - executed).max() > 1e-3  # the two actions really differ

    t = Transition(obs, executed, eps, 0.5, rng.normal(size=obs_dim).astype(np.float32),
                   False, False, policy_version=0)
    q_exec = ref.q(torch.as_tensor(obs, dtype=torch.float64),
                   torch.as_tensor(executed, dtype=torch.float64)).item()
    m_fast, m_ref = fast.update(t), ref.update(t)

    # The critic's input action is the executed one (row 0 of its batch) ...
    np.testing.assert_array_equal(fast._critic_in[0, obs_dim:].numpy(), executed)
    assert m_fast["losses/q"] == pytest.approx(q_exec, rel=1e-9)
    assert m_fast["losses/td_error"] == pytest.approx(m_ref["losses/td_error"], rel=RTOL)
    # ... and each network's gradient equals autograd on the reference.
    for net_f, net_r in ((fast.actor, ref.actor), (fast.critic, ref.critic)):
        grads = [g for *_, gw, gb in net_f._layers for g in (gw, gb)]
        for ours, p in zip(grads, net_r.parameters()):
            np.testing.assert_allclose(ours.numpy(), p.grad.numpy(), rtol=RTOL, atol=1e-10)
    _assert_same_params(fast, ref, "after the stale update")


def test_stale_path_differs_from_treating_the_action_as_fresh(float64):
    """The same stale transition read as fresh (version None) gives another delta: the test
    above could not pass with the executed action ignored."""
    cfg = AgentConfig(hidden_sizes=(16, 16), actor_lr=1e-2, critic_lr=1e-2, entropy_coef=0.1)
    a, _ = _pair(cfg, 4, 2)
    b, _ = _pair(cfg, 4, 2)
    rng = np.random.default_rng(3)
    obs, nxt = rng.normal(size=4).astype(np.float32), rng.normal(size=4).astype(np.float32)
    eps = rng.standard_normal(2).astype(np.float32)
    executed = np.array([0.9, -0.9], np.float32)
    stale = a.update(Transition(obs, executed, eps, 1.0, nxt, False, False, policy_version=-5))
    fresh = b.update(Transition(obs, executed, eps, 1.0, nxt, False, False))
    assert abs(stale["losses/td_error"] - fresh["losses/td_error"]) > 1e-4

"""The acting side: warm-up passes change nothing; evaluation actions are deterministic."""

import numpy as np
import pytest
import torch

from rt_avg.nn.acting_net import ActorForward, layer_shapes
from rt_avg.core.actions import ActionMap
from rt_avg.core.config import AgentConfig
from rt_avg.nn.networks import MLP
from rt_avg.algos.avg.learner import AVGLearner
from rt_avg.nn.policy import Policy


def _policy(mode="clip", low=-1.0, high=1.0):
    cfg = AgentConfig(hidden_sizes=(16, 16))
    learner = AVGLearner(4, 2, cfg, seed=0)
    actor = ActorForward(learner.actor.flat_param.numpy(), layer_shapes(4, (16, 16), 4),
                         cfg.activation, cfg.penultimate_norm)
    return Policy(actor, cfg, 4, ActionMap(np.full(2, low), np.full(2, high), mode), 0)


def test_warm_up_draws_no_noise_and_changes_nothing():
    a, b = _policy(), _policy()
    obs = np.array([0.1, -0.2, 0.3, 0.0], np.float32)
    b.warm_up(obs)
    b.warm_up(obs)
    sa, sb = a.act(obs), b.act(obs)
    np.testing.assert_array_equal(sa.eps, sb.eps)
    np.testing.assert_array_equal(sa.env_action, sb.env_action)


def test_clip_and_rescale_action_maps():
    squashed = np.array([0.9, -0.1])
    np.testing.assert_allclose(ActionMap(np.full(2, -0.4), np.full(2, 0.4), "clip")(squashed),
                               [0.4, -0.1])
    np.testing.assert_allclose(ActionMap(np.full(2, -0.4), np.full(2, 0.4), "rescale")(squashed),
                               [0.36, -0.04])
    np.testing.assert_allclose(ActionMap(np.zeros(2), np.full(2, 2.0), "rescale")(squashed),
                               [1.9, 0.9])


def test_deterministic_action_is_tanh_of_mean():
    p = _policy()
    obs = np.array([0.5, 0.5, -1.0, 2.0], np.float32)
    first = p.act_deterministic(obs)
    assert np.array_equal(first, p.act_deterministic(obs))
    assert np.all(np.abs(first) < 1.0)


@pytest.mark.parametrize("activation", ["leaky_relu", "relu", "tanh"])
@pytest.mark.parametrize("norm", [True, False])
def test_numpy_actor_matches_the_learners_network(activation, norm):
    """The acting side's numpy forward pass and the learner's torch MLP, on shared
    parameters (trained away from their init), agree to float32 rounding."""
    torch.manual_seed(0)
    net = MLP(5, (32, 16), (3, 3), activation, norm)
    net.flat_param.add_(torch.randn(net.flat_param.shape) * 0.2)
    actor = ActorForward(net.flat_param.numpy(), layer_shapes(5, (32, 16), 6), activation, norm)
    x = np.random.default_rng(1).standard_normal((50, 5)).astype(np.float32)
    expected = net(torch.from_numpy(x)).numpy()
    ours = np.array([actor(row) for row in x])
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    net.flat_param.mul_(0.5)  # the numpy side sees the learner's updates without a copy
    np.testing.assert_allclose(actor(x[0]), net(torch.from_numpy(x[:1])).numpy()[0],
                               rtol=1e-5, atol=1e-6)


def test_numpy_actor_refuses_a_wrong_parameter_vector():
    with pytest.raises(ValueError, match="expected 1"):
        ActorForward(np.zeros(3, np.float32), [(1, 0)], "relu", False)

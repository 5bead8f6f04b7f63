"""The acting side: warm-up passes change nothing; evaluation actions are deterministic."""

import numpy as np

from rt_avg.actions import ActionMap
from rt_avg.config import AgentConfig
from rt_avg.algos.avg import AVGLearner
from rt_avg.policy import Policy


def _policy(mode="clip", low=-1.0, high=1.0):
    cfg = AgentConfig(hidden_sizes=(16, 16))
    learner = AVGLearner(4, 2, cfg, seed=0)
    return Policy(learner.actor, cfg, 4, ActionMap(np.full(2, low), np.full(2, high), mode), 0)


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

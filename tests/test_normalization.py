"""Normaliser and TD-error scaler against numpy over a stream."""

import numpy as np
import pytest

from rt_avg.nn.normalization import ObservationNormalizer, TDErrorScaler


def test_observation_normalizer_matches_numpy_with_prior():
    rng = np.random.default_rng(1)
    xs = rng.normal(loc=[3.0, -1.0, 0.0], scale=[2.0, 0.1, 5.0], size=(500, 3))
    norm = ObservationNormalizer(3)
    k = ObservationNormalizer.PRIOR_COUNT
    for n in range(1, len(xs) + 1):
        out = norm(xs[n - 1])
        seen = xs[:n]
        # Closed form: the data pooled with a prior of mean 0, variance 1 and weight k.
        mean = seen.sum(0) / (n + k)
        m2 = k * 1.0 + ((seen - seen.mean(0)) ** 2).sum(0) + seen.mean(0) ** 2 * k * n / (n + k)
        var = m2 / (n + k)
        expected = (xs[n - 1] - mean) / np.sqrt(var + 1e-8)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(norm.moments.mean, xs.mean(0), rtol=1e-5)
    np.testing.assert_allclose(norm.moments.var, xs.var(0), rtol=1e-4)


def test_frozen_normalizer_does_not_update_and_state_round_trips():
    norm = ObservationNormalizer(2)
    for x in np.random.default_rng(0).normal(size=(10, 2)):
        norm(x)
    state = norm.state_dict()
    norm.frozen = True
    before = norm.moments.mean.copy()
    norm(np.array([100.0, 100.0]))
    np.testing.assert_array_equal(norm.moments.mean, before)
    other = ObservationNormalizer(2)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.normalize(np.ones(2)), norm.normalize(np.ones(2)))


def _numpy_sigma(r_ent, gammas, returns_sq):
    var = np.var(r_ent) + np.var(gammas) * (np.mean(returns_sq) if returns_sq else 0.0)
    if not returns_sq and var <= 0.01:
        return 1.0
    return float(np.sqrt(max(var, 1e-4)))


def _scaler_stream(rule, seed=2, n=2000):
    """sigma after every step of a stream with terminations and truncations, from the
    scaler and from numpy over the recorded samples (G recorded and reset at termination;
    at truncation too only under the episode_end rule)."""
    rng = np.random.default_rng(seed)
    scaler = TDErrorScaler(return_rule=rule)
    r_ent, gammas, returns_sq, g = [], [], [], 0.0
    ours, expected, kinds = [], [], set()
    for _ in range(n):
        r = float(rng.normal(0.5, 2.0))
        terminated = rng.random() < 0.01
        truncated = (not terminated) and rng.random() < 0.01
        kinds.update({"terminated"} if terminated else set(), {"truncated"} if truncated else set())
        gamma_t = 0.0 if terminated else 0.99
        ours.append(scaler.update(r, gamma_t, terminated, truncated))
        r_ent.append(r)
        gammas.append(gamma_t)
        g += r
        if terminated or (truncated and rule == "episode_end"):
            returns_sq.append(g * g)
            g = 0.0
        expected.append(_numpy_sigma(r_ent, gammas, returns_sq))
    assert kinds == {"terminated", "truncated"}, "the stream should hold both episode ends"
    return np.array(ours), np.array(expected)


@pytest.mark.parametrize("rule", ["termination", "episode_end"])
def test_td_scaler_matches_numpy_over_a_stream(rule):
    ours, expected = _scaler_stream(rule)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)


def test_td_scaler_rules_differ_on_truncations():
    """The published rule ignores truncations: it must not agree with the variant."""
    published, _ = _scaler_stream("termination")
    variant, _ = _scaler_stream("episode_end")
    assert np.abs(published - variant).max() > 1e-3


def test_td_scaler_published_rule_never_records_without_termination():
    """A task that never terminates: G is never recorded, sigma^2 = max(Var[r_ent], 1e-4)
    once the reward variance passes 0.01."""
    s = TDErrorScaler()
    rewards = [0.0, 1.0, 0.0, 1.0]
    for i, r in enumerate(rewards):
        sigma = s.update(r, 0.99, False, truncated=(i == 1))
    assert s.returns_sq.count == 0
    assert sigma == pytest.approx(np.sqrt(np.var(rewards)))


def test_td_scaler_warmup_and_floor():
    s = TDErrorScaler()
    assert s.update(0.01, 0.99, False, False) == 1.0  # tiny variance, no return yet: sigma = 1
    s = TDErrorScaler()
    s.update(0.0, 0.99, False, False)
    assert s.update(0.0, 0.0, True, False) == 1e-2  # variance 0 after a return: floor 1e-4
    s = TDErrorScaler(enabled=False)
    assert s.update(100.0, 0.0, True, False) == 1.0

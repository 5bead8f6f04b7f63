"""Normaliser and TD-error scaler against numpy over a stream."""

import numpy as np

from rt_avg.normalization import ObservationNormalizer, TDErrorScaler


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


def test_td_scaler_matches_numpy_over_a_stream():
    rng = np.random.default_rng(2)
    scaler = TDErrorScaler()
    r_ent, gammas, returns_sq, g = [], [], [], 0.0
    for t in range(2000):
        r = float(rng.normal(0.5, 2.0))
        terminated = rng.random() < 0.01
        truncated = (not terminated) and rng.random() < 0.005
        gamma_t = 0.0 if terminated else 0.99
        sigma = scaler.update(r, gamma_t, terminated or truncated)
        r_ent.append(r)
        gammas.append(gamma_t)
        g += r
        if terminated or truncated:
            returns_sq.append(g * g)
            g = 0.0
        assert abs(sigma - _numpy_sigma(r_ent, gammas, returns_sq)) < 1e-9 * max(1.0, sigma), t
    assert returns_sq, "the stream should contain episode ends"


def test_td_scaler_warmup_and_floor():
    s = TDErrorScaler()
    assert s.update(0.01, 0.99, False) == 1.0  # tiny variance, no return yet: sigma = 1
    s = TDErrorScaler()
    s.update(0.0, 0.99, False)
    assert s.update(0.0, 0.99, True) == 1e-2  # variance 0 after a return: floored at 1e-4
    s = TDErrorScaler(enabled=False)
    assert s.update(100.0, 0.0, True) == 1.0

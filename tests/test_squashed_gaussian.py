"""The policy head against independent calculations."""

import numpy as np
import torch

from rt_avg.squashed_gaussian import SquashedGaussianHead, log_prob


def test_log_prob_matches_change_of_variables():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(50, 3))
    log_std = rng.uniform(-2, 0.5, size=(50, 3))
    eps = rng.normal(size=(50, 3))
    u = mu + np.exp(log_std) * eps
    ours = log_prob(eps, log_std, u)
    # Independent: Gaussian density of u (torch.distributions) plus the log-Jacobian of
    # atanh, log |d u / d a| = -log(1 - a^2), written the naive way.
    normal = torch.distributions.Normal(torch.tensor(mu), torch.tensor(np.exp(log_std)))
    log_pu = normal.log_prob(torch.tensor(u)).sum(-1).numpy()
    a = np.tanh(u)
    expected = log_pu - np.log(1.0 - a * a).sum(-1)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-9)


def test_log_prob_is_a_density_of_the_squashed_action():
    # 1-D: integrate exp(log pi(a)) over a in (-1, 1) numerically; it must be 1.
    mu, log_std = 0.3, np.log(0.7)
    a = np.linspace(-1 + 1e-9, 1 - 1e-9, 400_001)
    u = np.arctanh(a)
    eps = (u - mu) / np.exp(log_std)
    dens = np.exp(log_prob(eps[:, None], np.full((len(a), 1), log_std), u[:, None]))
    assert abs(np.trapezoid(dens, a) - 1.0) < 1e-3


def test_log_prob_is_stable_for_saturated_actions():
    u = np.array([[30.0, -30.0]])
    lp = log_prob(np.zeros((1, 2)), np.zeros((1, 2)), u)
    assert np.isfinite(lp).all()
    # log(1 - tanh(30)^2) = log(4) - 60 + O(e^-60), far below float64's naive result (-inf)
    expected = 2 * (-0.5 * np.log(2 * np.pi)) - 2 * (np.log(4.0) - 60.0)
    np.testing.assert_allclose(lp, expected, rtol=1e-12)


def test_published_std_parameterisation_is_exp_of_half():
    head = SquashedGaussianHead(1, "published", -20, 2)
    s = head.sample(np.array([[0.0, np.log(0.25)]]), np.array([[1.0]]))  # h = log variance
    np.testing.assert_allclose(s.std, [[0.5]])
    head = SquashedGaussianHead(1, "log_std", -20, 2)
    s = head.sample(np.array([[0.0, np.log(0.25)]]), np.array([[1.0]]))
    np.testing.assert_allclose(s.std, [[0.25]])
    # The clamp: h beyond the bounds is clipped and passes no gradient.
    s = SquashedGaussianHead(1, "published", -20, 2).sample(np.array([[0.0, 5.0]]), np.ones((1, 1)))
    np.testing.assert_allclose(s.std, [[np.exp(1.0)]])
    assert not s.in_range[0, 0]

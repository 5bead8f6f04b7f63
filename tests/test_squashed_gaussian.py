"""The policy head against independent calculations."""

import math

import numpy as np
import torch

from rt_avg.nn.squashed_gaussian import SquashedGaussianHead, log_prob


def test_log_prob_matches_change_of_variables():
    rng = np.random.default_rng(0)
    for _ in range(50):
        mu = rng.normal(size=3)
        log_std = rng.uniform(-2, 0.5, size=3)
        eps = rng.normal(size=3)
        u = mu + np.exp(log_std) * eps
        ours = log_prob(eps.tolist(), log_std.tolist(), u.tolist())
        # Independent: Gaussian density of u (torch.distributions) plus the log-Jacobian of
        # atanh, log |d u / d a| = -log(1 - a^2), written the naive way.
        normal = torch.distributions.Normal(torch.tensor(mu), torch.tensor(np.exp(log_std)))
        a = np.tanh(u)
        expected = float(normal.log_prob(torch.tensor(u)).sum()) - np.log(1.0 - a * a).sum()
        assert abs(ours - expected) < 1e-9


def test_log_prob_is_a_density_of_the_squashed_action():
    # 1-D: integrate exp(log pi(a)) over a in (-1, 1) numerically; it must be 1.
    mu, log_std = 0.3, math.log(0.7)
    a = np.linspace(-1 + 1e-9, 1 - 1e-9, 200_001)
    u = np.arctanh(a)
    eps = (u - mu) / math.exp(log_std)
    dens = np.exp([log_prob([e], [log_std], [ui]) for e, ui in zip(eps, u)])
    assert abs(np.trapezoid(dens, a) - 1.0) < 1e-3


def test_log_prob_is_stable_for_saturated_actions():
    lp = log_prob([0.0, 0.0], [0.0, 0.0], [30.0, -30.0])
    assert math.isfinite(lp)
    # log(1 - tanh(30)^2) = log(4) - 60 + O(e^-60); the naive formula gives -inf
    expected = 2 * (-0.5 * math.log(2 * math.pi)) - 2 * (math.log(4.0) - 60.0)
    assert abs(lp - expected) < 1e-9


def test_published_std_parameterisation_is_exp_of_half():
    s = SquashedGaussianHead(1, "published", -20, 2).sample([0.0, math.log(0.25)], [1.0])
    assert abs(s.std[0] - 0.5) < 1e-12  # h is the log variance
    assert abs(s.action[0] - math.tanh(0.5)) < 1e-12
    s = SquashedGaussianHead(1, "log_std", -20, 2).sample([0.0, math.log(0.25)], [1.0])
    assert abs(s.std[0] - 0.25) < 1e-12
    # The clamp: h beyond the bounds is clipped and passes no gradient.
    head = SquashedGaussianHead(1, "published", -20, 2)
    s = head.sample([0.0, 5.0], [1.0])
    assert abs(s.std[0] - math.e) < 1e-12 and not s.in_range[0]
    assert head.actor_loss_grad(s, [1.0], [0.5], 0.1)[1] == 0.0

"""The tanh-squashed diagonal Gaussian policy head, without distribution objects.

The actor's output layer has two heads: the mean ``mu`` and ``h``, clamped to
``[log_std_min, log_std_max]``.  With ``std_param="published"`` (the default) ``h`` is
the log of the *variance*, as in the published AVG code, which hands it to a
diagonal-covariance Gaussian: std = exp(h / 2).  With ``"log_std"``, std = exp(h).

Sampling is reparameterised, u = mu + std * eps, a = tanh(u), and

    log pi(a) = sum_i [ -eps_i^2 / 2 - log std_i - log(2 pi) / 2 ]
              - sum_i 2 (log 2 - u_i - softplus(-2 u_i))

where the second sum is the numerically stable log(1 - tanh(u)^2).

The head works on Python floats (in double precision): for the handful of numbers of one
action, a float operation costs tens of nanoseconds where a numpy or torch call costs a
microsecond or more, and these few dozen operations sit on the timed acting and learning
paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from rt_avg.core.config import AgentConfig

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
LOG_2 = math.log(2.0)


def log_std_scale(std_param: str) -> float:
    """d log(std) / d h for the chosen parameterisation of the second head."""
    return 0.5 if std_param == "published" else 1.0


def softplus(x: float) -> float:
    """log(1 + e^x) without overflow."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def log_prob(eps: Sequence[float], log_std: Sequence[float], u: Sequence[float]) -> float:
    """log pi(tanh(u)) for u = mu + exp(log_std) * eps."""
    total = 0.0
    for e, ls, ui in zip(eps, log_std, u):
        total += -0.5 * e * e - ls - HALF_LOG_2PI - 2.0 * (LOG_2 - ui - softplus(-2.0 * ui))
    return total


@dataclass
class HeadSample:
    """A reparameterised sample for one row of head outputs."""

    action: list[float]  # tanh(u)
    std: list[float]
    log_prob: float
    in_range: list[bool]  # where the std head was not clamped (its gradient flows)


class SquashedGaussianHead:
    """Turns the actor's raw output [mu, h] into an action and its log-probability."""

    def __init__(self, act_dim: int, std_param: str, log_std_min: float,
                 log_std_max: float) -> None:
        self.act_dim = act_dim
        self.scale = log_std_scale(std_param)
        self.lo, self.hi = log_std_min, log_std_max

    @classmethod
    def for_agent(cls, act_dim: int, cfg: "AgentConfig") -> "SquashedGaussianHead":
        """The head an ``agent`` config section describes (std parameterisation, clamp)."""
        return cls(act_dim, cfg.std_param, cfg.log_std_min, cfg.log_std_max)

    def sample(self, out: Sequence[float], eps: Sequence[float]) -> HeadSample:
        """``out`` is one row [mu, h] of the actor's output; ``eps`` its standard-normal noise."""
        m, lo, hi, scale = self.act_dim, self.lo, self.hi, self.scale
        action, std, log_std, u, in_range = [], [], [], [], []
        for i in range(m):
            h = out[m + i]
            ls = min(max(h, lo), hi) * scale
            s = math.exp(ls)
            ui = out[i] + s * eps[i]
            action.append(math.tanh(ui))
            std.append(s)
            log_std.append(ls)
            u.append(ui)
            in_range.append(lo <= h <= hi)
        return HeadSample(action, std, log_prob(eps, log_std, u), in_range)

    def actor_loss_grad(self, s: HeadSample, eps: Sequence[float], dq_da: Sequence[float],
                        eta: float) -> list[float]:
        """d/d[mu, h] of  eta * log pi(A|S) - Q(S, A)  with A = s.action.

        Through u = mu + std * eps: d log pi / du = 2 tanh(u) (squash term) and
        d log pi / d log_std = -1 (Gaussian term, eps held fixed); the clamp passes no
        gradient where it is active.
        """
        g_u, g_h = [], []
        for a, s_i, e, dq, ok in zip(s.action, s.std, eps, dq_da, s.in_range):
            gu = 2.0 * eta * a - dq * (1.0 - a * a)
            g_u.append(gu)
            g_h.append((gu * s_i * e - eta) * self.scale if ok else 0.0)
        return g_u + g_h

    def mean_action(self, out: Sequence[float]) -> list[float]:
        return [math.tanh(mu) for mu in out[:self.act_dim]]

"""The tanh-squashed diagonal Gaussian policy head, without distribution objects.

The actor's output layer has two heads: the mean ``mu`` and ``h``, clamped to
``[log_std_min, log_std_max]``.  With ``std_param="published"`` (the default) ``h`` is
the log of the *variance*, as in the published AVG code, which hands it to a
diagonal-covariance Gaussian: std = exp(h / 2).  With ``"log_std"``, std = exp(h).

Sampling is reparameterised, u = mu + std * eps, a = tanh(u), and

    log pi(a) = sum_i [ -eps_i^2 / 2 - log std_i - log(2 pi) / 2 ]
              - sum_i 2 (log 2 - u_i - softplus(-2 u_i))

where the second sum is the numerically stable log(1 - tanh(u)^2).

The head works on small numpy arrays: for a handful of numbers numpy's per-call cost is
a fraction of a tensor op's, and these few dozen calls sit on the timed path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
LOG_2 = math.log(2.0)


def log_std_scale(std_param: str) -> float:
    """d log(std) / d h for the chosen parameterisation of the second head."""
    return 0.5 if std_param == "published" else 1.0


def squash_correction(u: np.ndarray) -> np.ndarray:
    """log(1 - tanh(u)^2) summed over the last axis, computed stably."""
    return (2.0 * (LOG_2 - u - np.logaddexp(0.0, -2.0 * u))).sum(-1)


def log_prob(eps: np.ndarray, log_std: np.ndarray, u: np.ndarray) -> np.ndarray:
    """log pi(tanh(u)) for u = mu + exp(log_std) * eps, summed over the last axis."""
    gaussian = (-0.5 * eps * eps - log_std - HALF_LOG_2PI).sum(-1)
    return gaussian - squash_correction(u)


@dataclass
class HeadSample:
    """A reparameterised sample for each row of a batch of head outputs."""

    action: np.ndarray  # tanh(u)
    u: np.ndarray
    std: np.ndarray
    log_prob: np.ndarray  # one per row
    in_range: np.ndarray  # where the std head was not clamped (its gradient flows)


class SquashedGaussianHead:
    """Turns the actor's raw output [mu, h] into actions and log-probabilities."""

    def __init__(self, act_dim: int, std_param: str, log_std_min: float,
                 log_std_max: float) -> None:
        self.act_dim = act_dim
        self.scale = log_std_scale(std_param)
        self.lo, self.hi = log_std_min, log_std_max

    def sample(self, out: np.ndarray, eps: np.ndarray) -> HeadSample:
        """Rows of ``out`` are [mu, h]; ``eps`` holds the standard-normal noise per row."""
        m = self.act_dim
        mu, h_raw = out[:, :m], out[:, m:]
        log_std = np.clip(h_raw, self.lo, self.hi) * self.scale
        std = np.exp(log_std)
        u = mu + std * eps
        return HeadSample(np.tanh(u), u, std, log_prob(eps, log_std, u),
                          (h_raw >= self.lo) & (h_raw <= self.hi))

    def actor_loss_grad(self, s: HeadSample, eps: np.ndarray, dq_da: np.ndarray,
                        eta: float) -> np.ndarray:
        """d/d[mu, h] of  eta * log pi(A|S) - Q(S, A)  for the first row of ``s``.

        Through u = mu + std * eps: d log pi / du = 2 tanh(u) (squash term) and
        d log pi / d log_std = -1 (Gaussian term, eps held fixed); the clamp passes no
        gradient where it is active.
        """
        a = s.action[0:1]
        g_u = 2.0 * eta * a - dq_da * (1.0 - a * a)
        g_h = np.where(s.in_range[0:1], (g_u * s.std[0:1] * eps[0:1] - eta) * self.scale, 0.0)
        return np.concatenate([g_u, g_h], axis=-1).astype(np.float32)

    def mean_action(self, out: np.ndarray) -> np.ndarray:
        return np.tanh(out[..., :self.act_dim])

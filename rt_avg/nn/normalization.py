"""Running statistics: the observation normaliser and the TD-error scaler.

Both use streaming (Welford) statistics with *population* variance.  The TD-error scaler's
equal ``np.mean`` / ``np.var`` of the samples seen.  The observation normaliser starts, as
Gymnasium's ``RunningMeanStd`` used by the published code does, from a prior of mean 0 and
variance 1 with weight 1e-4: the very first observation then normalises to a small
non-zero vector instead of exactly zero, which with zero biases would make the
penultimate normalisation divide 0 by 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rt_avg.core.config import check_range


class RunningMoments:
    """Streaming mean and population variance of scalars or fixed-shape arrays."""

    def __init__(self, shape: tuple[int, ...] = (), prior_count: float = 0.0) -> None:
        # A prior of weight ``prior_count`` with mean 0 and variance 1.
        self.count = prior_count
        self.mean = np.zeros(shape, dtype=np.float64)
        self._m2 = np.full(shape, prior_count, dtype=np.float64)

    def update(self, x: Any) -> None:
        self.count += 1
        delta = x - self.mean
        self.mean = self.mean + delta / self.count
        self._m2 = self._m2 + delta * (x - self.mean)

    @property
    def var(self) -> np.ndarray:
        return self._m2 / self.count if self.count else np.zeros_like(self._m2)

    def state_dict(self) -> dict:
        return {"count": self.count, "mean": np.array(self.mean), "m2": np.array(self._m2)}

    def load_state_dict(self, state: dict) -> None:
        self.count = state["count"]
        self.mean = np.array(state["mean"], dtype=np.float64)
        self._m2 = np.array(state["m2"], dtype=np.float64)


class ObservationNormalizer:
    """(x - mean) / sqrt(var + 1e-8) with running statistics over every observation seen.

    ``frozen`` stops updates (evaluation).  With ``enabled=False`` it passes observations
    through unchanged (as float32).
    """

    EPS = 1e-8
    PRIOR_COUNT = 1e-4

    def __init__(self, dim: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.frozen = False
        self.moments = RunningMoments((dim,), prior_count=self.PRIOR_COUNT)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Update the statistics with ``obs`` (unless frozen) and return it normalised."""
        if not self.enabled:
            return np.asarray(obs, dtype=np.float32)
        x = np.asarray(obs, dtype=np.float64)
        if not self.frozen:
            self.moments.update(x)
        return self.normalize(x)

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """Normalise without touching the statistics."""
        if not self.enabled:
            return np.asarray(obs, dtype=np.float32)
        z = (obs - self.moments.mean) / np.sqrt(self.moments.var + self.EPS)
        return z.astype(np.float32)

    def state_dict(self) -> dict:
        return self.moments.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.moments.load_state_dict(state)


class TDErrorScaler:
    """Return-based TD-error scaling (Schaul et al. 2021) as used by AVG.

    sigma^2 = max(Var[r_ent] + Var[gamma_t] * E[G^2], 1e-4), where r_ent is the
    entropy-augmented reward R - eta * log pi(A|S), gamma_t is 0 at termination and gamma
    otherwise, and G is the undiscounted sum of r_ent over an episode.  While no episode
    return has been seen and the variance is <= 0.01, sigma = 1.

    With ``return_rule="termination"`` (as published) G is recorded (G^2 into its running
    mean) and reset at termination only: a truncation neither records nor resets it, so G
    runs on into the next episode.  On a task that never terminates G is then never
    recorded, Var[gamma_t] = 0, and sigma^2 = max(Var[r_ent], 1e-4) once the reward
    variance passes 0.01.  ``return_rule="episode_end"`` (a deviation from the published
    code) records and resets G at every episode end, truncations included.

    ``return_discount`` makes G discounted, G <- return_discount * G + r (IAC feeds the raw
    reward and its gamma here); the default 1 is AVG's undiscounted sum.
    """

    MIN_VAR = 1e-4
    WARMUP_VAR = 0.01

    def __init__(self, enabled: bool = True, return_rule: str = "termination",
                 return_discount: float = 1.0) -> None:
        if return_rule not in ("termination", "episode_end"):
            raise ValueError(f"return_rule: got {return_rule!r}, allowed: termination, "
                             "episode_end")
        self.return_discount = check_range("return_discount", return_discount, 0.0, 1.0)
        self.enabled = enabled
        self.at_truncation = return_rule == "episode_end"
        self.rewards = RunningMoments()
        self.discounts = RunningMoments()
        self.returns_sq = RunningMoments()
        self.episode_return = 0.0
        self.sigma = 1.0

    def update(self, r_ent: float, gamma_t: float, terminated: bool, truncated: bool) -> float:
        """Add one transition's statistics; returns the new sigma."""
        self.rewards.update(r_ent)
        self.discounts.update(gamma_t)
        self.episode_return = self.return_discount * self.episode_return + r_ent
        if terminated or (truncated and self.at_truncation):
            self.returns_sq.update(self.episode_return * self.episode_return)
            self.episode_return = 0.0
        if not self.enabled:
            return 1.0
        var = float(self.rewards.var) + float(self.discounts.var) * float(self.returns_sq.mean)
        if self.returns_sq.count == 0 and var <= self.WARMUP_VAR:
            self.sigma = 1.0
        else:
            self.sigma = math.sqrt(max(var, self.MIN_VAR))
        return self.sigma

    def state_dict(self) -> dict:
        return {"rewards": self.rewards.state_dict(), "discounts": self.discounts.state_dict(),
                "returns_sq": self.returns_sq.state_dict(),
                "episode_return": self.episode_return, "sigma": self.sigma}

    def load_state_dict(self, state: dict) -> None:
        self.rewards.load_state_dict(state["rewards"])
        self.discounts.load_state_dict(state["discounts"])
        self.returns_sq.load_state_dict(state["returns_sq"])
        self.episode_return = float(state["episode_return"])
        self.sigma = float(state["sigma"])

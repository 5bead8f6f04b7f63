"""NaN and inf stop a run: from the env (observations, rewards) or from the learner (losses).

A non-finite observation poisons the normaliser, a non-finite reward or loss the networks;
a policy with NaN weights sends NaN commands.  The runners check every step, before the
value is acted on, learned from or checkpointed, and stop with :class:`NonFiniteError`
(the robot is stopped like on any other error; the newest checkpoint stays the last
finite one).  The checks cost about a microsecond per step (``math.isfinite`` on a few
floats, ``numpy.isfinite`` on one observation vector).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np


class NonFiniteError(RuntimeError):
    """The env or the learner produced NaN or inf; the run stopped before using it."""


def _entries(x: np.ndarray) -> str:
    bad = np.flatnonzero(~np.isfinite(x))
    shown = ", ".join(f"[{i}] = {x.flat[i]}" for i in bad[:4])
    return shown + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")


def check_env_step(step: int, reward: float, obs: np.ndarray,
                   terminal_obs: np.ndarray | None = None, raw_obs: Any = None) -> None:
    """Raise NonFiniteError unless the step's reward and observations are finite.

    ``obs`` is the observation the next action will be computed from (after a reset, the
    new episode's first one); ``terminal_obs`` the last observation of an episode that
    ended at this step (None otherwise).  Observations may be normalised (a NaN or inf
    entry of the raw observation shows as NaN in the same entry); ``raw_obs``, the env's
    own, only names the values in the message."""
    if math.isfinite(reward) and np.isfinite(obs).all() and (
            terminal_obs is None or np.isfinite(terminal_obs).all()):
        return
    if not math.isfinite(reward):
        what = f"a non-finite reward ({reward})"
    elif terminal_obs is not None and not np.isfinite(terminal_obs).all():
        what = f"a non-finite final observation of an episode (entries {_entries(terminal_obs)})"
    else:
        raw = obs if raw_obs is None else np.asarray(raw_obs, dtype=np.float64)
        shown = raw if not np.isfinite(raw).all() else obs
        what = f"a non-finite observation (entries {_entries(shown)})"
    raise NonFiniteError(f"the env returned {what} at step {step}; the run stopped before "
                         "learning from it (check the env or the robot's sensors)")


def check_observation(step: int, obs: np.ndarray) -> None:
    """Raise NonFiniteError unless ``obs`` (e.g. the first one after a reset) is finite."""
    if not np.isfinite(obs).all():
        raise NonFiniteError(f"the env returned a non-finite observation at step {step} "
                             f"(entries {_entries(obs)}) when it was reset; the run stopped "
                             "before acting on it")


def check_metrics(step: int, updates: int, metrics: Mapping[str, float]) -> None:
    """Raise NonFiniteError unless every metric of an update (its losses) is finite."""
    for value in metrics.values():
        if not math.isfinite(value):
            bad = ", ".join(f"{k} = {v}" for k, v in metrics.items() if not math.isfinite(v))
            raise NonFiniteError(
                f"the learner's losses became non-finite at step {step} (update {updates}): "
                f"{bad}; the run stopped before acting with or checkpointing these weights "
                "(a learning rate or reward scale too large is the usual cause)")


def check_weights(step: int, updates: int, flat: Any) -> None:
    """Raise NonFiniteError unless the acting policy's parameters (one flat tensor) are
    finite: checked through their sum (NaN and inf propagate into it), a few microseconds
    for 70k floats, before the weights are acted with."""
    if not math.isfinite(float(flat.sum())):
        raise NonFiniteError(
            f"the learner's policy weights became non-finite at step {step} (update "
            f"{updates}); the run stopped before acting with or checkpointing them (a "
            "learning rate or reward scale too large is the usual cause)")

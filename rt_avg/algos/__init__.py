"""Choosing a learner: ``cfg.agent.algo`` names an :class:`Algorithm`.

An algorithm is a pair of builders, one for the learning side and one for the acting side
(see :mod:`rt_avg.core`); the runners call nothing else.  Built-in names are looked up
lazily (importing this package imports no learner); ``module.path:NAME`` loads an
algorithm of your own, which then runs in every mode like the built-in ones.

Batch learners (``sac``, ``td3``, ``ppo``) are not per-transition learners: they run through
Stable-Baselines3 in the inline runner of :mod:`rt_avg.baselines`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from rt_avg.core import ConfigError

if TYPE_CHECKING:
    import gymnasium as gym

    from rt_avg.core.config import Config
    from rt_avg.core import Acting, Learner

INCREMENTAL = {
    "avg": "rt_avg.algos.avg:ALGORITHM",
    "iac": "rt_avg.algos.iac:ALGORITHM",
    "sac1": "rt_avg.algos.sac1:ALGORITHM",
}
BATCH = ("sac", "td3", "ppo")


@dataclass(frozen=True)
class Algorithm:
    """How to build one algorithm's two sides for an env."""

    name: str
    make_learner: Callable[["Config", int, int], "Learner"]
    """(cfg, obs_dim, act_dim) -> a learner seeded with cfg.run.seed."""
    make_policy: Callable[["Config", "gym.Env", "Learner | None"], "Acting"]
    """(cfg, env, learner) -> the acting side.  With a learner (inline runs) it acts with
    the learner's live network; with None (real-time modes) with its own copy, filled by
    ``load_params``."""


def check_algo_name(name: str) -> None:
    """Raise ConfigError naming ``agent.algo`` unless ``name`` is known or a module path."""
    if name in INCREMENTAL or name in BATCH:
        return
    if ":" in name and all(name.split(":", 1)):
        return
    raise ConfigError(f"agent.algo: got {name!r}, allowed: "
                      f"{', '.join([*INCREMENTAL, *BATCH])} or module.path:NAME")


def is_batch(name: str) -> bool:
    return name in BATCH


def get(name: str) -> Algorithm:
    """The incremental algorithm called ``name`` (a built-in name or ``module:NAME``)."""
    check_algo_name(name)
    if name in BATCH:
        raise ConfigError(f"agent.algo: {name} is a batch learner; it runs inline only "
                          f"(rt-avg train --algo {name} without --mode)")
    module_name, attr = INCREMENTAL.get(name, name).split(":", 1)
    try:
        algo = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"agent.algo: cannot load {name!r} ({exc})") from None
    if not isinstance(algo, Algorithm):
        raise ConfigError(f"agent.algo: {name!r} is not an rt_avg.algos.Algorithm")
    return algo

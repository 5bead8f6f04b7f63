"""Batch baselines (``agent.algo``: sac, td3, ppo) through Stable-Baselines3.

They are not per-transition learners, so they do not go through :mod:`rt_avg.core`'s
``Learner`` interface: :func:`rt_avg.baselines.sb3.train_sb3` runs them inline on the same
envs and seeds and writes the same run directory.  :func:`inline_trainer` picks the inline
training function for a config, whichever kind its learner is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from rt_avg.algos import is_batch

if TYPE_CHECKING:
    from rt_avg.config import Config


def inline_trainer(cfg: "Config") -> Callable:
    """``train_inline`` for the incremental learners, ``train_sb3`` for the batch ones (same
    signature: cfg, run_path, resume=False, stop=None, progress=True -> TrainResult)."""
    if is_batch(cfg.agent.algo):
        from rt_avg.baselines.sb3 import train_sb3

        return train_sb3
    from rt_avg.inline import train_inline

    return train_inline

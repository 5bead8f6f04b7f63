"""rt-avg: real-time incremental reinforcement learning (Action Value Gradient) on robots
and simulators.

The Python API (:mod:`rt_avg.api`), imported when first used (``import rt_avg`` alone
loads neither torch nor Ray)::

    run = rt_avg.train(env="Hopper-v5", mode="async", steps=20_000)
    policy = rt_avg.load(run.run_dir)
    action = policy.act(obs)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rt_avg.api import load, train

__all__ = ["load", "train"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rt_avg import api

        return getattr(api, name)
    raise AttributeError(f"module 'rt_avg' has no attribute {name!r}")

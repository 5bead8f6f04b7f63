"""Configs for the tracking tests' tiny inline runs (InvertedPendulum, 600 steps)."""

from __future__ import annotations

from rt_avg.core.config import Config


def tiny_config(seed: int = 0, wandb: bool = False, mode: str = "offline", **sections) -> Config:
    cfg = Config().replace(run={"steps": 600, "seed": seed, "checkpoint_every": 10**9,
                                "metrics_every": 100},
                           agent={"hidden_sizes": [32, 32]},
                           tracking={"wandb": wandb, "mode": mode})
    return cfg.replace(**sections) if sections else cfg

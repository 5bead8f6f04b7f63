"""Tiny inline runs shared by the tracking tests (InvertedPendulum, 600 steps, small nets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rt_avg.core.config import Config
from tracking_runs import tiny_config


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> dict[str, Path]:
    """Three plain runs: seeds 0 and 1 of one config (a0, a1), seed 0 of another (b0)."""
    from rt_avg.run.inline import train_inline

    root = tmp_path_factory.mktemp("runs")
    other_lr = Config().agent.actor_lr / 2  # differs from the default, whatever it is
    runs = {"a0": tiny_config(0), "a1": tiny_config(1),
            "b0": tiny_config(0, agent={"actor_lr": other_lr})}
    for name, cfg in runs.items():
        train_inline(cfg, root / name, progress=False)
    return {name: root / name for name in runs}

"""Checkpoints come every run.checkpoint_every env steps in every mode (one LearnStep)."""

import pytest
import ray

from helpers import quick_config
from rt_avg.actors.driver import train_realtime
from rt_avg.run.checkpoint import list_checkpoints, load_checkpoint
from rt_avg.run.inline import train_inline
from rt_avg.actors.local_ray import SYSTEM_CONFIG

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _steps(run):
    return [(load_checkpoint(p).step, load_checkpoint(p).env_loop["step"])
            for p in list_checkpoints(run / "checkpoints")]


def test_checkpoints_every_env_steps_in_every_mode(tmp_path):
    cfg = quick_config(600, agent={"hidden_sizes": [32, 32]},
                       run={"checkpoint_every": 200, "keep_checkpoints": 10})
    train_inline(cfg, tmp_path / "inline", progress=False)
    ray.init(address="local", num_cpus=2, include_dashboard=False, _system_config=SYSTEM_CONFIG, logging_level="ERROR")
    try:
        for mode in ("sequential", "async"):
            train_realtime(cfg.replace(run={"mode": mode}), tmp_path / mode, progress=False,
                           print_summary=False)
    finally:
        ray.shutdown()
    every_200 = [(200, 200), (400, 400), (600, 600)]
    assert _steps(tmp_path / "inline") == every_200
    assert _steps(tmp_path / "sequential") == every_200
    # Async: the learner may skip the transition of a multiple; its checkpoint then comes
    # with the next one it takes, still at the multiple (the env's state of that step).
    got = _steps(tmp_path / "async")
    assert set(got) <= set(every_200) and got[-1] == (600, 600), got

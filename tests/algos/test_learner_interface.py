"""The runners through the learner interface only: a fake learner (not AVG) runs inline,
sequential and async, checkpoints, resumes and evaluates."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import ray
import torch

from fake_algo import FakeLearner
from helpers import quick_config
from rt_avg import algos
from rt_avg.run.checkpoint import latest_checkpoint, load_checkpoint
from rt_avg.core.config import ConfigError
from rt_avg.core import Acting, Learner
from rt_avg.run.evaluate import evaluate
from rt_avg.run.inline import train_inline
from rt_avg.run.run_dir import read_episodes, read_metrics
from rt_avg.actors.local_ray import SYSTEM_CONFIG

FAKE = "fake_algo:ALGORITHM"


def _cfg(steps, mode="inline", seed=0):
    return quick_config(steps, agent={"algo": FAKE, "hidden_sizes": [8], "actor_lr": 1e-4},
                        run={"mode": mode, "steps": steps, "seed": seed,
                             "checkpoint_every": 200, "metrics_every": 50})


def _returns(path):
    return [(e["step"], e["return"], e["length"]) for e in read_episodes(path)]


def test_fake_learner_satisfies_the_protocols():
    cfg = _cfg(10)
    learner = FakeLearner(cfg, 4, 1)
    assert isinstance(learner, Learner)
    import gymnasium as gym
    policy = algos.get(FAKE).make_policy(cfg, gym.make("InvertedPendulum-v5"), None)
    assert isinstance(policy, Acting)


def test_unknown_algo_is_a_config_error():
    with pytest.raises(ConfigError, match=r"agent.algo: got 'nope', allowed: avg, iac, sac1"):
        quick_config(10, agent={"algo": "nope"})
    with pytest.raises(ConfigError, match=r"agent.algo: cannot load 'no_such_module:X'"):
        algos.get("no_such_module:X")


def test_inline_checkpoint_resume_and_eval(tmp_path):
    straight = train_inline(_cfg(900, seed=1), tmp_path / "straight", progress=False)
    train_inline(_cfg(437, seed=1), tmp_path / "half", progress=False)  # mid-episode
    train_inline(_cfg(900, seed=1), tmp_path / "half", resume=True, progress=False)
    assert straight.episodes > 10
    assert _returns(tmp_path / "half") == _returns(straight.run_dir)
    ckpt = load_checkpoint(latest_checkpoint(tmp_path / "straight" / "checkpoints"))
    assert ckpt.algo == FAKE and ckpt.learner["updates"] == 900
    assert {"losses/fake", "timing/update_us_p50"} <= set(read_metrics(straight.run_dir)[0])
    assert len(evaluate(straight.run_dir, episodes=2, trust_run_dir=True).returns) == 2


def _updates_of_this_run(run_dir: Path) -> tuple[dict, int]:
    """timing.json of the run's last invocation, and the updates that invocation made (one
    update time per update in timing_steps.npz)."""
    timing = json.loads((run_dir / "timing.json").read_text())
    with np.load(run_dir / "timing_steps.npz") as arrays:
        return timing, int(arrays["update_us"].shape[0])


@pytest.mark.ray
@pytest.mark.slow
def test_realtime_modes_run_the_fake_learner(tmp_path):
    from rt_avg.actors.driver import train_realtime

    # An algorithm of one's own must be importable in every process, as a user's would be.
    here = str(Path(__file__).parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    ray.init(address="local", num_cpus=2, include_dashboard=False, _system_config=SYSTEM_CONFIG, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        inline = train_inline(_cfg(600, seed=2), tmp_path / "inline", progress=False)
        seq = train_realtime(_cfg(600, "sequential", seed=2), tmp_path / "seq", progress=False,
                             print_summary=False)
        assert _returns(seq.run_dir) == _returns(inline.run_dir)
        a = load_checkpoint(latest_checkpoint(tmp_path / "inline" / "checkpoints"))
        b = load_checkpoint(latest_checkpoint(tmp_path / "seq" / "checkpoints"))
        assert torch.equal(a.learner["params"], b.learner["params"])

        # Async: how many transitions the learner gets to depends on the machine, so the
        # test checks the books, not a rate: every update is counted once, in the learner's
        # state, in timing.json and in the per-update times, and the count goes on across
        # a resume (the learner's state comes back from the checkpoint).
        run = tmp_path / "async"
        train_realtime(_cfg(400, "async"), run, progress=False, print_summary=False)
        first = load_checkpoint(latest_checkpoint(run / "checkpoints"))
        timing, made = _updates_of_this_run(run)
        assert first.algo == FAKE and first.step == 400
        assert first.learner["updates"] == timing["updates"] == made >= 1
        assert made + timing["skipped_transitions"] <= 400

        res = train_realtime(_cfg(700, "async"), run, resume=True, progress=False,
                             print_summary=False)
        assert res.steps == 700
        ckpt = load_checkpoint(latest_checkpoint(run / "checkpoints"))
        timing, made = _updates_of_this_run(run)
        assert ckpt.algo == FAKE and ckpt.step == 700
        assert ckpt.learner["updates"] == timing["updates"] == first.learner["updates"] + made
        assert made >= 1 and made + timing["skipped_transitions"] <= 700 - 400
    finally:
        ray.shutdown()

"""Resuming a batch learner (SAC, TD3, PPO through Stable-Baselines3) from the command line:
a config that does not fit the checkpoint is refused with one line before anything is
written, and a continued run's replay buffer holds real transitions only."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from helpers import run_cli
from rt_avg.baselines.sb3 import train_sb3
from rt_avg.run.checkpoint import latest_checkpoint, load_checkpoint
from rt_avg.core.config import Config, load
from rt_avg.run.run_dir import read_episodes
from test_checkpoint import snapshot

pytest.importorskip("stable_baselines3")
pytestmark = pytest.mark.slow

STEPS = 200


def tiny(algo: str) -> Config:
    return Config().replace(
        agent={"algo": algo, "hidden_sizes": [16, 16]},
        batch={"learning_starts": 50, "n_epochs": 1, "buffer_size": 64 if algo == "ppo" else None},
        run={"steps": STEPS, "metrics_every": 100, "checkpoint_every": 10**6})


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 200-step run of each batch learner (the replay buffer holds all 200)."""
    root = tmp_path_factory.mktemp("sb3_resume")
    runs = {}
    for algo in ("sac", "td3", "ppo"):
        runs[algo] = root / algo
        train_sb3(tiny(algo), runs[algo], progress=False)
    return runs


@pytest.fixture
def copy_of(finished, tmp_path):
    def copy(algo):
        path = tmp_path / algo
        shutil.copytree(finished[algo], path)
        return path
    return copy


@pytest.mark.parametrize("algo, change, names", [
    ("sac", ["--set", "agent.hidden_sizes=[32,32]"],
     ["does not fit the checkpoint", "agent.hidden_sizes (16, 16) -> (32, 32)"]),
    ("td3", ["--set", "agent.hidden_sizes=[32,32]"], ["does not fit the checkpoint"]),
    ("ppo", ["--set", "agent.hidden_sizes=[8]"], ["does not fit the checkpoint"]),
    ("sac", ["--set", "env.id=Hopper-v5"], ["env.id", "'InvertedPendulum-v5'"]),
    ("sac", ["--set", "batch.buffer_size=50"],
     ["batch.buffer_size", "200 transitions", "50"]),
    ("sac", ["--steps", "100"], ["run.steps", "step 200"]),
    ("ppo", ["--steps", "100"], ["run.steps", "step 200"]),
])
def test_resume_that_does_not_fit_changes_nothing(copy_of, algo, change, names):
    run = copy_of(algo)
    before = snapshot(run)
    res = run_cli("train", "--resume", str(run), "--quiet", *change)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "Nothing was changed" in res.stderr
    for name in names:
        assert name in res.stderr, (name, res.stderr)
    assert snapshot(run) == before  # config.yaml untouched: later resumes and evals still work


def test_continued_run_keeps_only_real_transitions(copy_of, finished):
    """README's "continue a run": 200 steps, then --steps 600.  The replay, capped at the
    run's steps, grows from 200 to 600 rows; the 200 transitions of the first part stay and
    no row is an unwritten (zero) one."""
    run = copy_of("sac")
    first = load_checkpoint(latest_checkpoint(run / "checkpoints")).learner["replay"]
    assert first["full"] and len(first["observations"]) == STEPS
    res = run_cli("train", "--resume", str(run), "--steps", "600", "--quiet")
    assert res.returncode == 0, res.stderr
    ckpt = load_checkpoint(latest_checkpoint(run / "checkpoints"))
    replay = ckpt.learner["replay"]
    assert ckpt.step == 600 and load(run / "config.yaml").run.steps == 600
    obs = replay["observations"].reshape(len(replay["observations"]), -1)
    assert len(obs) == 600 and replay["full"] and replay["pos"] == 0
    zero_rows = int(np.sum(~obs.any(axis=1)))
    assert zero_rows == 0, f"{zero_rows} of 600 replay rows were never written"
    # the first part's transitions, oldest first, then the continued run's
    old = np.roll(first["observations"], -first["pos"], axis=0).reshape(STEPS, -1)
    np.testing.assert_array_equal(obs[:STEPS], old)
    steps = [e["step"] for e in read_episodes(run)]
    assert steps == sorted(set(steps)) and steps[-1] <= 600

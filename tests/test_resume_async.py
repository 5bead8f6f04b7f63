"""An async run whose learner dies before the first periodic checkpoint says that no
checkpoint exists (and where the logs are), and --resume then refuses, changing nothing."""

import os
import signal
import subprocess
import sys

import pytest

from helpers import HANG_S, ROOT, actor_pids, run_cli, wait_for
from rt_avg.run.checkpoint import list_checkpoints
from rt_avg.run.run_dir import read_episodes
from test_checkpoint import snapshot

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_learner_killed_before_the_first_checkpoint(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rt_avg.cli", "train", "--mode", "async", "--steps", "10000000",
         "--run-dir", str(run), "--quiet", "--set", "run.checkpoint_every=1000000000"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (run / "actors.json").exists() and len(read_episodes(run)) >= 5,
             "5 episodes logged", proc)
    os.kill(actor_pids(run)["learner"], signal.SIGKILL)
    out, err = proc.communicate(timeout=HANG_S)

    assert proc.returncode == 1, (out, err)
    assert "learner actor died" in err and "stopped safely" in err
    assert "no checkpoint was written" in err and f"the logs are in {run}" in err
    assert "periodic checkpoint" not in err and "Traceback" not in err
    assert list_checkpoints(run / "checkpoints") == []

    before = snapshot(run)
    res = run_cli("train", "--resume", str(run), "--quiet")
    assert res.returncode == 2, res.stderr
    assert "no usable checkpoint" in res.stderr and "Traceback" not in res.stderr
    assert snapshot(run) == before

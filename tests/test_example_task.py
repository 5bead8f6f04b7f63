"""docs/your-task.md's example, run as a user would: `rt-avg train --env
point_mass:PointMass-v0` from the example's folder (the console script, not python -m)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT
from rt_avg.run.checkpoint import latest_checkpoint, load_checkpoint
from rt_avg.run.run_dir import read_episodes

RT_AVG = str(Path(sys.executable).with_name("rt-avg"))  # the installed console script


@pytest.mark.slow
@pytest.mark.ray
def test_the_example_task_runs_async_from_its_folder(tmp_path):
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)  # only what a user has: the folder they are in
    res = subprocess.run([RT_AVG, "train", "--env", "point_mass:PointMass-v0", "--mode",
                          "async", "--steps", "500", "--run-dir", str(run), "--quiet",
                          "--set", "agent.hidden_sizes=[32,32]"],
                         cwd=ROOT / "examples", env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    assert load_checkpoint(latest_checkpoint(run / "checkpoints")).step == 500
    assert [e["step"] for e in read_episodes(run)] == [200, 400]  # 200-step episodes
    assert json.loads((run / "timing.json").read_text())["env_steps"] == 500

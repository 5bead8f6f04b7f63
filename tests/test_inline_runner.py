"""The inline runner: run directory, determinism, resume, Ctrl-C, eval."""

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
import yaml

from helpers import HANG_S, ROOT, quick_config, run_cli, wait_for
from rt_avg.run.checkpoint import list_checkpoints
from rt_avg.run.evaluate import evaluate
from rt_avg.run.inline import train_inline
from rt_avg.run.run_dir import RunDirectory, read_episodes, read_metrics


def _returns(path):
    return [(e["step"], e["return"], e["length"]) for e in read_episodes(path)]


def test_run_directory_is_complete(tmp_path):
    res = train_inline(quick_config(600), tmp_path / "run", progress=False)
    rd = RunDirectory(tmp_path / "run")
    assert res.steps == 600 and not res.interrupted
    cfg = yaml.safe_load(rd.config.read_text())
    assert cfg["env"]["id"] == "InvertedPendulum-v5" and cfg["run"]["steps"] == 600
    eps = read_episodes(rd)
    assert eps and eps[-1]["step"] <= 600
    assert all(e["length"] > 0 for e in eps)
    rows = read_metrics(rd)
    assert rows and {"losses/critic", "losses/actor", "losses/td_sigma", "losses/entropy",
                     "timing/update_us_p50"} <= set(rows[0])
    assert all(np.isfinite(r["losses/critic"]) for r in rows)
    assert [p.name for p in list_checkpoints(rd.checkpoints)] == ["step_0000000600.pt"]


def test_same_seed_same_returns(tmp_path):
    a = train_inline(quick_config(2000, seed=3), tmp_path / "a", progress=False)
    b = train_inline(quick_config(2000, seed=3), tmp_path / "b", progress=False)
    c = train_inline(quick_config(2000, seed=4), tmp_path / "c", progress=False)
    assert a.episodes > 10
    assert _returns(a.run_dir) == _returns(b.run_dir)
    assert _returns(a.run_dir) != _returns(c.run_dir)


def test_resume_from_half_way_matches_straight_run(tmp_path):
    straight = train_inline(quick_config(3000, seed=1), tmp_path / "straight", progress=False)
    # 1487 is mid-episode: resuming must rebuild the env state inside the episode.
    half = train_inline(quick_config(1487, seed=1), tmp_path / "half", progress=False)
    assert half.steps == 1487
    cfg = quick_config(3000, seed=1)
    train_inline(cfg, tmp_path / "half", resume=True, progress=False)
    assert _returns(tmp_path / "half") == _returns(straight.run_dir)


def test_eval_runs_deterministic_policy(tmp_path):
    train_inline(quick_config(500), tmp_path / "run", progress=False)
    r1 = evaluate(tmp_path / "run", episodes=3)
    r2 = evaluate(tmp_path / "run", episodes=3)
    assert len(r1.returns) == 3 and r1.returns == r2.returns and r1.step == 500
    out = run_cli("eval", str(tmp_path / "run"), "--episodes", "2", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["episodes"] == 2 and data["returns"] == r1.returns[:2]


@pytest.mark.slow
def test_ctrl_c_writes_checkpoint_and_exits_cleanly(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "rt_avg.cli", "train", "--steps", "1000000",
                             "--run-dir", str(run), "--quiet"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (run / "episodes.csv").exists() and len(read_episodes(run)) >= 5,
             "5 episodes logged", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    assert "--resume" in err
    ckpts = list_checkpoints(run / "checkpoints")
    assert len(ckpts) == 1
    step = int(ckpts[0].stem.split("_")[1])
    assert 0 < step < 1_000_000
    assert all(e["step"] <= step for e in read_episodes(run))
    # ... and the run continues from there.
    res = run_cli("train", "--resume", str(run), "--steps", str(step + 300), "--quiet")
    assert res.returncode == 0, res.stderr
    assert f"steps: {step + 300}" in res.stdout

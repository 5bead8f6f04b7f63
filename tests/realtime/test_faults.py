"""Faults in real processes: a learner killed mid-run, Ctrl-C on the driver."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import ROOT
from rt_avg.channels import list_segments
from rt_avg.checkpoint import list_checkpoints
from rt_avg.run_dir import read_episodes

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _start(run, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "rt_avg.cli", "train", "--mode", "async", "--steps", "10000000",
         "--run-dir", str(run), "--quiet", "--set", "run.checkpoint_every=500", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_episodes(run, n, proc, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.communicate())
        if (run / "episodes.csv").exists() and len(read_episodes(run)) >= n:
            return
        time.sleep(0.2)
    raise AssertionError("no episodes logged in time")


def _wait_for_checkpoint(run, timeout=120):
    deadline = time.monotonic() + timeout
    while not list_checkpoints(run / "checkpoints") and time.monotonic() < deadline:
        time.sleep(0.2)


def _our_segments(pids):
    return [s for s in list_segments() if any(f"_{p}_" in s for p in pids)]


def test_learner_killed_mid_run(tmp_path):
    run = tmp_path / "run"
    proc = _start(run)
    _wait_for_episodes(run, 20, proc)
    _wait_for_checkpoint(run)  # a periodic checkpoint (every 500 updates) to fall back on
    actors = json.loads((run / "actors.json").read_text())
    os.kill(actors["learner"]["pid"], signal.SIGKILL)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, (out, err)
    assert "learner actor died" in err and "stopped safely" in err
    assert "Traceback" not in err
    # The env stopped (the run ended long before its 10M steps) and the logs are kept.
    episodes = read_episodes(run)
    assert episodes and episodes[-1]["step"] < 10_000_000
    timing = json.loads((run / "timing.json").read_text())
    assert 0 < timing["env_steps"] < 10_000_000
    assert list_checkpoints(run / "checkpoints"), "periodic checkpoints are kept"
    assert not _our_segments([actors["env"]["pid"], actors["learner"]["pid"]])


def test_sigint_checkpoints_and_leaves_no_segments(tmp_path):
    run = tmp_path / "run"
    proc = _start(run)
    _wait_for_episodes(run, 10, proc)
    actors = json.loads((run / "actors.json").read_text())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "--resume" in err
    assert "memory MB (PSS)" in err  # the timing summary's footprint line
    ckpts = list_checkpoints(run / "checkpoints")
    assert ckpts
    final = int(ckpts[-1].stem.split("_")[1])
    timing = json.loads((run / "timing.json").read_text())
    assert final == timing["env_steps"]  # the final checkpoint is the stopping point
    assert not _our_segments([actors["env"]["pid"], actors["learner"]["pid"]])


def test_env_killed_mid_run_checkpoints_learner(tmp_path):
    run = tmp_path / "run"
    proc = _start(run)
    _wait_for_episodes(run, 20, proc)
    _wait_for_checkpoint(run)
    actors = json.loads((run / "actors.json").read_text())
    killed_at = time.time()
    os.kill(actors["env"]["pid"], signal.SIGKILL)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, (out, err)
    assert "env actor died" in err and "Traceback" not in err
    newest = list_checkpoints(run / "checkpoints")[-1]
    assert newest.stat().st_mtime > killed_at, "the learner's final state is checkpointed"
    assert read_episodes(run)


def _start_time(pid):
    """The process's start time (clock ticks), or None when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == b"Z" else int(fields[19])


def test_sigkilled_driver_leaves_nothing_behind_and_resume_continues(tmp_path):
    from helpers import run_cli
    from rt_avg.footprint import process_tree

    run = tmp_path / "run"
    proc = _start(run)
    _wait_for_episodes(run, 5, proc)
    _wait_for_checkpoint(run)
    actors = json.loads((run / "actors.json").read_text())
    # Only the learner loads torch: the env acts with numpy, and the driver and the logger
    # neither learn nor act.
    for pid in (proc.pid, actors["logger"]["pid"], actors["env"]["pid"]):
        with open(f"/proc/{pid}/maps") as f:
            assert "libtorch" not in f.read(), pid
    with open(f"/proc/{actors['learner']['pid']}/maps") as f:
        assert "libtorch" in f.read()
    started = {p: _start_time(p) for p in process_tree(proc.pid)}
    assert len(started) >= 7  # driver, reaper, GCS, raylet, its agents, the three actors
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    # Within 10 s: no process of the run (its Ray session included), none of its segments.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive = [p for p, t in started.items() if t is not None and _start_time(p) == t]
        segments = _our_segments([actors["env"]["pid"], actors["learner"]["pid"]])
        if not alive and not segments:
            break
        time.sleep(0.1)
    assert not alive and not segments, (alive, segments)
    # The periodic checkpoint is where --resume continues.
    ckpt = int(list_checkpoints(run / "checkpoints")[-1].stem.split("_")[1])
    res = run_cli("train", "--resume", str(run), "--steps", str(ckpt + 500), "--quiet")
    assert res.returncode == 0, res.stderr
    steps = [e["step"] for e in read_episodes(run)]
    assert steps == sorted(steps) and steps[-1] > ckpt
    assert int(list_checkpoints(run / "checkpoints")[-1].stem.split("_")[1]) == ckpt + 500

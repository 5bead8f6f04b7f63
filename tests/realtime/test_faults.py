"""Faults in real processes: a learner killed mid-run, Ctrl-C on the driver."""

import json
import os
import signal
import subprocess
import sys

import pytest

from helpers import HANG_S, ROOT, actor_pids, process_start, segments_of, wait_for
from rt_avg.run.checkpoint import list_checkpoints, load_checkpoint
from rt_avg.run.run_dir import read_episodes

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _start(run, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "rt_avg.cli", "train", "--mode", "async", "--steps", "10000000",
         "--run-dir", str(run), "--quiet", "--set", "run.checkpoint_every=500", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_episodes(run, n, proc):
    wait_for(lambda: (run / "episodes.csv").exists() and len(read_episodes(run)) >= n,
             f"{n} episodes logged", proc)


def _wait_for_checkpoint(run, proc):
    wait_for(lambda: list_checkpoints(run / "checkpoints"), "a periodic checkpoint", proc)


def _channel_segments(run):
    """The run's channel segments (created by its env and learner), found by their pids;
    there are some while it runs, so a check that they are gone is not a vacuous one."""
    pids = actor_pids(run)
    segments = segments_of([pids["env"], pids["learner"]])
    assert segments, "the run's channels are not found by their creators' pids"
    return pids, segments


def test_learner_killed_mid_run(tmp_path):
    run = tmp_path / "run"
    proc = _start(run)
    _wait_for_episodes(run, 20, proc)
    _wait_for_checkpoint(run, proc)  # a periodic checkpoint (every 500 updates) to fall back on
    pids, _ = _channel_segments(run)
    os.kill(pids["learner"], signal.SIGKILL)
    out, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 1, (out, err)
    assert "learner actor died" in err and "stopped safely" in err
    assert "Traceback" not in err
    # The env stopped (the run ended long before its 10M steps) and the logs are kept.
    episodes = read_episodes(run)
    assert episodes and episodes[-1]["step"] < 10_000_000
    timing = json.loads((run / "timing.json").read_text())
    assert 0 < timing["env_steps"] < 10_000_000
    assert list_checkpoints(run / "checkpoints"), "periodic checkpoints are kept"
    assert not segments_of([pids["env"], pids["learner"]])


def test_sigint_checkpoints_and_leaves_no_segments(tmp_path):
    run = tmp_path / "run"
    proc = _start(run)
    _wait_for_episodes(run, 10, proc)
    pids, _ = _channel_segments(run)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "--resume" in err
    assert "memory MB (PSS)" in err  # the timing summary's footprint line
    ckpts = list_checkpoints(run / "checkpoints")
    assert ckpts
    final = int(ckpts[-1].stem.split("_")[1])
    timing = json.loads((run / "timing.json").read_text())
    assert final == timing["env_steps"]  # the final checkpoint is the stopping point
    assert not segments_of([pids["env"], pids["learner"]])


def test_env_killed_mid_run_checkpoints_learner(tmp_path):
    run = tmp_path / "run"
    proc = _start(run)
    _wait_for_episodes(run, 20, proc)
    _wait_for_checkpoint(run, proc)
    os.kill(actor_pids(run)["env"], signal.SIGKILL)
    out, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 1, (out, err)
    assert "env actor died" in err and "Traceback" not in err
    # The learner's final state is checkpointed: the newest checkpoint holds every update
    # the learner made (timing.json has the count it reported when it stopped), not the
    # count of the last periodic checkpoint.
    updates = json.loads((run / "timing.json").read_text())["updates"]
    newest = load_checkpoint(list_checkpoints(run / "checkpoints")[-1])
    assert newest.learner["updates"] == updates > 0
    assert read_episodes(run)


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_sigkilled_driver_leaves_nothing_behind_and_resume_continues(tmp_path):
    from helpers import run_cli
    from rt_avg.bench.footprint import process_tree

    run = tmp_path / "run"
    proc = _start(run)
    _wait_for_episodes(run, 5, proc)
    _wait_for_checkpoint(run, proc)
    pids, _ = _channel_segments(run)
    # Only the learner loads torch: the env acts with numpy, and the driver and the logger
    # neither learn nor act.
    for pid in (proc.pid, pids["logger"], pids["env"]):
        with open(f"/proc/{pid}/maps") as f:
            assert "libtorch" not in f.read(), pid
    with open(f"/proc/{pids['learner']}/maps") as f:
        assert "libtorch" in f.read()
    started = {p: process_start(p) for p in process_tree(proc.pid)}
    assert len(started) >= 7  # driver, reaper, GCS, raylet, its agents, the three actors
    commands = {p: _cmdline(p) for p in started}
    (reaper,) = [p for p, c in commands.items() if "rt_avg.realtime.reaper" in c]
    ray_pids = [p for p, c in commands.items() if c.startswith("ray::") or "/ray/" in c]
    assert set(pids.values()) <= set(ray_pids)

    def alive(group):
        return [p for p in group if started[p] is not None and process_start(p) == started[p]]

    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=HANG_S)
    # The reaper ends the run's Ray processes, waits until they are gone, removes the dead
    # creators' segments and only then exits: at its exit none of them is left.
    wait_for(lambda: not alive([reaper]), "the reaper exits")
    assert not alive(ray_pids), [commands[p] for p in alive(ray_pids)]
    assert not segments_of(pids.values())
    # The rest (the actors' resource trackers) end as their actor is gone.
    wait_for(lambda: not alive(started), "every process of the run ends")
    # The periodic checkpoint is where --resume continues.
    ckpt = int(list_checkpoints(run / "checkpoints")[-1].stem.split("_")[1])
    res = run_cli("train", "--resume", str(run), "--steps", str(ckpt + 500), "--quiet")
    assert res.returncode == 0, res.stderr
    steps = [e["step"] for e in read_episodes(run)]
    assert steps == sorted(steps) and steps[-1] > ckpt
    assert int(list_checkpoints(run / "checkpoints")[-1].stem.split("_")[1]) == ckpt + 500

"""No run lost or corrupted, through the real command line: one writer per run directory,
every checkpoint write checked, logs that survive a crash mid-row, the resumed part's
steps/s, and a real-time run whose learner freezes or whose logger dies ends with one
line (and a final checkpoint from whoever still holds the state).

Waits are on events (a file appearing, a process ending) with generous bounds, never on
how long something takes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, run_cli
from rt_avg.run.checkpoint import list_checkpoints, load_checkpoint
from rt_avg.run.run_dir import read_episodes

BOUND_S = 240  # generous: a busy 2-core machine starting Ray, importing torch


def start_cli(tmp_path: Path, *args: str) -> subprocess.Popen:
    """``python -m rt_avg.cli ...`` in the background, its output in files under tmp_path."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    n = len(list(tmp_path.glob("cli-*.out")))
    out = open(tmp_path / f"cli-{n}.out", "w")
    err = open(tmp_path / f"cli-{n}.err", "w")
    proc = subprocess.Popen([sys.executable, "-m", "rt_avg.cli", *args], stdout=out,
                            stderr=err, cwd=ROOT, env=env)
    proc.err_path = tmp_path / f"cli-{n}.err"  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen, timeout: float = BOUND_S) -> tuple[int, str]:
    """Wait for ``proc`` (killed if it outlives ``timeout``: the test then fails)."""
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        pytest.fail(f"the run did not end within {timeout} s:\n{proc.err_path.read_text()}")
    return code, proc.err_path.read_text()


def wait_for(predicate, what: str, proc: subprocess.Popen | None = None,
             timeout: float = BOUND_S) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the run ended (rc {proc.returncode}) before {what}:\n"
                        f"{proc.err_path.read_text()}")
        if time.monotonic() > end:
            pytest.fail(f"no {what} within {timeout} s")
        time.sleep(0.05)


def checkpoints(run: Path) -> list[Path]:
    return list_checkpoints(run / "checkpoints")


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("rt-avg: ")]


def assert_clean_log(run: Path) -> None:
    steps = [e["step"] for e in read_episodes(run)]
    ids = [e["episode"] for e in read_episodes(run)]
    assert steps == sorted(set(steps)) and ids == sorted(set(ids))


LONG = ("--steps", "1000000", "--quiet", "--set", "run.checkpoint_every=100")


# ------------------------------------------------------------------ one writer per run


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["inline", pytest.param("async", marks=pytest.mark.ray)])
def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path, mode):
    run = tmp_path / "run"
    first = start_cli(tmp_path, "train", "--mode", mode, "--run-dir", str(run), *LONG)
    try:
        wait_for(lambda: checkpoints(run), "first checkpoint", first)
        second = run_cli("train", "--resume", str(run), "--steps", "2000000", "--quiet",
                         timeout=BOUND_S)
        assert second.returncode == 2, second.stderr
        lines = error_lines(second.stderr)
        assert len(lines) == 1 and f"pid {first.pid}" in lines[0], second.stderr
        assert "Traceback" not in second.stderr
        again = run_cli("train", "--run-dir", str(run), "--steps", "300", "--quiet",
                        timeout=BOUND_S)
        assert again.returncode == 2 and "already holds a run" in again.stderr, again.stderr
    finally:
        first.send_signal(signal.SIGINT)
    code, err = finish(first)
    assert code == 130, err
    assert_clean_log(run)


@pytest.mark.slow
def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    run = tmp_path / "run"
    first = start_cli(tmp_path, "train", "--run-dir", str(run), *LONG)
    wait_for(lambda: checkpoints(run), "first checkpoint", first)
    first.kill()  # SIGKILL: no clean-up at all; the lock file stays
    first.wait()
    assert (run / ".lock").exists()
    step = load_checkpoint(checkpoints(run)[-1]).step
    res = run_cli("train", "--resume", str(run), "--steps", str(step + 200), "--quiet",
                  timeout=BOUND_S)
    assert res.returncode == 0, res.stderr
    assert load_checkpoint(checkpoints(run)[-1]).step == step + 200
    assert_clean_log(run)


# ------------------------------------------------------------------ logs cut by a crash


@pytest.mark.slow
def test_a_partial_last_row_is_dropped_by_readers_and_on_resume(tmp_path):
    run = tmp_path / "run"
    res = run_cli("train", "--run-dir", str(run), "--steps", "300", "--quiet",
                  "--set", "run.checkpoint_every=100", timeout=BOUND_S)
    assert res.returncode == 0, res.stderr
    checkpoints(run)[-1].unlink()  # a crash after step 200: the rows after it come again
    rows = (run / "episodes.csv").read_text().splitlines()
    last_step = int(rows[-1].split(",")[0])
    with open(run / "episodes.csv", "a") as f:  # a crash in the middle of a row
        f.write(str(last_step + 3)[:1])
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 2')

    report = run_cli("report", str(run), "--out", str(tmp_path / "report"), timeout=BOUND_S)
    assert report.returncode == 0, report.stderr
    assert "partial last row" in report.stderr and "Traceback" not in report.stderr

    res = run_cli("train", "--resume", str(run), "--steps", "400", "--quiet", timeout=BOUND_S)
    assert res.returncode == 0, res.stderr
    assert "partial last row" in res.stderr
    for line in (run / "episodes.csv").read_text().splitlines():
        assert len(line.split(",")) == 5, line
    for line in (run / "metrics.jsonl").read_text().splitlines():
        json.loads(line)
    assert_clean_log(run)
    assert read_episodes(run)[-1]["step"] <= 400


# ------------------------------------------------------------------ checkpoint writes


def _refuse_checkpoints(run: Path) -> Path:
    """From now on every checkpoint write fails (the folder is a dangling link)."""
    moved = run / "checkpoints.moved"
    os.rename(run / "checkpoints", moved)
    os.symlink(run / "nowhere", run / "checkpoints")
    return moved


def _allow_checkpoints(run: Path, moved: Path) -> None:
    os.unlink(run / "checkpoints")
    os.rename(moved, run / "checkpoints")


def _events(run: Path, kind: str) -> list[dict]:
    path = run / "events.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in lines if e["kind"] == kind]


@pytest.mark.slow
@pytest.mark.ray
def test_async_periodic_checkpoint_refused_stops_the_run(tmp_path):
    run = tmp_path / "run"
    proc = start_cli(tmp_path, "train", "--mode", "async", "--run-dir", str(run),
                     "--steps", "30000", "--quiet", "--set", "run.checkpoint_every=100")
    wait_for(lambda: (run / "checkpoints").is_dir() and checkpoints(run), "first checkpoint",
             proc)
    _refuse_checkpoints(run)
    code, err = finish(proc)
    assert code == 1, err
    lines = error_lines(err)
    assert len(lines) == 1 and lines[0].startswith("rt-avg: run failed:"), err
    assert "could not write checkpoint" in lines[0] and "Traceback" not in err
    assert _events(run, "checkpoint_failed")
    assert read_episodes(run)[-1]["step"] < 30000  # stopped, not run to the end


def _refused_checkpoint_goes_on(tmp_path: Path, steps: int, *args: str) -> None:
    """A run with run.checkpoint_errors=continue: checkpoint writes are refused once, the
    run goes on with a warning, and ends at its steps with a final checkpoint."""
    run = tmp_path / "run"
    proc = start_cli(tmp_path, "train", *args, "--run-dir", str(run), "--steps", str(steps),
                     "--quiet", "--set", "run.checkpoint_every=100",
                     "--set", "run.checkpoint_errors=continue")
    wait_for(lambda: (run / "checkpoints").is_dir() and checkpoints(run), "first checkpoint",
             proc)
    moved = _refuse_checkpoints(run)
    wait_for(lambda: _events(run, "checkpoint_failed"), "checkpoint_failed event", proc)
    _allow_checkpoints(run, moved)
    code, err = finish(proc)
    assert code == 0, err
    assert "checkpoint_failed" in err and "the run goes on" in err
    assert load_checkpoint(checkpoints(run)[-1]).step == steps


@pytest.mark.slow
@pytest.mark.ray
def test_async_refused_checkpoint_goes_on_when_asked(tmp_path):
    _refused_checkpoint_goes_on(tmp_path, 8000, "--mode", "async")


@pytest.mark.slow
def test_sb3_refused_checkpoint_goes_on_when_asked(tmp_path):
    """The batch baselines write through the same sink and follow run.checkpoint_errors."""
    _refused_checkpoint_goes_on(tmp_path, 1000, "--algo", "sac",
                                "--set", "agent.hidden_sizes=[16,16]")


# ------------------------------------------------------------------ steps/s after a resume


@pytest.mark.slow
@pytest.mark.ray
def test_steps_per_second_after_a_resume_counts_the_resumed_part(tmp_path):
    run = tmp_path / "run"
    first = run_cli("train", "--mode", "async", "--run-dir", str(run), "--steps", "600",
                    "--quiet", timeout=BOUND_S)
    assert first.returncode == 0, first.stderr
    res = run_cli("train", "--resume", str(run), "--steps", "1200", "--quiet",
                  timeout=BOUND_S)
    assert res.returncode == 0, res.stderr
    timing = json.loads((run / "timing.json").read_text())
    with np.load(run / "timing_steps.npz") as arrays:
        steps_here = arrays["action_latency_us"].shape[0]  # one per step of this part
    assert timing["env_steps"] == 1200 and timing["start_step"] == 600 and steps_here == 600
    assert timing["env_steps_per_s"] * timing["wall_s"] == pytest.approx(steps_here)
    # Paced at dt 1 ms: cycles of one episode are never closer than dt; a reset starts a new
    # schedule (no catching up), so each episode ended in this part may save one period.
    resets = sum(1 for e in read_episodes(run) if 600 < e["step"] < 1200)
    fastest = steps_here / ((steps_here - 1 - resets) * 0.001)
    assert timing["env_steps_per_s"] <= fastest * 1.01, (timing, resets)
    assert f"at {timing['env_steps_per_s']:.0f}/s" in res.stderr


# ------------------------------------------------------------------ a frozen or dead actor


def _start_and_find(tmp_path: Path, role: str, timeout_s: int
                    ) -> tuple[Path, subprocess.Popen, int]:
    """A long async run (checkpoints every 100 steps), once it has its first checkpoint,
    and the pid of its ``role`` actor."""
    run = tmp_path / "run"
    proc = start_cli(tmp_path, "train", "--mode", "async", "--run-dir", str(run), *LONG,
                     "--set", f"realtime.actor_timeout_s={timeout_s}")
    wait_for(lambda: (run / "actors.json").exists() and checkpoints(run), "actors.json", proc)
    return run, proc, json.loads((run / "actors.json").read_text())[role]["pid"]


@pytest.mark.slow
@pytest.mark.ray
def test_a_frozen_learner_ends_the_run_with_one_line(tmp_path):
    run, proc, pid = _start_and_find(tmp_path, "learner", 3)
    os.kill(pid, signal.SIGSTOP)
    try:
        code, err = finish(proc)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert code == 1, err
    lines = error_lines(err)
    assert len(lines) == 1 and "the learner actor did not answer for 3 s" in lines[0], err
    assert "Traceback" not in err
    assert "last periodic checkpoint" in lines[0]
    load_checkpoint(checkpoints(run)[-1])
    assert (run / "timing.json").exists()
    assert_clean_log(run)


@pytest.mark.slow
@pytest.mark.ray
def test_a_dead_logger_ends_the_run_with_a_final_checkpoint(tmp_path):
    run, proc, pid = _start_and_find(tmp_path, "logger", 5)
    os.kill(pid, signal.SIGKILL)
    code, err = finish(proc)
    assert code == 1, err
    lines = error_lines(err)
    assert len(lines) == 1 and "the logger actor died" in lines[0], err
    assert "a final checkpoint" in lines[0] and "Traceback" not in err
    final = load_checkpoint(checkpoints(run)[-1])
    assert final.step == final.env_loop["step"] > 0
    res = run_cli("train", "--resume", str(run), "--steps", str(final.step + 200),
                  "--quiet", timeout=BOUND_S)
    assert res.returncode == 0, res.stderr


def test_a_resume_of_a_run_still_starting_names_the_writer(tmp_path):
    """A new run holds its directory's lock before it writes config.yaml: a --resume in that
    window names the writer's pid instead of calling the folder 'not a run directory'."""
    import os

    from rt_avg.run.run_dir import RunBusyError, RunDirectory, RunLock

    run = tmp_path / "run"
    run.mkdir()
    lock = RunLock(run).acquire("--run-dir")
    try:
        with pytest.raises(RunBusyError, match=f"pid {os.getpid()}"):
            RunDirectory(run).load_config()
    finally:
        lock.release()
    with pytest.raises(Exception, match="has no config.yaml"):
        RunDirectory(run).load_config()

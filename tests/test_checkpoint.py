"""Checkpoint files: tensors and plain data only, a crafted file runs no code, a damaged
newest file is skipped, a full disk leaves no stray files and the last good checkpoint."""

import errno
import os
import pickle

import numpy as np
import pytest
import torch

from helpers import quick_config, run_cli
from rt_avg import cli
from rt_avg.run.checkpoint import (Checkpoint, UnsafeCheckpointError, list_checkpoints,
                               load_checkpoint, load_newest, save_checkpoint)
from rt_avg.run.inline import train_inline
from rt_avg.run.run_dir import read_episodes


def snapshot(directory):
    """Every file under ``directory`` with its bytes."""
    return {p.relative_to(directory).as_posix(): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


class Payload:
    """What an attacker would put in a checkpoint: unpickling it runs a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _state():
    """The kinds of values learners and env loops hold."""
    rng = np.random.Generator(np.random.PCG64(7))
    rng.standard_normal(3)
    return Checkpoint(
        step=5, wall_time_s=1.5, algo="avg",
        learner={"actor": torch.randn(7), "updates": 5, "count": np.zeros(()),
                 "noise": {"block_state": rng.bit_generator.state, "index": 3}},
        env_loop={"episode_actions": np.ones((2, 3), np.float32), "raw_obs": np.arange(4.0),
                  "episode_return": np.float64(2.5), "step": np.int64(5), "empty": np.array([]),
                  "policy": {"version": 5, "pair": (1, 2.0)}})


def test_round_trip_is_tensors_and_plain_data(tmp_path):
    ckpt = _state()
    path = save_checkpoint(tmp_path, ckpt)
    torch.load(path, weights_only=True)  # the safe loader reads the file as it is
    back = load_checkpoint(path)
    assert (back.step, back.wall_time_s, back.algo) == (5, 1.5, "avg")
    assert torch.equal(back.learner["actor"], ckpt.learner["actor"])
    for key in ("episode_actions", "raw_obs", "empty"):
        got, want = back.env_loop[key], ckpt.env_loop[key]
        assert isinstance(got, np.ndarray) and got.dtype == want.dtype
        assert got.shape == want.shape and np.array_equal(got, want)
    assert back.learner["count"].shape == ()
    assert back.env_loop["episode_return"] == 2.5 and back.env_loop["step"] == 5
    assert back.env_loop["policy"]["pair"] == (1, 2.0)
    # The 128-bit generator state survives: the restored generator draws the same numbers.
    a = np.random.Generator(np.random.PCG64())
    a.bit_generator.state = back.learner["noise"]["block_state"]
    b = np.random.Generator(np.random.PCG64(7))
    b.standard_normal(3)
    assert np.array_equal(a.standard_normal(5), b.standard_normal(5))


def test_non_finite_state_is_not_saved(tmp_path):
    ckpt = _state()
    ckpt.learner["actor"][2] = float("nan")
    with pytest.raises(RuntimeError, match=r"learner\.actor"):
        save_checkpoint(tmp_path, ckpt)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("ckpt") / "run"
    train_inline(quick_config(300, run={"checkpoint_every": 100}), run, progress=False)
    return run


@pytest.mark.parametrize("form", ["torch.save", "plain pickle"])
def test_crafted_checkpoint_is_refused_and_runs_no_code(tmp_path, form):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "step_0000000001.pt"
    if form == "torch.save":
        torch.save({"step": Payload(marker)}, path)
    else:
        path.write_bytes(pickle.dumps({"step": Payload(marker)}))
    with pytest.raises(UnsafeCheckpointError, match="refused to load"):
        load_checkpoint(path)
    with pytest.raises(UnsafeCheckpointError):  # never skipped in favour of an older one
        load_newest(tmp_path)
    assert not marker.exists()


def test_crafted_checkpoint_in_a_run_is_refused_by_eval_and_resume(small_run, tmp_path):
    marker = tmp_path / "payload-ran"
    newest = list_checkpoints(small_run / "checkpoints")[-1]
    original = newest.read_bytes()
    torch.save({"step": Payload(marker)}, newest)
    try:
        before = snapshot(small_run)
        for args in (["eval", str(small_run), "--episodes", "1"],
                     ["train", "--resume", str(small_run), "--steps", "400", "--quiet"]):
            res = run_cli(*args)
            assert res.returncode == 2, res.stderr
            assert "refused to load" in res.stderr and newest.name in res.stderr
            assert "Traceback" not in res.stderr
            assert not marker.exists()
            assert snapshot(small_run) == before
    finally:
        newest.write_bytes(original)


def test_truncated_newest_checkpoint_falls_back_to_the_one_before(tmp_path):
    run = tmp_path / "run"
    cfg = quick_config(600, run={"checkpoint_every": 200})
    train_inline(cfg, run, progress=False)
    newest = list_checkpoints(run / "checkpoints")[-1]
    assert newest.name == "step_0000000600.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])

    res = run_cli("train", "--resume", str(run), "--steps", "800", "--quiet")
    assert res.returncode == 0, res.stderr
    assert "step_0000000600.pt" in res.stderr and "truncated or damaged" in res.stderr
    assert "Traceback" not in res.stderr
    assert load_newest(run / "checkpoints").step == 800
    # Continued exactly from step 400: the same episodes as a straight 800-step run.
    straight = tmp_path / "straight"
    train_inline(cfg.replace(run={"steps": 800}), straight, progress=False)
    key = [(e["step"], e["return"]) for e in read_episodes(straight)]
    assert [(e["step"], e["return"]) for e in read_episodes(run)] == key


def test_full_disk_while_saving_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    real_fsync = os.fsync
    written = []

    def fsync(fd):  # the third checkpoint write finds the disk full
        if ".tmp" in os.readlink(f"/proc/self/fd/{fd}"):
            written.append(fd)
            if len(written) == 3:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    code = cli.main(["train", "--steps", "1000", "--set", "run.checkpoint_every=200",
                     "--run-dir", str(run), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rt-avg: run failed:"), err
    assert "No space left on device" in err and "step_0000000400.pt" in err
    # No temporary file left, the last good checkpoint intact.
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step_0000000200.pt", "step_0000000400.pt"]
    assert load_checkpoint(run / "checkpoints" / "step_0000000400.pt").step == 400

    monkeypatch.setattr(os, "fsync", real_fsync)  # space freed: the run continues
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert load_newest(run / "checkpoints").step == 1000

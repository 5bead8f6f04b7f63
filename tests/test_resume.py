"""--resume checks before it writes: no checkpoint, or a config that does not fit it, is
refused with the run directory left byte-identical."""

import numpy as np
import pytest

from helpers import quick_config, run_cli
from rt_avg.run.checkpoint import list_checkpoints, load_newest
from rt_avg.core.config import load
from rt_avg.run.inline import train_inline
from rt_avg.run.resume import ResumeError, check_resume_early
from rt_avg.run.run_dir import RunDirectory, read_episodes
from test_checkpoint import snapshot


@pytest.fixture
def run(tmp_path):
    path = tmp_path / "run"
    train_inline(quick_config(300, run={"checkpoint_every": 100}), path, progress=False)
    return path


def test_resume_without_a_checkpoint_is_refused_and_changes_nothing(run):
    for ckpt in list_checkpoints(run / "checkpoints"):  # a run killed before its first one
        ckpt.unlink()
    before = snapshot(run)
    for extra in ([], ["--mode", "async"]):  # refused before Ray starts, too
        res = run_cli("train", "--resume", str(run), "--steps", "600", "--quiet", *extra)
        assert res.returncode == 2, res.stderr
        assert "no usable checkpoint" in res.stderr and "Traceback" not in res.stderr
        assert snapshot(run) == before  # episodes.csv byte-identical: no duplicate rows


def test_resume_with_only_damaged_checkpoints_is_refused(run):
    for ckpt in list_checkpoints(run / "checkpoints"):
        ckpt.write_bytes(ckpt.read_bytes()[:100])
    before = snapshot(run)
    res = run_cli("train", "--resume", str(run), "--steps", "600", "--quiet")
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("truncated or damaged") == 3
    assert "no usable checkpoint" in res.stderr and "Traceback" not in res.stderr
    assert snapshot(run) == before


@pytest.mark.parametrize("change, message", [
    (["--set", "agent.hidden_sizes=[64,64]"], "agent.hidden_sizes (256, 256) -> (64, 64)"),
    (["--set", "agent.algo=tests.algos.fake_algo:ALGORITHM"], "written by 'avg'"),
    (["--set", "env.id=Hopper-v5"], "env.id: the run trained on 'InvertedPendulum-v5'"),
    # Real-time modes: refused before Ray, the actors or the run directory's logger start.
    (["--mode", "async", "--set", "agent.hidden_sizes=[64,64]"], "(256, 256) -> (64, 64)"),
])
def test_resume_with_a_config_that_does_not_fit_changes_nothing(run, change, message):
    before = snapshot(run)
    res = run_cli("train", "--resume", str(run), "--steps", "600", "--quiet", *change)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Nothing was changed" in res.stderr
    assert "Traceback" not in res.stderr
    assert snapshot(run) == before  # config.yaml untouched


def test_resume_records_a_fitting_change_and_continues(run):
    res = run_cli("train", "--resume", str(run), "--steps", "500", "--quiet",
                  "--set", "agent.actor_lr=0.0005")
    assert res.returncode == 0, res.stderr
    cfg = load(run / "config.yaml")
    assert cfg.agent.actor_lr == 0.0005 and cfg.run.steps == 500
    steps = [e["step"] for e in read_episodes(run)]
    assert steps == sorted(set(steps)) and steps[-1] <= 500  # no duplicate rows


@pytest.mark.parametrize("actions", [np.zeros((3, 1)), np.array([])],
                         ids=["mid-episode", "at an episode's start"])
def test_early_check_needs_no_env(run, actions):
    ckpt = load_newest(run / "checkpoints")
    ckpt.env_loop["episode_actions"] = actions  # the action size shows, or must be found
    run_dir = RunDirectory(run)
    cfg = run_dir.load_config()
    check_resume_early(run_dir, cfg.replace(agent={"actor_lr": 5e-4}), ckpt)  # fits
    with pytest.raises(ResumeError, match=r"learner\.actor has shape \[\d+\] in the checkpoint"):
        check_resume_early(run_dir, cfg.replace(agent={"hidden_sizes": [64, 64]}), ckpt)


@pytest.mark.parametrize("log, line", [("episodes.csv", "garbage,row\n"),
                                       ("metrics.jsonl", '{"step": "x"}\n')])
def test_resume_with_a_damaged_log_row_is_refused_and_changes_nothing(run, log, line):
    path = run / log
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = line  # a row in the middle (not a partial last one, which is dropped)
    path.write_text("".join(lines))
    before = snapshot(run)
    res = run_cli("train", "--resume", str(run), "--steps", "600", "--quiet",
                  "--set", "agent.actor_lr=0.0005")
    assert res.returncode == 2, res.stderr
    assert f"{log}, line 2" in res.stderr and "Nothing was changed" in res.stderr
    assert "Traceback" not in res.stderr
    assert snapshot(run) == before  # config.yaml (with the --set) not recorded either

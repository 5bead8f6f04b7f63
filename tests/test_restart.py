"""A run that stopped before its first checkpoint can be started again in place
(``--run-dir RUN --restart``); one with a checkpoint never is."""

from helpers import quick_config, run_cli
from rt_avg.run.checkpoint_files import latest_checkpoint, list_checkpoints
from rt_avg.core.config import load
from rt_avg.run.inline import train_inline
from rt_avg.run.run_dir import read_episodes
from test_checkpoint import snapshot

NONFINITE = "tests.nonfinite_env:test/NonFinite-v0"  # importable from the repository root
FIRST = ["--env", NONFINITE, "--steps", "300", "--set", "env.kwargs.bad_step=120",
         "--set", "agent.hidden_sizes=[16,16]", "--set", "run.checkpoint_every=1000", "--quiet"]


def test_a_run_that_failed_before_its_first_checkpoint_restarts_in_place(tmp_path):
    run = tmp_path / "run"
    res = run_cli("train", "--run-dir", str(run), *FIRST)  # NaN at step 120: no checkpoint
    assert res.returncode == 1 and "non-finite observation" in res.stderr, res.stderr
    assert (run / "config.yaml").exists() and not list_checkpoints(run / "checkpoints")
    before = snapshot(run)
    for args in (["--run-dir", str(run), *FIRST],
                 ["--resume", str(run), "--trust-run-dir", "--quiet"]):
        res = run_cli("train", *args)  # both say how to start it again
        assert res.returncode == 2, res.stderr
        assert f"--run-dir {run} --restart" in res.stderr and "Traceback" not in res.stderr
        assert snapshot(run) == before
    # Its own config.yaml (a task of one's own: allowed with --trust-run-dir), the fault
    # moved beyond the run's steps.
    res = run_cli("train", "--run-dir", str(run), "--restart", "--trust-run-dir",
                  "--set", "env.kwargs.bad_step=1000000", "--quiet")
    assert res.returncode == 0, res.stderr
    assert "stopped before its first checkpoint" in res.stderr
    cfg = load(run / "config.yaml")
    assert cfg.env.id == NONFINITE and cfg.env.kwargs["bad_step"] == 1000000
    assert cfg.agent.hidden_sizes == (16, 16) and cfg.run.steps == 300
    assert latest_checkpoint(run / "checkpoints").name == "step_0000000300.pt"
    episodes = read_episodes(run)  # the new attempt's only: 50-step episodes from step 50
    assert [e["step"] for e in episodes] == list(range(50, 301, 50))
    assert [e["episode"] for e in episodes] == list(range(6))


def test_a_run_with_a_checkpoint_is_never_restarted(tmp_path):
    run = tmp_path / "run"
    train_inline(quick_config(200, agent={"hidden_sizes": [16, 16]},
                              run={"checkpoint_every": 100}), run, progress=False)
    before = snapshot(run)
    res = run_cli("train", "--run-dir", str(run), "--restart", "--quiet")
    assert res.returncode == 2, res.stderr
    assert "--restart" in res.stderr and f"--resume {run}" in res.stderr
    assert "Traceback" not in res.stderr
    assert snapshot(run) == before

"""A tracked inline run writes an offline wandb run file holding what the run directory holds."""

from __future__ import annotations

import io
import json
import math

import pytest

from final_return_by_hand import run_final_return

from tracking_runs import tiny_config
from rt_avg.run.inline import train_inline
from rt_avg.run.run_dir import read_episodes, read_metrics
from rt_avg.run.tracking.wandb_reader import find_run_file, read_finished_run
from rt_avg.run.tracking.wandb_tracker import WandbTracker


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    path = tmp_path_factory.mktemp("tracked") / "run"
    res = train_inline(tiny_config(0, wandb=True, mode="offline"), path, progress=False)
    assert res.steps == 600
    return path, read_finished_run(path)


def test_history_holds_episode_returns_against_env_steps(tracked):
    path, run = tracked
    episodes = read_episodes(path)
    assert len(episodes) > 5
    steps, returns = run.series("charts/episode_return")
    assert returns == [e["return"] for e in episodes]
    assert steps == [e["step"] for e in episodes]
    _, lengths = run.series("charts/episode_length")
    assert lengths == [e["length"] for e in episodes]
    assert run.metrics["charts/*"] == "env_step"
    assert run.metrics["losses/*"] == "env_step" and run.metrics["timing/*"] == "env_step"


def test_history_holds_learner_metrics_and_timing(tracked):
    path, run = tracked
    rows = [r for r in run.history if "losses/critic" in r]
    logged = [m for m in read_metrics(path)]
    assert len(rows) == 600 // 100
    for row, m in zip(rows, logged):
        assert row["env_step"] == m["step"]
        for key in ("losses/critic", "losses/actor", "timing/update_us_p50",
                    "timing/update_us_p99"):
            assert row[key] == pytest.approx(m[key])


def test_config_code_version_summary_and_figure(tracked):
    path, run = tracked
    assert run.config["agent"]["hidden_sizes"] == [32, 32]
    assert run.config["run"]["steps"] == 600 and run.config["env"]["id"] == "InvertedPendulum-v5"
    version = run.config["code"]["version"]
    assert version.startswith("git:") or version.startswith("rt-avg==")
    assert run.name == path.name
    # final return: the one definition (tests/final_return_by_hand.py)
    assert run.summary["charts/final_return"] == pytest.approx(run_final_return(path, 600))
    image = [r for r in run.history if "charts/learning_curve.path" in r]
    assert len(image) == 1
    png = find_run_file(path).parent / "files" / image[0]["charts/learning_curve.path"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run.exited


def test_wandb_files_stay_inside_the_run_directory(tracked):
    path, _ = tracked
    assert find_run_file(path).is_relative_to(path / "wandb")
    assert (path / "config.yaml").exists() and (path / "episodes.csv").exists()


def test_timing_summary_and_sync_hint(tmp_path):
    stream = io.StringIO()
    tracker = WandbTracker(tiny_config(wandb=True), tmp_path, stream=stream)
    tracker.log_episode(10, 0, 3.5, 10)
    tracker.log_metrics(10, {"step": 10, "updates": 10, "losses/critic": 0.5,
                             "timing/update_us_p50": 120.0, "note": "text is skipped"})
    tracker.log_timing({"action_latency_us": {"p50": 80.0, "p99": 400.0}, "steps_per_s": 25.0})
    tracker.finish(tmp_path)
    run = read_finished_run(tmp_path)
    assert run.summary["timing/action_latency_us/p50"] == 80.0
    assert run.summary["timing/steps_per_s"] == 25.0
    row = next(r for r in run.history if "losses/critic" in r)
    assert row["env_step"] == 10 and row["charts/updates"] == 10 and "note" not in row
    assert f"wandb sync {find_run_file(tmp_path).parent}" in stream.getvalue()


def test_timing_json_is_picked_up_at_finish(tmp_path):
    (tmp_path / "timing.json").write_text(json.dumps({"cycle_ms": {"p99": 41.5}}))
    tracker = WandbTracker(tiny_config(wandb=True), tmp_path, stream=io.StringIO())
    tracker.finish(tmp_path)
    assert read_finished_run(tmp_path).summary["timing/cycle_ms/p99"] == 41.5


def test_a_failing_wandb_call_warns_once_and_the_run_goes_on(tmp_path):
    stream = io.StringIO()
    tracker = WandbTracker(tiny_config(wandb=True), tmp_path, stream=stream)

    def broken(*args, **kwargs):
        raise RuntimeError("service gone")

    tracker.run.log = broken
    tracker.log_episode(1, 0, 1.0, 1)
    tracker.log_metrics(1, {"losses/critic": 1.0})
    tracker.log_timing({"x": 1.0})
    tracker.finish(tmp_path)
    text = stream.getvalue()
    assert text.count("failed") == 1 and "service gone" in text
    assert tracker.failed and tracker.run is None


def test_a_failing_wandb_init_does_not_stop_training(tmp_path, monkeypatch, capsys):
    import wandb

    def broken_init(*args, **kwargs):
        raise RuntimeError("cannot start wandb-core")

    monkeypatch.setattr(wandb, "init", broken_init)
    res = train_inline(tiny_config(wandb=True), tmp_path / "run", progress=False)
    assert res.steps == 600 and not res.interrupted
    assert read_episodes(tmp_path / "run")
    err = capsys.readouterr().err
    assert err.count("wandb: init failed") == 1 and "cannot start wandb-core" in err
    assert not math.isnan(res.wall_s)


def test_sync_command_names_the_offline_run(tracked):
    from rt_avg.run.tracking.wandb_tracker import sync_command

    path, _ = tracked
    run_file = find_run_file(path)
    assert sync_command(path) == f"wandb sync {run_file.parent}"
    assert sync_command(path / "nowhere") is None


def test_resumed_run_keeps_its_wandb_run_id(tmp_path):
    from rt_avg.core.config import Config
    from rt_avg.run.inline import train_inline

    cfg = Config().replace(run={"steps": 300, "seed": 0, "checkpoint_every": 10**9,
                                "metrics_every": 100},
                           agent={"hidden_sizes": [32, 32]},
                           tracking={"wandb": True, "mode": "offline"})
    train_inline(cfg, tmp_path / "run", progress=False)
    first = (tmp_path / "run" / "wandb" / "run_id").read_text()
    train_inline(cfg.replace(run={"steps": 600}), tmp_path / "run", resume=True, progress=False)
    assert (tmp_path / "run" / "wandb" / "run_id").read_text() == first
    runs = sorted((tmp_path / "run" / "wandb").glob("offline-run-*"))
    # (two offline directories, or one when both starts fall in the same second)
    assert runs and all(f"-{first}" in r.name for r in runs)

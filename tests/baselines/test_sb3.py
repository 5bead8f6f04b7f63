"""Batch SAC, TD3 and PPO (Stable-Baselines3) write the common run directory, at buffer
size 1 and with a large buffer; report draws them; Ctrl-C leaves a checkpoint to resume."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import yaml

from final_return_by_hand import run_final_return
from rt_avg.analysis.report import make_report
from rt_avg.api import inline_runner
from rt_avg.baselines.sb3 import build_model, resolved, train_sb3
from rt_avg.run.checkpoint import latest_checkpoint, load_checkpoint
from rt_avg.core.config import Config, ConfigError, from_dict
from rt_avg.core.environments import make_env
from rt_avg.run.run_dir import EPISODE_FIELDS, read_episodes, read_metrics

pytest.importorskip("stable_baselines3")
pytestmark = pytest.mark.slow

STEPS = 300
LARGE = {"sac": 100_000, "td3": 100_000, "ppo": 128}
"""A large buffer: more than the run for SAC and TD3; PPO's rollout must fit the run."""
LOSSES = {"sac": ("losses/actor_loss", "losses/critic_loss", "losses/ent_coef"),
          "td3": ("losses/actor_loss", "losses/critic_loss"),
          "ppo": ("losses/value_loss", "losses/policy_gradient_loss")}


def tiny(algo: str, buffer_size: int, seed: int = 0, steps: int = STEPS) -> Config:
    return Config().replace(
        agent={"algo": algo, "hidden_sizes": [16, 16]},
        batch={"buffer_size": buffer_size, "learning_starts": 50, "n_epochs": 1},
        run={"steps": steps, "seed": seed, "metrics_every": 100, "checkpoint_every": 10**6})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sb3")
    out = {}
    for algo in ("sac", "td3", "ppo"):
        for size in (1, LARGE[algo]):
            path = root / f"{algo}-b{size}"
            result = inline_runner(tiny(algo, size))(tiny(algo, size), path, progress=False)
            assert result.steps == STEPS and not result.interrupted
            out[(algo, size)] = path
    return out


@pytest.mark.parametrize("algo", ["sac", "td3", "ppo"])
@pytest.mark.parametrize("large", [False, True])
def test_run_directory_is_the_common_one(runs, algo, large):
    size = LARGE[algo] if large else 1
    path = runs[(algo, size)]
    with open(path / "episodes.csv", newline="") as f:
        assert tuple(next(csv.reader(f))) == EPISODE_FIELDS
    episodes = read_episodes(path)
    assert len(episodes) >= 5
    # InvertedPendulum-v5 pays 1 per step but 0 for the step that drops the pole: each return
    # is its length (truncated) or one less (terminated), and the lengths add up to the step
    # at which each episode ended (the episode book is the env's own).
    assert all(e["length"] - e["return"] in (0, 1) for e in episodes)
    assert np.cumsum([e["length"] for e in episodes]).tolist() == [e["step"] for e in episodes]
    assert [e["episode"] for e in episodes] == list(range(len(episodes)))
    assert episodes[-1]["step"] <= STEPS
    metrics = read_metrics(path)
    steps = [m["step"] for m in metrics]  # every 100 steps once there are updates
    assert steps[-1] == STEPS and all(s % 100 == 0 for s in steps) and steps == sorted(set(steps))
    for key in LOSSES[algo]:
        assert all(math.isfinite(m[key]) for m in metrics if key in m)
        assert key in metrics[-1]
    assert metrics[-1]["updates"] > 0  # it learned (at buffer size 1 too)
    cfg = yaml.safe_load((path / "config.yaml").read_text())
    assert cfg["agent"]["algo"] == algo and cfg["batch"]["buffer_size"] == size
    ckpt = load_checkpoint(latest_checkpoint(path / "checkpoints"))
    assert ckpt.step == STEPS and ckpt.algo == algo


@pytest.mark.parametrize("algo", ["sac", "td3", "ppo"])
def test_buffer_size_one_is_a_buffer_of_one(algo):
    cfg = tiny(algo, 1)
    assert resolved(cfg)["buffer_size"] == 1 and resolved(cfg)["batch_size"] == 1
    model = build_model(cfg, make_env(cfg.env))
    if algo == "ppo":
        assert model.n_steps == 1 and model.batch_size == 1 and not model.normalize_advantage
    else:
        assert model.replay_buffer.buffer_size == 1 and model.batch_size == 1
    large = resolved(tiny(algo, 100_000))
    assert large["buffer_size"] == (100_000 if algo == "ppo" else STEPS)  # a replay never above the run
    assert large["batch_size"] == (64 if algo == "ppo" else 256)


def test_report_draws_the_batch_runs(runs, tmp_path):
    paths = [runs[("sac", 1)], runs[("sac", LARGE["sac"])], runs[("ppo", 1)]]
    result = make_report(paths, tmp_path / "report")
    assert result.figures["learning_curves"].read_bytes()[:4] == b"\x89PNG"
    lines = result.plotted["learning_curves"].lines
    assert len(lines) == 3
    for curve, (_, x, y) in zip(result.curves, lines):
        (path,) = curve.runs
        # the last point is the run's final return (tests/final_return_by_hand.py)
        assert y[-1] == pytest.approx(run_final_return(path, STEPS)) and x[-1] == STEPS
    labels = {g.label for g in result.groups}
    assert any("algo=sac" in label for label in labels) and any("algo=ppo" in label
                                                               for label in labels)


def test_same_seed_same_run(runs, tmp_path):
    again = tmp_path / "again"
    train_sb3(tiny("sac", LARGE["sac"]), again, progress=False)

    def rows(path):
        return [(e["step"], e["return"]) for e in read_episodes(path)]

    assert rows(again) == rows(runs[("sac", LARGE["sac"])])
    other = tmp_path / "other-seed"
    train_sb3(tiny("sac", LARGE["sac"], seed=1), other, progress=False)
    assert rows(other) != rows(again)


class StopAfter:
    """A stop request that turns true after ``n`` checks (one check per env step)."""

    signal_name = "SIGINT"

    def __init__(self, n: int) -> None:
        self.n = n

    def __bool__(self) -> bool:
        self.n -= 1
        return self.n < 0

    def at_step(self, step: int) -> bool:
        return bool(self)


@pytest.mark.parametrize("algo", ["sac", "ppo"])
def test_stop_checkpoints_and_resume_finishes_the_run(tmp_path, algo):
    cfg, path = tiny(algo, 100), tmp_path / "run"
    first = train_sb3(cfg, path, stop=StopAfter(150), progress=False)
    assert first.interrupted and first.steps == 151
    assert load_checkpoint(latest_checkpoint(path / "checkpoints")).step == 151
    before = read_episodes(path)
    done = train_sb3(cfg, path, resume=True, progress=False)
    assert done.steps == STEPS and not done.interrupted
    episodes = read_episodes(path)
    assert episodes[:len(before)] == before
    assert [e["episode"] for e in episodes] == list(range(len(episodes)))
    assert all(a["step"] < b["step"] for a, b in zip(episodes, episodes[1:]))
    assert load_checkpoint(latest_checkpoint(path / "checkpoints")).step == STEPS
    with pytest.raises(ConfigError, match="agent.algo: the checkpoint .* written by .* cannot continue as 'td3'"):
        train_sb3(tiny("td3", 100), path, resume=True, progress=False)


def test_batch_learners_run_inline_only():
    with pytest.raises(ConfigError, match="run.mode: got 'async', but agent.algo 'ppo' is a "
                                          "batch learner"):
        from_dict({"agent": {"algo": "ppo"}, "run": {"mode": "async"}})
    with pytest.raises(ConfigError, match="batch.buffer_size: got 0, allowed range"):
        from_dict({"batch": {"buffer_size": 0}})


@pytest.mark.parametrize("algo", ["sac", "td3", "ppo"])
def test_eval_runs_the_batch_learners_deterministic_policy(runs, algo):
    from rt_avg.run.evaluate import evaluate

    first = evaluate(runs[(algo, 1)], episodes=2)
    again = evaluate(runs[(algo, 1)], episodes=2)
    assert first.step == STEPS and len(first.returns) == 2
    assert first.returns == again.returns  # deterministic actions, fixed reset seeds

"""IAC and SAC-1 through the runners: an inline run resumed from a mid-episode checkpoint
replays the straight run exactly; sequential mode reproduces inline to the bit; async runs
and resumes."""

import numpy as np
import pytest
import ray
import torch

from helpers import quick_config
from rt_avg.core import config as C
from rt_avg.run.checkpoint import latest_checkpoint, load_checkpoint
from rt_avg.run.evaluate import evaluate
from rt_avg.run.inline import train_inline
from rt_avg.run.run_dir import read_episodes, read_metrics
from rt_avg.actors.local_ray import SYSTEM_CONFIG

ALGOS = ["iac", "sac1"]


def _cfg(algo, steps, mode="inline", seed=0):
    return quick_config(steps, agent={"algo": algo, "hidden_sizes": [32, 32]},
                        run={"mode": mode, "steps": steps, "seed": seed,
                             "checkpoint_every": 250, "metrics_every": 100})


def _returns(path):
    return [(e["step"], e["return"], e["length"]) for e in read_episodes(path)]


def _assert_same_state(a, b, where=""):
    """Every tensor and number of two learner state dicts is identical."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


@pytest.mark.parametrize("algo", ALGOS)
def test_inline_resume_replays_the_straight_run(tmp_path, algo):
    straight = train_inline(_cfg(algo, 600, seed=1), tmp_path / "straight", progress=False)
    train_inline(_cfg(algo, 250, seed=1), tmp_path / "half", progress=False)  # mid-episode
    train_inline(_cfg(algo, 600, seed=1), tmp_path / "half", resume=True, progress=False)
    assert straight.episodes > 10
    assert _returns(tmp_path / "half") == _returns(straight.run_dir)
    a = load_checkpoint(latest_checkpoint(tmp_path / "straight" / "checkpoints"))
    b = load_checkpoint(latest_checkpoint(tmp_path / "half" / "checkpoints"))
    assert a.algo == algo and a.learner["updates"] == 600
    _assert_same_state(a.learner, b.learner)
    assert {"losses/critic", "losses/actor", "losses/td_sigma"} <= set(
        read_metrics(straight.run_dir)[0])
    assert len(evaluate(straight.run_dir, episodes=2).returns) == 2


def test_ready_configs_hold_the_published_defaults_and_run(tmp_path):
    iac, sac1 = C.load("iac"), C.load("sac1")
    assert (iac.agent.algo, iac.env.id) == ("iac", "Hopper-v5")
    assert (iac.agent.actor_lr, iac.agent.critic_lr, iac.agent.beta1, iac.agent.gamma,
            iac.agent.entropy_coef) == (6e-5, 8.7e-4, 0.9, 0.99, 0.6)
    assert (sac1.agent.algo, sac1.agent.actor_lr, sac1.agent.critic_lr, sac1.agent.beta1,
            sac1.agent.gamma) == ("sac1", 6e-5, 8.7e-4, 0.9, 0.99)
    assert (sac1.sac1.alpha_lr, sac1.sac1.init_temperature, sac1.sac1.tau) == (0.6, 0.1, 0.005)
    # Looking a task up by env id finds AVG's file unless another algorithm is asked for.
    assert C.ready_config_for_env("Hopper-v5").agent.algo == "avg"
    assert C.ready_config_for_env("Hopper-v5", "sac1") == sac1
    assert C.ready_config_for_env("Swimmer-v5", "iac").agent.algo == "iac"
    for name, cfg in (("iac", iac), ("sac1", sac1)):
        cfg = cfg.replace(run={"steps": 200, "checkpoint_every": 10**9, "metrics_every": 100})
        train_inline(cfg, tmp_path / name, progress=False)
        rows = read_metrics(tmp_path / name)
        assert len(rows) == 2 and all(np.isfinite(r["losses/critic"]) for r in rows)


def test_sac1_settings_are_validated():
    with pytest.raises(C.ConfigError, match=r"sac1.tau: got 0.0, allowed range is \(0, 1\]"):
        quick_config(10, sac1={"tau": 0.0})
    with pytest.raises(C.ConfigError, match=r"sac1.alpha_lr: got -1.0"):
        quick_config(10, sac1={"alpha_lr": -1.0})
    with pytest.raises(C.ConfigError, match=r"sac1.temperature: unknown field; allowed: "
                                            r"alpha_lr, init_temperature, tau"):
        quick_config(10, sac1={"temperature": 0.2})


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, _system_config=SYSTEM_CONFIG, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize("algo", ALGOS)
def test_sequential_reproduces_inline_and_async_resumes(tmp_path, algo, local_ray):
    from rt_avg.actors.driver import train_realtime

    inline = train_inline(_cfg(algo, 600, seed=2), tmp_path / "inline", progress=False)
    seq = train_realtime(_cfg(algo, 600, "sequential", seed=2), tmp_path / "seq",
                         progress=False, print_summary=False)
    assert inline.episodes > 10
    assert _returns(seq.run_dir) == _returns(inline.run_dir)
    a = load_checkpoint(latest_checkpoint(tmp_path / "inline" / "checkpoints"))
    b = load_checkpoint(latest_checkpoint(tmp_path / "seq" / "checkpoints"))
    _assert_same_state(a.learner, b.learner)

    train_realtime(_cfg(algo, 300, "async"), tmp_path / "async", progress=False,
                   print_summary=False)
    first = load_checkpoint(latest_checkpoint(tmp_path / "async" / "checkpoints"))
    res = train_realtime(_cfg(algo, 500, "async"), tmp_path / "async", resume=True,
                         progress=False, print_summary=False)
    assert res.steps == 500
    ckpt = load_checkpoint(latest_checkpoint(tmp_path / "async" / "checkpoints"))
    # Async skips transitions the learner had no time for; the resumed run goes on learning.
    assert ckpt.algo == algo and ckpt.step == 500
    assert 0 < first.learner["updates"] < ckpt.learner["updates"] <= 500

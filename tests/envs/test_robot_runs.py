"""Short AVG runs on both robot twins, inline and in async mode, from the ready configs."""

import json

import pytest
import ray

from rt_avg.actors.driver import train_realtime
from rt_avg.core import config as C
from rt_avg.run.inline import train_inline
from rt_avg.run.run_dir import read_episodes
from rt_avg.actors.local_ray import SYSTEM_CONFIG

ROBOTS = {"ur5_reacher2": 250, "create2_mover": 120}


def _cfg(name, steps, mode):
    cfg = C.load(name)
    if name == "create2_mover":  # short episodes, so a short run sees several
        cfg = C.apply_override(cfg, "env.kwargs.max_episode_steps=40")
    return cfg.replace(run={"steps": steps, "mode": mode, "checkpoint_every": 10**9,
                            "metrics_every": 50},
                       agent={"hidden_sizes": [64, 64]})


@pytest.mark.slow
@pytest.mark.parametrize("name", ROBOTS)
def test_inline_run_on_twin(tmp_path, name):
    res = train_inline(_cfg(name, ROBOTS[name], "inline"), tmp_path / "run", progress=False)
    assert res.steps == ROBOTS[name]
    assert read_episodes(tmp_path / "run")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, _system_config=SYSTEM_CONFIG, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize("name", ROBOTS)
def test_async_run_on_twin(tmp_path, local_ray, name):
    cfg = _cfg(name, ROBOTS[name], "async")
    res = train_realtime(cfg, tmp_path / "run", progress=False, print_summary=False)
    assert res.steps == ROBOTS[name]
    timing = json.loads((tmp_path / "run" / "timing.json").read_text())
    assert timing["env_steps"] == ROBOTS[name] and timing["updates"] > 0
    assert read_episodes(tmp_path / "run")


@pytest.mark.parametrize(("study_file", "config", "steps", "dt_s"), [
    ("create2_mover_100k", "create2_mover", 100_000, 0.15),
    ("ur5_reacher2_400k", "ur5_reacher2", 400_000, 0.04),
])
def test_talk_budget_studies_are_avg_inline_on_the_twins(study_file, config, steps, dt_s):
    from rt_avg.sweeps import spec, study

    f = study.load(study_file)
    trials = spec.expand(spec.parse(study.sweep_data("study-incremental", f, study.variants(f))))
    assert f.study == "incremental" and f.base == config and len(trials) == 3
    assert sorted(t.seed for t in trials) == [0, 1, 2]
    for t in trials:
        cfg = t.config
        assert cfg.agent.algo == "avg" and cfg.run.steps == steps and cfg.run.mode == "inline"
        assert cfg.env.kwargs["backend"] == "twin" and cfg.env.kwargs["dt_s"] == dt_s
        # SenseAct's NormalizedEnv maps [-1, 1] onto the action box
        assert cfg.env.action_mode == "rescale"

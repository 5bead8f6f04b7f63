"""Async and sequential modes with real Ray actors and shared-memory channels."""

import json

import numpy as np
import pytest
import ray

from helpers import actor_pids, quick_config, segments_of
from rt_avg.actors.driver import train_realtime
from rt_avg.run.checkpoint import list_checkpoints
from rt_avg.run.inline import train_inline
from rt_avg.run.run_dir import read_episodes, read_metrics
from rt_avg.actors.local_ray import SYSTEM_CONFIG

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, _system_config=SYSTEM_CONFIG, logging_level="ERROR")
    yield
    ray.shutdown()


def _returns(path):
    return [(e["step"], e["return"], e["length"]) for e in read_episodes(path)]


@pytest.mark.parametrize("mode", ["async", "sequential"])
def test_mode_writes_full_run_directory(tmp_path, mode):
    cfg = quick_config(800, run={"mode": mode, "steps": 800, "seed": 0,
                                 "checkpoint_every": 10**9, "metrics_every": 100})
    res = train_realtime(cfg, tmp_path / "run", progress=False, print_summary=False)
    run = tmp_path / "run"
    assert res.steps == 800 and not res.interrupted
    for name in ("config.yaml", "episodes.csv", "metrics.jsonl", "timing.json",
                 "timing_steps.npz", "actors.json", "events.jsonl"):
        assert (run / name).exists(), name
    timing = json.loads((run / "timing.json").read_text())
    assert timing["mode"] == mode and timing["env_steps"] == 800
    for key in ("action_latency_us", "cycle_ms", "update_us", "staleness_steps"):
        assert {"p50", "p95", "p99", "max"} <= set(timing[key]), key
    assert timing["placement"]["transport"] == "shm"
    # Memory: PSS of every process the run started, by role, adding up to the total.
    fp = timing["footprint"]
    assert set(fp["roles_mb"]) == {"env", "learner", "logger", "driver", "ray"}
    assert all(mb > 0 for mb in fp["roles_mb"].values()), fp
    assert fp["total_mb"] == pytest.approx(sum(fp["roles_mb"].values()), abs=0.05)
    assert fp["roles_mb"]["learner"] > fp["roles_mb"]["logger"]  # torch vs no torch
    arrays = np.load(run / "timing_steps.npz")
    assert arrays["action_latency_us"].shape == (800,)
    assert arrays["update_us"].shape[0] == timing["updates"]
    if mode == "sequential":
        assert timing["updates"] == 800 and timing["skipped_transitions"] == 0
        assert timing["staleness_steps"]["max"] == 0
    else:
        assert 0 < timing["updates"] <= 800
        assert timing["updates"] + timing["skipped_transitions"] <= 800
    assert read_episodes(run) and read_metrics(run)
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step_0000000800.pt"]
    # The channels' segments are gone; only this run's count (other runs on the machine
    # have segments of their own), found by the pid each name carries.
    pids = actor_pids(run)
    assert {"env", "learner"} <= set(pids)
    assert not segments_of(pids.values())


def test_sequential_reproduces_inline_exactly(tmp_path):
    cfg = quick_config(1500, seed=2)
    inline = train_inline(cfg, tmp_path / "inline", progress=False)
    seq_cfg = cfg.replace(run={"mode": "sequential"})
    seq = train_realtime(seq_cfg, tmp_path / "seq", progress=False, print_summary=False)
    assert inline.episodes > 10
    assert _returns(seq.run_dir) == _returns(inline.run_dir)
    # The learned weights match to the bit, too.
    import torch
    a = torch.load(list_checkpoints(tmp_path / "inline/checkpoints")[-1], weights_only=False)
    b = torch.load(list_checkpoints(tmp_path / "seq/checkpoints")[-1], weights_only=False)
    assert torch.equal(a["learner"]["actor"], b["learner"]["actor"])
    assert torch.equal(a["learner"]["critic"], b["learner"]["critic"])


def test_actors_are_pinned_to_the_configured_cpus(tmp_path):
    cfg = quick_config(200, run={"mode": "async", "steps": 200, "checkpoint_every": 10**9},
                       realtime={"cpu_affinity": {"env": [0], "learner": [1]}})
    train_realtime(cfg, tmp_path / "run", progress=False, print_summary=False)
    placement = json.loads((tmp_path / "run" / "actors.json").read_text())
    assert placement["env"]["cpus"] == [0] and placement["learner"]["cpus"] == [1]


def test_async_resume_continues_run(tmp_path):
    cfg = quick_config(600, run={"mode": "async", "steps": 600, "seed": 1,
                                 "checkpoint_every": 10**9, "metrics_every": 100})
    train_realtime(cfg, tmp_path / "run", progress=False, print_summary=False)
    longer = cfg.replace(run={"steps": 900})
    res = train_realtime(longer, tmp_path / "run", resume=True, progress=False,
                         print_summary=False)
    assert res.steps == 900
    steps = [e["step"] for e in read_episodes(tmp_path / "run")]
    assert steps == sorted(steps) and steps[-1] <= 900 and steps[-1] > 600

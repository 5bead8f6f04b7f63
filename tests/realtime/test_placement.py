"""Placement on a two-node Ray cluster: the EnvActor goes where the robot resource is."""

import json

import pytest
import ray
from ray.cluster_utils import Cluster

from helpers import quick_config
from rt_avg.actors.driver import train_realtime
from rt_avg.run.run_dir import read_episodes
from rt_avg.actors.local_ray import SYSTEM_CONFIG

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_env_actor_lands_on_robot_node_and_learner_uses_mailbox(tmp_path):
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "include_dashboard": False, "_system_config": SYSTEM_CONFIG})
    robot_node = cluster.add_node(num_cpus=1, resources={"robot": 1})
    try:
        ray.init(address=cluster.address, logging_level="ERROR")
        cluster.wait_for_nodes()
        cfg = quick_config(400, run={"mode": "async", "steps": 400, "seed": 0,
                                     "checkpoint_every": 10**9, "metrics_every": 100},
                           realtime={"robot_resource": "robot"})
        res = train_realtime(cfg, tmp_path / "run", progress=False, print_summary=False)
        placement = json.loads((tmp_path / "run" / "actors.json").read_text())
        assert placement["env"]["node_id"] == robot_node.node_id
        # The robot node's only CPU is the env's, so the learner sits on the head and the
        # channels fall back to the Ray mailbox automatically.
        assert placement["learner"]["node_id"] != robot_node.node_id
        assert placement["transport"] == "mailbox"
        assert res.steps == 400 and read_episodes(tmp_path / "run")
        timing = json.loads((tmp_path / "run" / "timing.json").read_text())
        assert timing["updates"] > 0
    finally:
        ray.shutdown()
        cluster.shutdown()


def _robot_cfg(steps=200):
    return quick_config(steps, run={"mode": "async", "steps": steps, "checkpoint_every": 10**9},
                        realtime={"robot_resource": "robot"})


def test_a_local_ray_holds_the_robot_resource(tmp_path):
    """Without --address the machine running rt-avg is the one wired to the robot."""
    res = train_realtime(_robot_cfg(), tmp_path / "run", progress=False, print_summary=False)
    assert res.steps == 200


def test_a_cluster_without_the_robot_resource_is_a_clear_error(tmp_path):
    from rt_avg.core.config import ConfigError

    ray.init(address="local", num_cpus=2, include_dashboard=False, _system_config=SYSTEM_CONFIG, logging_level="ERROR")
    try:
        with pytest.raises(ConfigError, match=r"realtime.robot_resource: .* no 'robot' "
                           r"resource.*ray start --head --resources"):
            train_realtime(_robot_cfg(), tmp_path / "run", progress=False, print_summary=False)
        assert not (tmp_path / "run").exists()
    finally:
        ray.shutdown()

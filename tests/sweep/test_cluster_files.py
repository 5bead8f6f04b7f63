"""The `ray up` files pass Ray's own validation; the guide's commands parse and match them."""

import argparse
import copy
import json
import shlex

import pytest
import yaml

from guide import find, guide_commands, head_resources, option
from helpers import ROOT
from rt_avg.analysis import sweep_summary as M
from rt_avg.sweeps import spec as S

ray_util = pytest.importorskip("ray.autoscaler._private.util")
CLUSTER_FILES = ["cluster/aws.yaml", "cluster/onprem.yaml"]


@pytest.mark.parametrize("name", CLUSTER_FILES)
def test_cluster_file_passes_ray_validation(name):
    raw = yaml.safe_load((ROOT / name).read_text())
    # What `ray up` does before touching a machine: fill defaults, then the JSON schema.
    prepared = ray_util.prepare_config(copy.deepcopy(raw))
    ray_util.validate_config(prepared)
    assert prepared["head_node_type"] in prepared["available_node_types"]
    assert any("pip install -e ~/rt-avg" in c for c in prepared["setup_commands"])
    assert raw["file_mounts"] == {"~/rt-avg": "."}


def test_aws_file_is_an_aws_cluster_with_cpu_workers():
    raw = yaml.safe_load((ROOT / "cluster/aws.yaml").read_text())
    assert raw["provider"]["type"] == "aws"
    workers = [t for n, t in raw["available_node_types"].items() if n != raw["head_node_type"]]
    assert workers and all(t["max_workers"] >= 1 for t in workers)


def _start_argv(command: str) -> list[str]:
    argv = shlex.split(command.split(";")[-1])
    assert argv[:2] == ["ray", "start"]
    return argv


def test_onprem_head_is_the_robot_workstation_as_in_the_guide():
    raw = yaml.safe_load((ROOT / "cluster/onprem.yaml").read_text())
    assert raw["provider"]["type"] == "local"
    assert raw["provider"]["head_ip"] and len(raw["provider"]["worker_ips"]) >= 1
    (head,) = [_start_argv(c) for c in raw["head_start_ray_commands"] if "ray start" in c]
    (worker,) = [_start_argv(c) for c in raw["worker_start_ray_commands"] if "ray start" in c]
    assert json.loads(option(head, "--resources")) == head_resources() == {"robot": 1}
    (guide_head,) = [c for c in find("ray", "start") if "--head" in c]
    for flag in ("--port", "--num-cpus", "--resources"):
        assert option(head, flag) == option(guide_head, flag), flag
    assert option(worker, "--address") == "$RAY_HEAD_IP:" + option(guide_head, "--port")


def test_guide_ray_commands_parse_with_rays_cli():
    from ray.scripts.scripts import cli

    ray_commands = [c for c in guide_commands() if c[0] == "ray"]
    assert {c[1] for c in ray_commands} >= {"start", "status", "up", "exec", "rsync-down"}
    for argv in ray_commands:
        sub = cli.commands[argv[1]]
        params = sub.make_context(argv[1], argv[2:]).params  # click: options and types
        if "cluster_config_file" in params:
            assert params["cluster_config_file"] in CLUSTER_FILES
            assert (ROOT / params["cluster_config_file"]).is_file()
    (joiner,) = [c for c in find("ray", "start") if "--head" not in c]
    assert option(joiner, "--address").endswith(":6379")


def test_guide_rt_avg_commands_parse_and_name_real_files():
    sweep_parser = argparse.ArgumentParser()
    S.add_sweep_arguments(sweep_parser)
    summary_parser = argparse.ArgumentParser()
    M.add_summary_arguments(summary_parser)
    sweeps = find("rt-avg", "sweep")
    # the sweep command also appears inside `ray exec '...'`
    for argv in find("ray", "exec"):
        inner = shlex.split(argv[3].split("&&")[-1])
        assert inner[:2] == ["rt-avg", "sweep"]
        sweeps.append(inner)
    assert len(sweeps) >= 2
    for argv in sweeps:
        args = sweep_parser.parse_args(argv[2:])
        assert args.address == "auto"
        spec = S.load(ROOT / args.sweep_file)
        assert S.expand(spec)
    (summary,) = find("rt-avg", "sweep-summary")
    args = summary_parser.parse_args(summary[2:])
    spec = S.load(ROOT / sweeps[0][2])
    assert args.sweep_dir == f"runs/sweeps/{spec.name}"  # the default sweep directory
    (rsync,) = find("ray", "rsync-down")
    assert rsync[3].rstrip("/").endswith(f"rt-avg/runs/sweeps/{spec.name}")

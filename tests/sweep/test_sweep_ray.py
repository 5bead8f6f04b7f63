"""Sweeps on Ray: a two-node cluster, a node lost mid-sweep, an interrupted sweep resumed.

Tiny trials (InvertedPendulum, 32x32 networks, a few thousand steps) keep each one to
seconds; the cluster is ``ray.cluster_utils.Cluster`` with a 1-CPU head that carries the
guide's ``robot`` resource and a 1-CPU worker node.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from guide import head_resources
from helpers import HANG_S, ROOT, wait_for
from rt_avg.run.run_dir import read_episodes
from rt_avg.analysis.runs import TRIAL_RECORD
from rt_avg.analysis.sweep_summary import main_summary

pytestmark = [pytest.mark.ray, pytest.mark.slow]

DRIVER = ("import sys; from rt_avg.sweeps.tune import run_sweep; "
          "sys.exit(run_sweep(sys.argv[1], sweep_dir=sys.argv[2], num_cpus=1))")


def write_spec(folder: Path, name: str, steps: int, seeds: int = 2, lrs=(3e-4, 1e-3),
               checkpoint_every: int = 500, storage: str = "auto") -> Path:
    spec = {"name": name, "base": "default", "seeds": seeds,
            "overrides": {"agent.hidden_sizes": [32, 32], "run.steps": steps,
                          "run.checkpoint_every": checkpoint_every, "run.metrics_every": 500},
            "space": {"agent.actor_lr": {"grid": list(lrs)}} if len(lrs) > 1 else {},
            "resources": {"cpu": 1}, "max_failures": 3, "storage": storage}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def records(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text())
            for p in sorted(sweep_dir.glob(f"runs/*/{TRIAL_RECORD}"))}


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    # A removed node's trials are rerun within seconds: a killed node refuses the health
    # checks at once (five failures, a second apart), while a node that is only slow to
    # answer on a busy machine has five seconds for each.
    system = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 1000,
              "health_check_timeout_ms": 5000, "health_check_failure_threshold": 5,
              "worker_niceness": 0}  # as rt-avg's own Ray: tasks do not yield to everything
    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": head_resources(), "include_dashboard": False,
        "_system_config": system})
    worker = c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c, worker
    c.shutdown()


def test_interrupted_sweep_resumes_without_rerunning_finished_trials(tmp_path):
    spec = write_spec(tmp_path, "resume", steps=1500)
    sweep_dir = tmp_path / "sw"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(spec), str(sweep_dir)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        # One trial at a time (one CPU): Ctrl-C once two are done, while the third runs.
        wait_for(lambda: sum(r["status"] == "done" for r in records(sweep_dir).values()) >= 2,
                 "two trials done", driver)
        driver.send_signal(signal.SIGINT)  # Ctrl-C: Tune saves its state and stops
        out, _ = driver.communicate(timeout=HANG_S)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130, out[-3000:]
    first = records(sweep_dir)
    finished = {tid for tid, r in first.items() if r["status"] == "done"}
    assert 2 <= len(finished) < 4, first
    stamps = {tid: (sweep_dir / "runs" / tid / "episodes.csv").stat().st_mtime_ns
              for tid in finished}

    again = subprocess.run([sys.executable, "-c", DRIVER, str(spec), str(sweep_dir)],
                           cwd=ROOT, capture_output=True, text=True, timeout=HANG_S)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming the sweep" in again.stdout
    second = records(sweep_dir)
    assert sorted(second) == ["c000-s0", "c000-s1", "c001-s0", "c001-s1"]
    assert all(r["status"] == "done" and r["steps"] == 1500 for r in second.values())
    for tid in finished:  # not run again: same single attempt, files untouched
        assert second[tid]["attempts"] == first[tid]["attempts"]
        assert (sweep_dir / "runs" / tid / "episodes.csv").stat().st_mtime_ns == stamps[tid]


def test_sweep_spreads_over_two_nodes_and_is_summarised(cluster, tmp_path):
    from rt_avg.sweeps.tune import run_sweep

    c, worker = cluster
    spec = write_spec(tmp_path, "two-nodes", steps=1500)
    sweep_dir = tmp_path / "sw"
    assert run_sweep(str(spec), address=c.address, sweep_dir=str(sweep_dir)) == 0
    recs = records(sweep_dir)
    assert sorted(recs) == ["c000-s0", "c000-s1", "c001-s0", "c001-s1"]
    nodes = {r["attempts"][-1]["node_id"] for r in recs.values()}
    assert nodes == {c.head_node.node_id, worker.node_id}
    for tid, r in recs.items():
        assert r["status"] == "done" and len(r["attempts"]) == 1
        episodes = read_episodes(sweep_dir / "runs" / tid)
        assert episodes and episodes[-1]["step"] <= 1500
        cfg = yaml.safe_load((sweep_dir / "runs" / tid / "config.yaml").read_text())
        assert cfg["run"]["seed"] == r["seed"] and cfg["agent"]["hidden_sizes"] == [32, 32]
    assert main_summary(str(sweep_dir), None) == 0
    md = (sweep_dir / "summary.md").read_text()
    assert "| c000 | 2* |" in md and "| c001 | 2* |" in md  # 2 seeds: marked as few
    assert (sweep_dir / "summary.png").stat().st_size > 1000

    # Even with Tune's experiment state gone, finished trials report and do not train again.
    stamps = {tid: (sweep_dir / "runs" / tid / "episodes.csv").stat().st_mtime_ns for tid in recs}
    shutil.rmtree(sweep_dir / "tune")
    assert run_sweep(str(spec), address=c.address, sweep_dir=str(sweep_dir)) == 0
    assert records(sweep_dir) == recs
    assert stamps == {tid: (sweep_dir / "runs" / tid / "episodes.csv").stat().st_mtime_ns
                      for tid in recs}


def test_upload_storage_sends_results_to_the_driver_node(cluster, tmp_path):
    from rt_avg.sweeps.tune import run_sweep
    from rt_avg.run.evaluate import evaluate

    c, _ = cluster
    spec = write_spec(tmp_path, "upload", steps=1000, lrs=(3e-4,), storage="upload")
    sweep_dir = tmp_path / "sw"
    assert run_sweep(str(spec), address=c.address, sweep_dir=str(sweep_dir)) == 0
    recs = records(sweep_dir)
    assert sorted(recs) == ["c000-s0", "c000-s1"]
    for tid, r in recs.items():
        assert r["status"] == "done" and r["attempts"][-1]["shared_storage"] is False
        run = sweep_dir / "runs" / tid
        assert {p.name for p in run.iterdir()} >= {"config.yaml", "episodes.csv",
                                                    "metrics.jsonl", "checkpoints"}
        assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_0000001000.pt"]
    assert evaluate(sweep_dir / "runs" / "c000-s0", episodes=1).step == 1000
    token = json.loads((sweep_dir / "sweep.json").read_text())["token"]
    assert not (Path(tempfile.gettempdir()) / "rt-avg-sweeps" / token).exists()


def test_trials_lost_with_a_node_are_rerun_from_their_checkpoint(cluster, tmp_path):
    from rt_avg.sweeps.tune import run_sweep

    c, worker = cluster
    spec = write_spec(tmp_path, "lost-node", steps=4000, lrs=(3e-4,))
    sweep_dir = tmp_path / "sw"
    removed, sweep_over = threading.Event(), threading.Event()

    def on_worker_with_a_checkpoint() -> bool:
        for tid, r in records(sweep_dir).items():
            on_worker = r["attempts"] and r["attempts"][-1]["node_id"] == worker.node_id
            if on_worker and list((sweep_dir / "runs" / tid / "checkpoints").glob("step_*.pt")):
                return True
        return False

    def remove_worker_once_it_has_a_checkpoint() -> None:
        # The strike waits for the event it interrupts (a trial on the worker with a
        # checkpoint on disk), however long that takes; 3500 more steps are left to cut.
        while not sweep_over.is_set():
            if on_worker_with_a_checkpoint():
                c.remove_node(worker, allow_graceful=False)  # like a power cut
                removed.set()
                return
            time.sleep(0.05)

    killer = threading.Thread(target=remove_worker_once_it_has_a_checkpoint, daemon=True)
    killer.start()
    try:
        assert run_sweep(str(spec), address=c.address, sweep_dir=str(sweep_dir)) == 0
    finally:
        sweep_over.set()
        killer.join(timeout=HANG_S)
    assert removed.is_set()
    recs = records(sweep_dir)
    assert all(r["status"] == "done" and r["steps"] == 4000 for r in recs.values())
    rerun = [r for r in recs.values() if len(r["attempts"]) > 1]
    assert len(rerun) == 1, recs
    lost, again = rerun[0]["attempts"][0], rerun[0]["attempts"][-1]
    assert lost["node_id"] == worker.node_id and "ended" not in lost
    assert again["node_id"] == c.head_node.node_id and "ended" in again
    assert again["resumed_from_step"] >= 500  # continued from the checkpoint, not from 0

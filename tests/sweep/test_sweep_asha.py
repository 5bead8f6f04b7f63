"""A sweep with ASHA: trials report during the run, the scheduler stops the worse ones (with
a checkpoint, marked stopped), and an interrupted sweep resumes without rerunning anything
finished or stopped.  The scripted task (tests/long_last_episode_env.py) makes every
configuration's return known in advance: an episode's return is its length."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import HANG_S, ROOT, wait_for
from rt_avg.analysis.runs import TRIAL_RECORD

pytestmark = [pytest.mark.ray, pytest.mark.slow]

DRIVER = ("import sys; from rt_avg.sweeps.tune import run_sweep; "
          "sys.exit(run_sweep(sys.argv[1], sweep_dir=sys.argv[2], num_cpus=1))")
STEPS, EVERY = 600, 100
LENGTHS = (20, 10, 5)
"""Episode length (and so return) of c000, c001, c002, run in that order one at a time."""


def _records(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text())
            for p in sorted(sweep_dir.glob(f"runs/*/{TRIAL_RECORD}"))}


def _driver(spec: Path, sweep_dir: Path, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT / "tests"), os.environ.get("PYTHONPATH")) if p))
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(spec), str(sweep_dir)], cwd=ROOT,
                            env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, **kw)


def test_asha_stops_worse_trials_and_an_interrupted_sweep_resumes(tmp_path):
    spec = tmp_path / "asha.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "asha", "base": "default", "seeds": 1,
        "overrides": {"env.id": "long_last_episode_env:LongLastEpisode-v0",
                      "agent.hidden_sizes": [16, 16], "run.steps": STEPS,
                      "run.checkpoint_every": 200, "run.metrics_every": 50},
        "space": {"env.kwargs": {"grid": [{"short": n, "short_count": 10**6}
                                          for n in LENGTHS]}},
        "report_every": EVERY, "max_concurrent": 1,
        "scheduler": {"name": "asha", "grace_period": 2 * EVERY, "reduction_factor": 2}}))
    sweep_dir = tmp_path / "sw"
    driver = _driver(spec, sweep_dir)
    try:  # Ctrl-C once the first trial is done
        wait_for(lambda: _records(sweep_dir).get("c000-s0", {}).get("status") == "done",
                 "the first trial to finish", driver)
        driver.send_signal(signal.SIGINT)
        out, _ = driver.communicate(timeout=HANG_S)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode in (0, 130), out[-3000:]
    first = _records(sweep_dir)
    # The driver may be interrupted before it has processed the results c000 reported (a
    # busy machine): the resumed ASHA must rebuild its rungs from the run directories.
    (sweep_dir / "scheduler_results.jsonl").unlink(missing_ok=True)

    again = _driver(spec, sweep_dir)
    out, _ = again.communicate(timeout=HANG_S)
    assert again.returncode == 0, out[-3000:]
    recs = _records(sweep_dir)
    assert first["c000-s0"] == recs["c000-s0"]  # finished before the interrupt: not rerun
    # c000 (return 20) runs to its end; at the 200-step rung c001 (10) and c002 (5) fall
    # below the median of what the rung has seen, and ASHA stops them there: the training
    # waits at each report step for Tune to take the report, so the stop lands at 200.
    assert recs["c000-s0"]["status"] == "done"
    assert recs["c000-s0"]["final_return"] == pytest.approx(20)
    for tid, length in (("c001-s0", 10), ("c002-s0", 5)):
        r = recs[tid]
        assert r["status"] == "stopped" and r["steps"] == 2 * EVERY, r
        assert r["final_return"] == pytest.approx(length)
        assert list((sweep_dir / "runs" / tid / "checkpoints").glob("step_*.pt"))
    # Tune saw a result every EVERY steps, as of that step
    results = [json.loads(line) for line in
               next((sweep_dir / "tune").glob("c000-s0*/result.json")).read_text().splitlines()]
    steps = [r["steps"] for r in results]
    assert steps[:5] == [100, 200, 300, 400, 500] and steps[-1] == STEPS
    assert all(r["final_return"] == pytest.approx(20) for r in results)
    assert "stopped early by the scheduler" in out

"""``RunCpuTime`` tells a process that computes from one that sleeps (Linux /proc)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from rt_avg.bench.cpu_share import RunCpuTime, cpu_seconds


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_busy_and_idle_processes(tmp_path) -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with RunCpuTime(tmp_path) as cpu:
            (tmp_path / "actors.json").write_text(json.dumps(
                {"env": {"pid": busy.pid}, "learner": {"pid": idle.pid}}))
            time.sleep(1.5)  # the "run"
        assert set(cpu.used) == {"env", "learner"}
        assert 0.05 < cpu.used["env"] <= 1.6  # one thread: at most one CPU for 1.5 s
        assert cpu.used["learner"] < 0.05
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()
    assert cpu_seconds(busy.pid) is None  # gone


def test_a_run_that_never_places_its_actors(tmp_path) -> None:
    with RunCpuTime(tmp_path) as cpu:
        time.sleep(0.1)
    assert cpu.used == {}

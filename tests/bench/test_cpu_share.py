"""``RunCpuTime`` tells a process that computes from one that sleeps (Linux /proc)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from helpers import wait_for
from rt_avg.bench.cpu_share import RunCpuTime, cpu_seconds

# Each child says "ready" once it is up (the start-up's own CPU time is behind it), then
# computes forever or sleeps.
BUSY = "print('ready', flush=True)\nwhile True: pass"
IDLE = "import time; print('ready', flush=True); time.sleep(600)"


def _started(code: str) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    return child


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_busy_and_idle_processes(tmp_path) -> None:
    busy, idle = _started(BUSY), _started(IDLE)
    try:
        t0 = time.monotonic()
        with RunCpuTime(tmp_path) as cpu:
            (tmp_path / "actors.json").write_text(json.dumps(
                {"env": {"pid": busy.pid}, "learner": {"pid": idle.pid}}))
            # The "run" lasts until the busy process has computed for 0.5 s, however long
            # that takes on this machine.
            at_start = cpu_seconds(busy.pid)
            wait_for(lambda: cpu_seconds(busy.pid) >= at_start + 0.5, "0.5 s of CPU time")
        wall = time.monotonic() - t0
        assert set(cpu.used) == {"env", "learner"}
        assert 0 < cpu.used["env"] <= wall  # one thread: at most one CPU for the run's time
        assert cpu.used["learner"] == 0  # asleep all along
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

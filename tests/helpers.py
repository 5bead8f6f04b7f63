"""Small helpers shared by tests (configs for quick runs, subprocess CLI calls, waiting for
an event, the shared-memory segments of one run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from rt_avg.realtime.channels import list_segments
from rt_avg.realtime.channels.segment import creator_pid
from rt_avg.core.config import Config

ROOT = Path(__file__).resolve().parents[1]

#: How long a test waits for an event before it calls the code stuck.  Not a speed
#: requirement: every wait below ends on the event itself, and on a quiet machine each takes
#: seconds; only a test whose code under test never delivers the event runs into this.
#: RTAVG_TEST_HANG_S sets it (e.g. lower, to see a broken build fail sooner).
HANG_S = float(os.environ.get("RTAVG_TEST_HANG_S", 600))

T = TypeVar("T")


def quick_config(steps: int = 1500, seed: int = 0, **sections) -> Config:
    """InvertedPendulum with the default agent: quick to run, learns in a few 10k steps."""
    base = Config().replace(run={"steps": steps, "seed": seed, "checkpoint_every": 10**9,
                                 "metrics_every": 200})
    return base.replace(**sections) if sections else base


def run_cli(*args: str, timeout: float = HANG_S, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "rt_avg.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=kw.pop("cwd", ROOT), env=env, **kw)


def wait_for(event: Callable[[], T], what: str, proc: subprocess.Popen | None = None,
             poll_s: float = 0.05) -> T:
    """Poll ``event()`` until it returns something truthy and return that.

    Fails (instead of carrying on as if the event had happened) when ``proc`` exits first,
    with its output, or after ``HANG_S``.
    """
    deadline = time.monotonic() + HANG_S
    while not (found := event()):
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited with {proc.returncode} before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: nothing after {HANG_S:.0f} s, the code is stuck")
        time.sleep(poll_s)
    return found


def actor_pids(run_dir: Path) -> dict[str, int]:
    """The pid of each actor of a real-time run, from the ``actors.json`` it wrote."""
    actors = json.loads((Path(run_dir) / "actors.json").read_text())
    return {role: int(info["pid"]) for role, info in actors.items()
            if isinstance(info, dict) and "pid" in info}


def segments_of(pids: Iterable[int]) -> list[str]:
    """The shared-memory segments in /dev/shm created by ``pids`` (the creator's pid is in
    each name), and no one else's: other runs on the machine have segments too."""
    pids = set(pids)
    return [name for name in list_segments() if creator_pid(name) in pids]


def process_start(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None when it is gone or a zombie:
    a pid compared with its start time is not fooled by the pid's reuse (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()  # the name may hold spaces
    except OSError:
        return None
    return None if fields[0] == b"Z" else int(fields[19])

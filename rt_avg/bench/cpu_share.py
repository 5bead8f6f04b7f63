"""How much of a CPU the actors of a running real-time run get (Linux ``/proc``).

On a machine shared with other work, env steps per second say as much about the neighbours
as about the code; the CPU time per step does not. ``RunCpuShare`` watches a run directory
until its ``actors.json`` names the env and learner processes, then reads their CPU time
(user + system, ``/proc/<pid>/stat``) at two moments inside the run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far; None when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()  # the name may hold spaces
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, ValueError, IndexError):
        return None


class RunCpuShare:
    """Background sampler: the CPU share (CPU seconds per wall second) of each actor of the
    run in ``run_path`` over a window of ``window_s`` starting ``settle_s`` after the actors
    are placed. ``shares`` is empty when the run ended before the window did."""

    def __init__(self, run_path: Path, roles: tuple[str, ...] = ("env", "learner"),
                 settle_s: float = 0.5, window_s: float = 2.0) -> None:
        self.shares: dict[str, float] = {}
        self._args = (Path(run_path), roles, settle_s, window_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> RunCpuShare:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        run_path, roles, settle_s, window_s = self._args
        placed = run_path / "actors.json"
        while not placed.exists():
            if self._stop.wait(0.05):
                return
        if self._stop.wait(0.2):  # written, maybe not yet complete
            return
        pids = {role: json.loads(placed.read_text())[role]["pid"] for role in roles}
        if self._stop.wait(settle_s):
            return
        start = {role: cpu_seconds(pid) for role, pid in pids.items()}
        t0 = time.monotonic()
        if self._stop.wait(window_s):
            return
        end = {role: cpu_seconds(pid) for role, pid in pids.items()}
        wall = time.monotonic() - t0
        self.shares = {role: (end[role] - start[role]) / wall for role in roles
                       if start[role] is not None and end[role] is not None}

"""CPU time the actors of a real-time run use (Linux ``/proc``).

On a machine shared with other work, env steps per second say as much about the neighbours
as about the code; the CPU time per step does not. ``RunCpuTime`` watches a run directory
until its ``actors.json`` names the env and learner processes, reads their CPU time (user +
system, ``/proc/<pid>/stat``) then, and keeps reading it every ``period_s`` until the run
ends: ``used`` is the CPU time each spent from placement to its last reading, almost all of
it in the run itself (setting up the channels takes milliseconds).
"""

from __future__ import annotations

import json
import os
import threading
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


class RunCpuTime:
    """Background sampler for the run written to ``run_path``; use as a context manager
    around the run. ``used`` maps each role to CPU seconds (empty if the actors were never
    placed or could not be read)."""

    def __init__(self, run_path: Path, roles: tuple[str, ...] = ("env", "learner"),
                 period_s: float = 0.1) -> None:
        self.used: dict[str, float] = {}
        self._run_path, self._roles, self._period_s = Path(run_path), roles, period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> RunCpuTime:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        placed = self._run_path / "actors.json"
        while not placed.exists():
            if self._stop.wait(0.02):
                return
        pids: dict[str, int] = {}
        while not pids:  # the file may be seen before it is complete
            try:
                actors = json.loads(placed.read_text())
                pids = {role: int(actors[role]["pid"]) for role in self._roles}
            except (ValueError, KeyError):
                if self._stop.wait(0.02):
                    return
        first = {role: cpu_seconds(pid) for role, pid in pids.items()}
        last = dict(first)
        while not self._stop.wait(self._period_s):
            for role, pid in pids.items():
                if (now := cpu_seconds(pid)) is not None:
                    last[role] = now
        self.used = {role: last[role] - first[role] for role in pids
                     if first[role] is not None and last[role] is not None}

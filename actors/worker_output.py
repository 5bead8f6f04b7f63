"""Copy what a run's actors print to the driver's terminal.

Ray writes each worker's stdout and stderr to ``<logs>/worker-<id>-<job>-<pid>.out|.err``;
its log monitor process forwards them to the driver.  A lean local runtime has no log
monitor (``rt_avg.actors.local_ray``), so the driver follows the files of its own actors
from a thread instead, each line prefixed with the role, e.g. ``(env) ...``.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TextIO


class WorkerOutput:
    def __init__(self, logs_dir: Path, pids: dict[str, int], out: TextIO | None = None,
                 period_s: float = 0.2) -> None:
        self.logs_dir, self.pids = logs_dir, pids
        self.out = out if out is not None else sys.stderr
        self.period_s = period_s
        self._offsets: dict[Path, int] = {}
        self._partial: dict[Path, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="rt-avg-worker-output",
                                        daemon=True)

    def start(self) -> WorkerOutput:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Copy what is left, then stop following."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.copy_new()

    def _follow(self) -> None:
        while not self._stop.wait(self.period_s):
            self.copy_new()

    def copy_new(self) -> None:
        for role, pid in self.pids.items():
            for path in sorted(self.logs_dir.glob(f"worker-*-{pid}.*")):
                if path.suffix in (".out", ".err"):
                    self._copy(role, path)

    def _copy(self, role: str, path: Path) -> None:
        try:
            with open(path, "rb") as f:
                f.seek(self._offsets.get(path, 0))
                data = f.read()
                self._offsets[path] = f.tell()
        except OSError:
            return
        if not data:
            return
        *lines, rest = (self._partial.pop(path, b"") + data).split(b"\n")
        if rest:
            self._partial[path] = rest
        for line in lines:
            # Ray's own markers between tasks (":actor_name:...", ":task_name:...").
            if line.startswith(b":") and line.split(b":", 2)[1] in (b"actor_name", b"task_name",
                                                                    b"job_id"):
                continue
            print(f"({role}) {line.decode(errors='replace')}", file=self.out, flush=True)

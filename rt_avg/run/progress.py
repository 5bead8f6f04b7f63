"""Progress display: a live line on a terminal, periodic plain lines otherwise (or none)."""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import TextIO


def _fmt_duration(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """Call :meth:`update` every step (cheap); it redraws at most every ``every_s``.

    On a TTY the line is redrawn in place twice a second; when not a TTY (a log file, a
    cluster job) a plain line is printed every ``plain_every_s`` seconds (0: never).
    """

    def __init__(self, total_steps: int, start_step: int = 0, stream: TextIO | None = None,
                 every_s: float = 0.5, plain_every_s: float = 30.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total = total_steps
        self.every_s = every_s if self.tty else plain_every_s
        self.enabled = self.every_s > 0
        self.returns: deque[float] = deque(maxlen=10)
        self._t0 = self._last = time.monotonic()
        self._start = start_step
        self.overruns = 0

    def episode(self, ret: float) -> None:
        self.returns.append(ret)

    def update(self, step: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < self.every_s and step < self.total:
            return
        self._last = now
        self.stream.write(self.line(step, now) + ("\r" if self.tty else "\n"))
        self.stream.flush()

    def line(self, step: int, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        rate = (step - self._start) / max(now - self._t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else 0.0
        ret = f"{sum(self.returns) / len(self.returns):9.2f}" if self.returns else "        -"
        over = f"  overruns {self.overruns}" if self.overruns else ""
        return (f"step {step:>9d}/{self.total}  {rate:7.0f} steps/s  return(10) {ret}  "
                f"eta {_fmt_duration(eta)}{over}")

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()

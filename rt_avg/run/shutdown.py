"""Graceful stop on Ctrl-C / SIGTERM: the first signal asks the run to stop at the next
step boundary (checkpoint, flush, release the robot); a second one interrupts at once."""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopRequest:
    """A flag set by SIGINT/SIGTERM (or by code) that run loops poll between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    def __bool__(self) -> bool:
        return self._event.is_set()

    def at_step(self, step: int) -> bool:
        """Whether to stop, polled by a runner between env steps with the number of steps
        taken so far.  A subclass may hold the runner here: a sweep trial reports to its
        scheduler at exact steps (``rt_avg.sweeps.tune``)."""
        return bool(self)

    def set(self, reason: str = "requested") -> None:
        self.signal_name = self.signal_name or reason
        self._event.set()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._event.is_set():  # second signal: give up on a graceful stop
            self.restore()
            raise KeyboardInterrupt
        self.set(signal.Signals(signum).name)

    def install(self) -> "StopRequest":
        """Install handlers (main thread only; elsewhere this is a no-op)."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def __enter__(self) -> "StopRequest":
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()

    @property
    def exit_code(self) -> int:
        """Shell convention: 128 + signal number (130 for SIGINT, 143 for SIGTERM)."""
        codes = {"SIGINT": 130, "SIGTERM": 143}
        return codes.get(self.signal_name or "", 1)

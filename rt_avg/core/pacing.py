"""Fixed-period cycles: sleep most of the way, then spin to the deadline.

``time.sleep`` on Linux wakes up tens to hundreds of microseconds late, so the pacer sleeps
until ``spin_s`` before the deadline and busy-waits the rest.  A cycle whose work ends after
its deadline is an *overrun*: it is counted, and the schedule restarts from now instead of
firing a burst of late cycles to catch up (a robot should never get two commands back to
back to make up for lost time).
"""

from __future__ import annotations

import time
from typing import Callable


class Pacer:
    def __init__(self, dt_s: float, spin_s: float = 0.0015) -> None:
        self.dt_ns = int(round(dt_s * 1e9))
        self.spin_ns = int(spin_s * 1e9)
        self._next: int | None = None
        self.overruns = 0

    def restart(self) -> None:
        """Forget the schedule: the next ``wait`` starts a new one immediately."""
        self._next = None

    def wait(self, warm_up: Callable[[], object] | None = None) -> tuple[int, bool]:
        """Block until the next cycle starts; return (start time in monotonic ns, overran).

        ``warm_up`` runs once between the sleep and the spin: after tens of milliseconds
        asleep the caches are cold and the first policy pass costs ten times its usual
        time, which would land on the action latency; a throw-away pass just before the
        deadline takes that cost off it.
        """
        now = time.monotonic_ns()
        if self.dt_ns == 0:
            return now, False
        if self._next is None:
            self._next = now
        overran = now > self._next
        if overran:
            self.overruns += 1
            self._next = now
        else:
            remaining = self._next - now - self.spin_ns
            if remaining > 0:
                time.sleep(remaining / 1e9)
                if warm_up is not None:
                    warm_up()
            while time.monotonic_ns() < self._next:
                pass
        start = time.monotonic_ns()
        self._next += self.dt_ns
        return start, overran

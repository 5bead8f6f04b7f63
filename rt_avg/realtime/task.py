"""The real-time task protocol: what a robot task offers a real-time runner.

A robot task sends its command in ``step`` and then reads its sensors.  Read at once, the
reading would describe the moment the command left, not the end of the control cycle, so
the task lets the runner wait for the cycle boundary in between (``set_cycle_waiter``).  And
whatever ends a run, the runner must be able to bring the robot to a standstill (``stop``).

Tasks that are plain simulations need neither and do not implement the protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable


class ResetInterrupted(RuntimeError):
    """A reset (a move home, a charging wait) was cut short by ``stop()``; the robot was
    stopped before this was raised."""


@runtime_checkable
class RealtimeTask(Protocol):
    """A task that drives a robot (or a twin on wall-clock time) from a real-time runner."""

    def set_cycle_waiter(self, fn: Callable[[], None] | None) -> bool:
        """Call ``fn()`` in ``step`` between sending the command and reading the sensors.

        Returns True when the task will call it (a robot, a twin on the wall clock); False
        when it keeps its own time (a twin stepped in simulated time), in which case the
        runner paces the cycles itself.  ``None`` removes the waiter.
        """
        ...

    def stop(self) -> None:
        """Bring the robot to a standstill now; idempotent, callable from any thread.

        A reset in progress (a move home, a charging wait) is cut short: it stops the robot
        and raises in the thread that runs it.
        """
        ...


__all__ = ["RealtimeTask", "ResetInterrupted"]

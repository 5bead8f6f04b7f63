"""Which run of ur_rtde's control script the driver talks to, and getting it ready.

ur_rtde 1.6.5 restarts its control script by itself: ``RTDEControlInterface::reconnect`` (run
from its receive thread when the RTDE socket fails, and from ``sendCommand`` when a send
fails, which then re-sends the command it was sending) stops a running script and uploads
it again.  A new run of the script has no RTDE watchdog (the controller removes all
watchdogs when a program stops), and if the driver's loop was blocked meanwhile it may
never see the program stopped.  So the driver marks the run it armed and checks the mark
every period:

* the script keeps an operation id in ``output_int_register_2`` (bits 24-30, see
  ``write_async_progress_register`` in ``rtde_control.script``): 0 when the script starts,
  +1 each time an asynchronous operation starts.  The driver runs one asynchronous ``stopJ`` at rest
  right after each start (the mark), and its moves home (asynchronous moveJ, ended early by an
  asynchronous stopJ), whose ids it follows.  A run with another operation id (0 after a
  restart) is not the run the driver armed.

Getting a run ready (:func:`prepare`), all at rest and before the watchdog is armed, so that
the blocking handshakes cannot trip it: ``speedStop`` (ends a speed thread the run may have,
e.g. the one ur_rtde's retried speedJ started), the asynchronous ``stopJ`` (the mark; two
threads commanding motion at once would end the program), then ``setWatchdog`` last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rt_avg.envs.ur5.clock import Clock

#: operation ids wrap at 128 (7 bits)
_OP_IDS = 128
_FRESH_OP_ID = 0


@dataclass(frozen=True)
class Operation:
    """The async-operation word of the script (``output_int_register_2``)."""

    op_id: int
    running: bool


def read_operation(control: Any) -> Operation | None:
    """The control session's view of the script's async-operation word; None when it cannot
    be read (ur_rtde is replacing its robot state in a reconnect)."""
    try:
        status = control.getAsyncOperationProgressEx()
        return Operation(int(status.operationId()), bool(status.isAsyncOperationRunning()))
    except RuntimeError:
        return None


class PrepareError(RuntimeError):
    """A step of :func:`prepare` was refused (the program stopped, a protective stop)."""


def prepare(control: Any, *, stop_accel: float, watchdog_hz: float, clock: Clock,
            period_s: float, timeout_s: float) -> int:
    """Mark the running script and arm its watchdog; returns the mark (operation id).

    The arm must be at rest (``speedStop`` blocks for the braking time).  Raises
    PrepareError when a step is refused or the mark does not show within ``timeout_s``."""
    if not control.speedStop(stop_accel):
        raise PrepareError("speedStop was refused")
    for _ in range(2):  # a mark that wrapped to 0 would look like a fresh run: mark again
        before = read_operation(control)
        if before is None:
            raise PrepareError("the script's operation id cannot be read")
        control.stopJ(stop_accel, True)  # returns nothing; the operation id tells
        deadline = clock.monotonic() + timeout_s
        while True:
            now = read_operation(control)
            if now is not None and now.op_id != before.op_id and not now.running:
                break
            if clock.monotonic() > deadline:
                raise PrepareError(f"the asynchronous stopJ did not show within {timeout_s:g} s")
            clock.sleep(period_s)
        if now.op_id != _FRESH_OP_ID:
            break
    if not control.setWatchdog(watchdog_hz):
        raise PrepareError("setWatchdog was refused")
    return now.op_id


def next_operation(op_id: int) -> int:
    """The operation id the script shows once one more asynchronous operation started."""
    return (op_id + 1) % _OP_IDS


def previous_operation(op_id: int) -> int:
    return (op_id - 1) % _OP_IDS


def is_marked(operation: Operation | None, mark: int | None) -> bool:
    """Whether the script run is the one marked ``mark``."""
    return operation is not None and mark is not None and operation.op_id == mark

"""The small interface every UR5 driver implements (hardware over RTDE, or the twin).

A task uses a driver like this::

    driver.connect()
    driver.move_home(home_q, speed, accel)         # blocking; returns with the arm at rest
    while running:
        state = driver.read_state()                # latest joint state, never blocks long
        driver.command_speed(qd, accel)            # latest speed command wins
        if isinstance(driver, SteppedDriver):
            driver.advance(dt_s)                   # simulated time only
    driver.stop(); driver.close()

Faults found in the background (too many protective stops, a link that does not come
back) are raised from the next ``read_state``/``command_speed``/``move_home`` call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray


class URError(RuntimeError):
    """Base class of the errors raised by UR5 drivers."""


class URConnectionError(URError):
    """The controller cannot be reached, or the link dropped and did not come back."""


class ProtectiveStopLimitError(URError):
    """Too many protective stops in the configured window: a person should look."""


class URSafetyError(URError):
    """The controller is in a safety mode the driver must not clear (e-stop, fault...)."""


class URMotionError(URError):
    """A motion command was refused (e.g. moveJ returned False) or did not finish."""


class URProgramStoppedError(URError):
    """The control program stopped without a protective stop (Stop on the pendant, the
    controller's watchdog, another client): the driver does not restart it by itself."""


@dataclass(frozen=True)
class JointState:
    """One reading of the arm.

    q, qd: joint angles (rad) and speeds (rad/s), 6 each, controller order.
    tcp_pose: tool pose (x, y, z, rx, ry, rz) in the controller base frame.
    safety_mode: the controller's safety mode number (see ``rt_avg.envs.ur5.safety.SafetyMode``).
    protective_stop: whether the arm is protective-stopped (commands are ignored).
    connected: whether the link to the controller is up (False: the values are stale).
    timestamp_s: controller time for hardware, simulated time for the twin.
    """

    q: NDArray[np.float64]
    qd: NDArray[np.float64]
    tcp_pose: NDArray[np.float64]
    safety_mode: int
    protective_stop: bool
    connected: bool
    timestamp_s: float


@dataclass
class DriverStats:
    """Counters a driver keeps; tasks copy them into ``info``."""

    periods: int = 0            # control periods run
    overruns: int = 0           # control periods that took longer than the period
    watchdog_stops: int = 0     # speedStop sent because the latest command was stale
    protective_stops: int = 0   # protective stops seen
    unlocks: int = 0            # protective stops unlocked through the dashboard
    link_drops: int = 0         # times the link to the controller was lost
    reconnects: int = 0         # times it came back
    script_reuploads: int = 0   # control script re-uploaded after a protective stop
    program_restarts: int = 0   # control program restarted by ur_rtde's own reconnect
    watchdog_arms: int = 0      # control program runs marked and their watchdog armed
    loop_gaps: int = 0          # control periods that started late enough to miss a restart
    dropped_commands: int = 0   # speed commands made on a stale reading, never sent
    stall_restarts: int = 0     # script uploaded again after a loop stall tripped the watchdog

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@runtime_checkable
class URDriver(Protocol):
    """What a task needs from the arm."""

    stats: DriverStats

    def connect(self) -> None:
        """Open the link; raises URConnectionError with a clear message after a bounded wait."""

    def read_state(self) -> JointState:
        """The latest state; raises a pending fault."""

    def command_speed(self, qd: ArrayLike, accel: float) -> None:
        """Make ``qd`` (6 joint speeds, rad/s) the latest speed command, reached with
        ``accel`` (rad/s^2, leading axis).  It stays active until replaced, stopped, or
        older than the driver's watchdog."""

    def stop(self) -> None:
        """Decelerate to rest and drop the latest command.  Idempotent."""

    def move_home(self, q: ArrayLike, speed: float, accel: float,
                  abort: threading.Event | None = None) -> None:
        """Stop, move (linear in joint space) to ``q``, and return with the arm at rest.
        When ``abort`` is set meanwhile (from another thread), stop the arm and raise
        :class:`~rt_avg.core.ResetInterrupted`."""

    def close(self) -> None:
        """Stop and release the link.  Idempotent."""


@runtime_checkable
class SteppedDriver(URDriver, Protocol):
    """A driver on simulated time: nothing moves until ``advance`` is called."""

    def advance(self, dt_s: float) -> None:
        """Let ``dt_s`` seconds of simulated time pass."""


def as_joint_vector(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """Validate a 6-vector of finite floats; raises ValueError naming ``name``."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (6,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be 6 finite numbers, got {values!r}")
    return arr


def zero_state() -> JointState:
    """A placeholder state (used before the first reading)."""
    z = np.zeros(6)
    return JointState(z, z.copy(), z.copy(), 0, False, False, 0.0)


__all__ = [
    "DriverStats", "JointState", "ProtectiveStopLimitError", "SteppedDriver", "URConnectionError",
    "URDriver", "URError", "URMotionError", "URProgramStoppedError", "URSafetyError",
    "as_joint_vector", "zero_state",
]

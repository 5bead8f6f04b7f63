"""How the task lets robot time pass: wall-clock for hardware and the realtime twin,
lockstep for the deterministic twin.

All durations are robot seconds (simulated seconds on the twin).  Steps on the wall clock
are paced by the real-time runners' own :class:`~rt_avg.core.pacing.Pacer`.
"""

from __future__ import annotations

import time
from typing import Protocol

from rt_avg.envs.create2.driver import Create2Driver, Create2SilentError
from rt_avg.envs.create2.emulator import Emulator
from rt_avg.core.pacing import Pacer


class StepClock(Protocol):
    @property
    def overruns(self) -> int:
        """Steps whose deadline had passed before they were waited for."""

    def sleep(self, duration_s: float) -> None:
        """Let ``duration_s`` of robot time pass (manoeuvres during reset)."""

    def start_steps(self) -> None:
        """Anchor the step deadlines at now (end of reset)."""

    def wait_step(self) -> None:
        """Wait for the end of the current step."""


class WallClock:
    """Real time, optionally sped up for a realtime twin (``time_scale`` robot seconds per
    wall second).  Step ends are deadlines ``dt_s`` apart, so the agent's compute time
    between steps is absorbed instead of stretching the step; a late step restarts the
    schedule rather than rushing to catch up."""

    def __init__(self, dt_s: float, time_scale: float = 1.0) -> None:
        self._scale = time_scale
        self._pacer = Pacer(dt_s / time_scale)

    @property
    def overruns(self) -> int:
        return self._pacer.overruns

    def sleep(self, duration_s: float) -> None:
        time.sleep(duration_s / self._scale)

    def start_steps(self) -> None:
        self._pacer.restart()
        self._pacer.wait()  # the first wait of a schedule returns at once: the anchor

    def wait_step(self) -> None:
        self._pacer.wait()


class LockstepClock:
    """Advances a lockstep twin, then waits until the driver has parsed every frame the
    twin wrote, so each step sees exactly the same frames on every run.  A twin that sends
    no frame for ``frame_timeout_s`` of robot time is a silent robot."""

    def __init__(self, emulator: Emulator, driver: Create2Driver, dt_s: float,
                 timeout_s: float = 5.0, frame_timeout_s: float = 0.5) -> None:
        self._emulator, self._driver, self._timeout_s = emulator, driver, timeout_s
        self._dt_s, self._frame_timeout_s = dt_s, frame_timeout_s
        self._silent_s = 0.0
        self.overruns = 0

    def sleep(self, duration_s: float) -> None:
        mark = self._driver.frames_received
        sent = self._emulator.advance(duration_s, rx_barrier=self._driver.tx_bytes,
                                      timeout_s=self._timeout_s)
        if sent:
            self._silent_s = 0.0
            self._driver.wait_for_frame(mark + sent, self._timeout_s)
            return
        self._silent_s += duration_s
        if self._silent_s > self._frame_timeout_s:
            raise Create2SilentError(
                f"the twin sent no sensor frame for {self._silent_s:.2f} s of robot time (off, "
                "asleep, or its stream paused)")

    def start_steps(self) -> None:
        pass

    def wait_step(self) -> None:
        self.sleep(self._dt_s)

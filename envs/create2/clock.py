"""How the task lets robot time pass: wall-clock for hardware and the realtime twin,
lockstep for the deterministic twin.

All durations are robot seconds (simulated seconds on the twin).
"""

from __future__ import annotations

import time
from typing import Protocol

from rt_avg.envs.create2.driver import Create2Driver
from rt_avg.envs.create2.emulator import Emulator


class StepClock(Protocol):
    overruns: int

    def sleep(self, duration_s: float) -> None:
        """Let ``duration_s`` of robot time pass (manoeuvres during reset)."""

    def start_steps(self) -> None:
        """Anchor the step deadlines at now (end of reset)."""

    def wait_step(self, dt_s: float) -> None:
        """Wait for the end of the current step; counts overruns when already late."""


class WallClock:
    """Real time, optionally sped up for a realtime twin (``time_scale`` robot seconds
    per wall second).  Step ends are deadlines, so the agent's compute time between
    steps is absorbed instead of stretching the step."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self._scale = time_scale
        self._deadline = time.monotonic()
        self.overruns = 0

    def sleep(self, duration_s: float) -> None:
        time.sleep(duration_s / self._scale)

    def start_steps(self) -> None:
        self._deadline = time.monotonic()

    def wait_step(self, dt_s: float) -> None:
        self._deadline += dt_s / self._scale
        remaining = self._deadline - time.monotonic()
        if remaining > 0.0:
            time.sleep(remaining)
        else:
            self.overruns += 1
            self._deadline = time.monotonic()  # re-anchor rather than rush to catch up


class LockstepClock:
    """Advances a lockstep twin, then waits until the driver has parsed every frame the
    twin wrote, so each step sees exactly the same frames on every run."""

    def __init__(self, emulator: Emulator, driver: Create2Driver, timeout_s: float = 5.0) -> None:
        self._emulator, self._driver, self._timeout_s = emulator, driver, timeout_s
        self.overruns = 0

    def sleep(self, duration_s: float) -> None:
        mark = self._driver.frames_received
        sent = self._emulator.advance(duration_s, rx_barrier=self._driver.tx_bytes,
                                      timeout_s=self._timeout_s)
        if sent:
            self._driver.wait_for_frame(mark + sent, self._timeout_s)

    def start_steps(self) -> None:
        pass

    def wait_step(self, dt_s: float) -> None:
        self.sleep(dt_s)

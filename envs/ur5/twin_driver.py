"""The twin behind the driver interface, on simulated time (deterministic stepped mode).

Per controller period it does what the hardware driver's control loop does: watch the
protective stop (unlock through the twin's dashboard after ``unlock_after_s``, give up after
too many) and stop the arm when the latest command is older than ``watchdog_s``.  Nothing
happens between calls: time moves only in :meth:`TwinDriver.advance` and in the blocking
:meth:`TwinDriver.move_home`.  Same seed, same calls: same states.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from rt_avg.envs.ur5.driver import (
    DriverStats,
    JointState,
    URConnectionError,
    URError,
    URMotionError,
    as_joint_vector,
)
from rt_avg.envs.ur5.safety import ProtectiveStopPolicy, ProtectiveStopSupervisor
from rt_avg.envs.ur5.twin import TwinConfig, URTwin
from rt_avg.envs.ur5.workspace import Workspace


class TwinDriver:
    """A :class:`~rt_avg.envs.ur5.driver.SteppedDriver` over :class:`~rt_avg.envs.ur5.twin.URTwin`."""

    def __init__(self, config: TwinConfig | None = None, workspace: Workspace | None = None,
                 pstop_policy: ProtectiveStopPolicy | None = None, watchdog_s: float = 0.5,
                 stop_accel: float = 2.0, seed: int | None = None) -> None:
        if not 0.0 < watchdog_s <= 10.0:
            raise ValueError(f"watchdog_s must be in (0, 10] s, got {watchdog_s}")
        if not 0.0 < stop_accel <= 40.0:
            raise ValueError(f"stop_accel must be in (0, 40] rad/s^2, got {stop_accel}")
        self.twin = URTwin(config, workspace, seed=seed)
        self.stats = DriverStats()
        self._supervisor = ProtectiveStopSupervisor(pstop_policy or ProtectiveStopPolicy())
        self._watchdog_s = watchdog_s
        self._stop_accel = stop_accel
        self._cmd_at_s: float | None = None
        self._connected = False
        self._closed = False
        self._fault: URError | None = None

    # ------------------------------------------------------------- interface
    def connect(self) -> None:
        if self._closed:
            raise URConnectionError("TwinDriver: closed; make a new driver")
        self._connected = True

    def seed(self, seed: int | None) -> None:
        """Reseed the sensor noise (the task does this on ``reset(seed=...)``)."""
        self.twin.seed(seed)

    def read_state(self) -> JointState:
        self._check()
        return self.twin.observe()

    def command_speed(self, qd: ArrayLike, accel: float) -> None:
        self._check()
        self.twin.command_speed(as_joint_vector(qd, "qd"), accel)
        self._cmd_at_s = self.twin.t_s

    def stop(self) -> None:
        if self._connected:
            self.twin.command_stop(self._stop_accel)
        self._cmd_at_s = None

    def move_home(self, q: ArrayLike, speed: float, accel: float) -> None:
        """Blocking in simulated time: waits out a protective stop, stops, moves, settles."""
        self._check()
        q = as_joint_vector(q, "q")
        policy = self._supervisor.policy
        self._run_until(lambda: not self.twin.protective_stop,
                        policy.unlock_after_s + policy.retry_s * 5 + 1.0, "protective stop to clear")
        self.stop()
        self._run_until(lambda: not self.twin.moving, 10.0, "arm to stop")
        if not self.twin.command_move(q, speed, accel):
            raise URMotionError("TwinDriver: moveJ refused (program not running)")
        dist = float(np.max(np.abs(q - self.twin.q)))
        budget = dist / speed + speed / accel + self.twin.config.actuation_delay_s + 1.0
        self._run_until(lambda: not self.twin.moving, budget, "moveJ to finish")
        if self.twin.protective_stop or not np.allclose(self.twin.q, q, atol=1e-6):
            raise URMotionError("TwinDriver: moveJ to home was interrupted by a protective stop")
        self._cmd_at_s = None

    def advance(self, dt_s: float) -> None:
        self._check()
        periods = int(round(dt_s / self.twin.config.period_s))
        for _ in range(periods):
            self._period()
            self._check()

    def close(self) -> None:
        if self._closed:
            return
        self.stop()
        self._connected = False
        self._closed = True

    # -------------------------------------------------------------- internal
    def _check(self) -> None:
        if self._fault is not None:
            raise self._fault
        if not self._connected:
            raise URConnectionError("TwinDriver: not connected; call connect() first")

    def _period(self) -> None:
        """One controller period: what the hardware control loop does, then integrate."""
        twin = self.twin
        now = twin.t_s
        self.stats.periods += 1
        was_stopped = self._supervisor.stopped_since is not None
        try:
            action = self._supervisor.update(twin.protective_stop, now)
        except URError as exc:
            self._fault = exc
            return
        if twin.protective_stop and not was_stopped:
            self.stats.protective_stops += 1
            self._cmd_at_s = None
        if action == "unlock":
            try:
                twin.unlock_protective_stop()
                self.stats.unlocks += 1
            except RuntimeError:
                self._supervisor.unlock_failed(now)
        if not twin.protective_stop and not twin.program_running and twin.reupload_script():
            self.stats.script_reuploads += 1
        if self._cmd_at_s is not None and now - self._cmd_at_s > self._watchdog_s + 1e-9:
            twin.command_stop(self._stop_accel)
            self.stats.watchdog_stops += 1
            self._cmd_at_s = None
        twin.advance(twin.config.period_s)

    def _run_until(self, done: Callable[[], bool], budget_s: float, what: str) -> None:
        periods = int(math.ceil(budget_s / self.twin.config.period_s))
        for _ in range(periods):
            if done():
                return
            self._period()
            self._check()
        if not done():
            raise URMotionError(f"TwinDriver: timed out after {budget_s:.1f} s waiting for {what}")

"""The Create-Mover reset sequence (after SenseAct's Create2MoverEnv).

1. Battery at or below ``battery_low_mah``: Seek Dock, wait until ``battery_charged_mah``
   (``charge_timeout_s`` robot seconds at most, then ``TimeoutError``).  The dock charges
   only in Passive mode, and a Create 2 docked in Passive mode stops answering after about
   60 s; a BRC pulse wakes it for about 300 ms only (SenseAct ``create2_communicator.py``).
   So, as SenseAct's ``_wait_until_charged`` does, the wait sends Safe when the robot
   arrives on the dock and every ``KEEP_AWAKE_S`` (50 s) while it stays there: on the
   charger Safe mode falls back to Passive at once, and the new mode restarts the timer.
   BRC is not needed (iRobot's cable may not carry it).
2. Enter the task's OI mode (Safe before every episode, as SenseAct: a robot that docks
   during the episode then drops to Passive, where the sleep is seen); on the dock, back
   off in Full mode (Safe falls back to Passive on the charger, where wheels do not turn).
3. Reverse for ``reverse_s``.
4. If the cable has wound up ``unwind_deg`` or more since the last unwind, turn back.
5. Make sure the robot is in the task's mode; otherwise retry from Full with a short
   reverse, ``mode_attempts`` times, then ``RuntimeError`` (a person is needed).

Every manoeuvre re-sends its wheel command each ``refresh_s`` so the driver's watchdog
never stops it, and ends with 0/0.  ``interrupt()`` (from another thread) stops the wheels at
once and makes the running sequence raise :class:`~rt_avg.core.ResetInterrupted`;
no wheel command is sent after it.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Literal

from rt_avg.envs.create2 import oi
from rt_avg.envs.create2.clock import StepClock
from rt_avg.envs.create2.driver import Create2Driver, SensorFrame, motion_between
from rt_avg.envs.create2.oi import Mode
from rt_avg.envs.create2.settings import from_mapping
from rt_avg.core import ResetInterrupted

log = logging.getLogger(__name__)

_SPEED_MM_S = 150.0
_UNWOUND_DEG = 30.0  # stop unwinding once the cable is within this of neutral
_SETTLE_S = 0.03  # two stream frames
#: robot seconds between keep-awake Safe commands while charging on the dock (SenseAct's
#: ``_wait_until_charged``: 50 s, inside the docked robot's 60 s sleep timer)
KEEP_AWAKE_S = 50.0
_CHARGE_POLL_S = 0.5


@dataclass(frozen=True)
class ResetConfig:
    """Reset parameters; times are robot seconds, charges mAh."""

    reverse_s: float = 1.5
    undock_s: float = 2.0
    unwind_deg: float | None = 720.0  # None: never unwind
    battery_low_mah: float = 1500.0
    battery_charged_mah: float = 2600.0
    charge_timeout_s: float = 3600.0
    mode_attempts: int = 3

    def __post_init__(self) -> None:
        for name in ("reverse_s", "undock_s", "battery_low_mah"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"reset_config {name} must be >= 0; got {getattr(self, name)!r}")
        if self.unwind_deg is not None and not self.unwind_deg > 0.0:
            raise ValueError(f"reset_config unwind_deg must be > 0 or None; got {self.unwind_deg!r}")
        if not self.battery_charged_mah > self.battery_low_mah:
            raise ValueError("reset_config battery_charged_mah must be > battery_low_mah; got "
                             f"{self.battery_charged_mah} <= {self.battery_low_mah}")
        if not self.charge_timeout_s > 0.0:
            raise ValueError(f"reset_config charge_timeout_s must be > 0; got {self.charge_timeout_s!r}")
        if not (isinstance(self.mode_attempts, int) and self.mode_attempts >= 1):
            raise ValueError(f"reset_config mode_attempts must be an int >= 1; got {self.mode_attempts!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ResetConfig:
        """Build from a plain mapping (YAML), naming unknown keys in the error."""
        return from_mapping(cls, values, "reset_config")


class ResetRoutine:
    """Runs the reset sequence and keeps the cable-winding count between resets."""

    def __init__(self, driver: Create2Driver, clock: StepClock, config: ResetConfig,
                 oi_mode: Literal["safe", "full"], refresh_s: float) -> None:
        self._driver, self._clock, self.config = driver, clock, config
        self._mode_name = oi_mode
        self._mode = Mode.SAFE if oi_mode == "safe" else Mode.FULL
        self._refresh_s = refresh_s
        self._neutral: SensorFrame | None = None  # the frame when the cable was neutral
        self._seeking = False  # Seek Dock runs (Passive mode: wheel commands are ignored)
        self._lock = threading.Lock()  # a wheel command and interrupt() never interleave
        self._abort = threading.Event()

    def interrupt(self) -> None:
        """Stop the wheels now and end a running sequence (any thread)."""
        with self._lock:
            self._abort.set()
            self._halt()

    def _halt(self) -> None:
        """Stop the wheels; while seeking the dock (Passive mode, where wheel commands are
        ignored) first take control back with the task's mode, which ends the seek."""
        try:
            if self._seeking:
                self._seeking = False
                self._driver.set_mode(self._mode_name)
            self._driver.stop()
        except Exception as exc:  # noqa: BLE001 - the caller's reason matters more
            log.error("create2: could not stop the wheels: %s", exc)

    def rotation_deg(self) -> float:
        """Net rotation (ccw positive) since the cable was last neutral."""
        frame = self._frame()
        if self._neutral is None:
            self._neutral = frame
        return motion_between(self._neutral, frame)[1]

    def forget_rotation(self) -> None:
        """The world was restarted (twin seeded reset): the cable is neutral again."""
        self._neutral = None

    def run(self) -> dict[str, Any]:
        """Run the sequence; the wheels are stopped whatever ends it early."""
        with self._lock:
            self._abort.clear()
        try:
            return self._run()
        except BaseException:
            with self._lock:
                self._halt()
            raise

    def _run(self) -> dict[str, Any]:
        cfg, report = self.config, {"charged": False, "undocked": False, "unwound": False}
        self.rotation_deg()  # anchor the winding count on first use
        self._driver.stop()
        if self._frame()[25] <= cfg.battery_low_mah:
            self._charge()
            report["charged"] = True
        self._command(lambda: self._driver.set_mode(self._mode_name))
        self._seeking = False
        self._sleep(_SETTLE_S)
        if self._frame()[34] & 2:  # bit 1: on the home base
            # Full mode ignores the charger, so the wheels turn; then the task's mode again
            self._command(lambda: self._driver.set_mode("full"))
            self._drive_for(-_SPEED_MM_S, -_SPEED_MM_S, cfg.undock_s)
            self._command(lambda: self._driver.set_mode(self._mode_name))
            report["undocked"] = True
        self._drive_for(-_SPEED_MM_S, -_SPEED_MM_S, cfg.reverse_s)
        report["unwound"] = self._unwind()
        self._ensure_mode()
        self._sleep(_SETTLE_S)  # keep reset motion out of the first observation
        return report

    # ---- steps --------------------------------------------------------------------
    def _frame(self) -> SensorFrame:
        """The latest frame; raises if the robot has gone silent."""
        if self._driver.latest_frame() is None:
            self._sleep(_SETTLE_S)
        return self._driver.fresh_frame()

    def _command(self, send: Callable[[], object]) -> None:
        """Send a command unless interrupted (checked under the lock ``interrupt`` takes)."""
        with self._lock:
            if self._abort.is_set():
                raise ResetInterrupted("Create 2 reset interrupted by stop(); wheels stopped")
            send()

    def _sleep(self, duration_s: float) -> None:
        self._clock.sleep(duration_s)
        if self._abort.is_set():
            raise ResetInterrupted("Create 2 reset interrupted by stop(); wheels stopped")

    def _drive_for(self, left: float, right: float, duration_s: float) -> None:
        remaining = duration_s
        while remaining > 1e-9:
            self._command(lambda: self._driver.drive_direct(left, right))
            chunk = min(self._refresh_s, remaining)
            self._sleep(chunk)
            remaining -= chunk
        self._driver.stop()

    def _seek_dock(self) -> None:
        self._seeking = True
        self._driver.seek_dock()

    def _charge(self) -> None:
        cfg = self.config
        log.warning("create2: battery at %d mAh <= %.0f mAh; seeking the dock and charging to "
                    "%.0f mAh (dock it by hand if it cannot find the dock)",
                    self._frame()[25], cfg.battery_low_mah, cfg.battery_charged_mah)
        self._command(self._seek_dock)
        waited, last_seek, last_safe = 0.0, 0.0, -math.inf
        while (frame := self._frame())[25] < cfg.battery_charged_mah:
            if waited >= cfg.charge_timeout_s:
                raise TimeoutError(
                    f"battery at {frame[25]} mAh did not reach {cfg.battery_charged_mah:.0f} "
                    f"mAh within {cfg.charge_timeout_s:.0f} s; dock the robot by hand or raise "
                    "reset_config charge_timeout_s")
            if not frame[34] & 2:
                last_safe = -math.inf  # arriving on the dock restarts its sleep timer
                if waited - last_seek >= 60.0:
                    self._command(self._seek_dock)  # searching may have given up; ask again
                    last_seek = waited
            elif waited - last_safe >= KEEP_AWAKE_S:
                # on the dock Safe falls back to Passive, the mode change restarts the timer
                self._command(lambda: self._driver.set_mode("safe"))
                self._seeking = False
                last_safe = waited
            self._sleep(_CHARGE_POLL_S)
            waited += _CHARGE_POLL_S
        log.warning("create2: charged to %d mAh after %.0f s of robot time; back to work",
                    frame[25], waited)

    def _unwind(self) -> bool:
        limit = self.config.unwind_deg
        rotation = self.rotation_deg()
        if limit is None or abs(rotation) < limit:
            return False
        log.info("create2: unwinding the cable (%.0f deg)", rotation)
        turn_rate_deg_s = math.degrees(2 * _SPEED_MM_S / oi.WHEEL_BASE_MM)
        budget_s = 1.5 * abs(rotation) / turn_rate_deg_s + 1.0
        while abs(rotation) > _UNWOUND_DEG and budget_s > 0.0:
            direction = -1.0 if rotation > 0 else 1.0  # turn against the winding
            self._command(lambda: self._driver.drive_direct(-direction * _SPEED_MM_S,
                                                            direction * _SPEED_MM_S))
            self._sleep(self._refresh_s)
            budget_s -= self._refresh_s
            rotation = self.rotation_deg()
            if self._frame()[35] != self._mode:
                break  # dropped to Passive (cliff, wheel drop): _ensure_mode deals with it
        self._driver.stop()
        return True  # whatever is left stays counted against the neutral baseline

    def _ensure_mode(self) -> None:
        self._sleep(_SETTLE_S)
        for attempt in range(1, self.config.mode_attempts + 1):
            if self._frame()[35] == self._mode:
                return
            log.warning("create2: not in %s mode after reset (attempt %d); retrying from Full",
                        self._mode.name, attempt)
            self._command(lambda: self._driver.set_mode("full"))
            self._drive_for(-50.0, -50.0, 0.5)
            self._command(lambda: self._driver.set_mode(self._mode_name))
            self._sleep(_SETTLE_S)
        if self._frame()[35] != self._mode:
            raise RuntimeError(
                f"Create 2 did not return to {self._mode.name} mode after "
                f"{self.config.mode_attempts} attempts (reports {Mode(self._frame()[35]).name}); "
                "a wheel may be dropped or the robot stuck on a cliff: it needs a person")

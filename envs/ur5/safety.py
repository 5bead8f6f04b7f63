"""Safety modes and the protective-stop policy of the driver (on the arm and on the twin).

On a UR controller a protective stop halts the arm and ends the running program.  The
dashboard server (port 29999) refuses ``unlock protective stop`` until 5 s after the stop
("Always inspect cause of protective stop before unlocking").  The policy here, after
SenseAct's UR reacher: wait ``unlock_after_s`` (>= 5 s), unlock, carry on; raise
:class:`ProtectiveStopLimitError` when more than ``max_stops`` stops fall inside
``window_s`` seconds, because then something is wrong that a person has to look at.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

from rt_avg.envs.ur5.driver import ProtectiveStopLimitError

#: the controller refuses earlier unlocks
MIN_UNLOCK_DELAY_S = 5.0


class SafetyMode(IntEnum):
    """RTDE ``safety_mode`` values (CB3 3.x and e-Series)."""

    NONE = 0  # CB2 reports 0 in normal operation
    NORMAL = 1
    REDUCED = 2
    PROTECTIVE_STOP = 3
    RECOVERY = 4
    SAFEGUARD_STOP = 5
    SYSTEM_EMERGENCY_STOP = 6
    ROBOT_EMERGENCY_STOP = 7
    VIOLATION = 8
    FAULT = 9
    VALIDATE_JOINT_ID = 10
    UNDEFINED_SAFETY_MODE = 11
    AUTOMATIC_MODE_SAFEGUARD_STOP = 12
    SYSTEM_THREE_POSITION_ENABLING_STOP = 13


#: modes in which the arm may be commanded; a protective stop is handled by the policy
#: below; every other mode (safeguard stops, e-stops, violations, faults, undefined) stops
#: the run: a person has to act at the robot or its safeguards
RUNNING_SAFETY_MODES = frozenset({
    SafetyMode.NONE, SafetyMode.NORMAL, SafetyMode.REDUCED, SafetyMode.RECOVERY,
})
SAFEGUARD_STOP_MODES = frozenset({
    SafetyMode.SAFEGUARD_STOP, SafetyMode.AUTOMATIC_MODE_SAFEGUARD_STOP,
    SafetyMode.SYSTEM_THREE_POSITION_ENABLING_STOP,
})


def safety_mode_name(mode: int) -> str:
    """``SafetyMode`` name of ``mode``, or the number when the controller sent an unknown one."""
    try:
        return SafetyMode(mode).name
    except ValueError:
        return f"unknown safety mode {mode}"


@dataclass(frozen=True)
class ProtectiveStopPolicy:
    """When to unlock a protective stop and when to give up (SenseAct: 10 stops / 600 s)."""

    unlock_after_s: float = 5.5
    max_stops: int = 10
    window_s: float = 600.0
    retry_s: float = 1.0  # wait between failed unlock attempts

    def __post_init__(self) -> None:
        if not MIN_UNLOCK_DELAY_S <= self.unlock_after_s <= 300.0:
            raise ValueError("ProtectiveStopPolicy.unlock_after_s must be in [5, 300] s "
                             f"(the controller refuses unlocks before 5 s), got {self.unlock_after_s}")
        if not 1 <= self.max_stops <= 1000:
            raise ValueError(f"ProtectiveStopPolicy.max_stops must be in [1, 1000], got {self.max_stops}")
        if not 0.0 < self.window_s <= 86400.0:
            raise ValueError(f"ProtectiveStopPolicy.window_s must be in (0, 86400] s, got {self.window_s}")
        if not 0.0 < self.retry_s <= 60.0:
            raise ValueError(f"ProtectiveStopPolicy.retry_s must be in (0, 60] s, got {self.retry_s}")


PStopAction = Literal["ok", "wait", "unlock"]


class ProtectiveStopSupervisor:
    """Turns a stream of (protective_stop, now) readings into what to do next."""

    def __init__(self, policy: ProtectiveStopPolicy) -> None:
        self.policy = policy
        self._stopped_at: float | None = None
        self._next_try: float = 0.0
        self._stops: deque[float] = deque()

    @property
    def stopped_since(self) -> float | None:
        return self._stopped_at

    def update(self, protective_stop: bool, now: float) -> PStopAction:
        """Return "ok" (no stop), "wait" (stopped, too early) or "unlock" (try it now).

        Raises ProtectiveStopLimitError on the stop that exceeds the limit."""
        if not protective_stop:
            self._stopped_at = None
            return "ok"
        if self._stopped_at is None:
            self._stopped_at = now
            self._next_try = now + self.policy.unlock_after_s
            self._stops.append(now)
            while self._stops and self._stops[0] < now - self.policy.window_s:
                self._stops.popleft()
            if len(self._stops) > self.policy.max_stops:
                raise ProtectiveStopLimitError(
                    f"{len(self._stops)} protective stops within {self.policy.window_s:g} s "
                    f"(limit {self.policy.max_stops}); the arm stays stopped. Inspect the robot "
                    "and its surroundings, then unlock it from the teach pendant.")
        return "unlock" if now >= self._next_try else "wait"

    def unlock_failed(self, now: float) -> None:
        """An unlock attempt was refused; try again after ``retry_s``."""
        self._next_try = now + self.policy.retry_s

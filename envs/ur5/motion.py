"""When the UR5 counts as at rest, at home, settled; how long a move or a stop takes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from rt_avg.envs.ur5.driver import JointState

REST_SPEED = 0.01      # rad/s: the arm counts as at rest below this on every joint
HOME_TOLERANCE = 1e-3  # rad: a finished moveJ ends this close to its target
SETTLE_PERIODS = 5     # readings at rest in a row before the arm counts as settled

ZERO = np.zeros(6)


def at_rest(state: JointState) -> bool:
    return bool(np.all(np.abs(state.qd) < REST_SPEED))


def settled(periods: int = SETTLE_PERIODS) -> Callable[[JointState], bool]:
    """A condition that holds once the arm has been at rest for ``periods`` readings in a row
    (the tail of a deceleration ramp is below the rest threshold)."""
    count = 0

    def check(state: JointState) -> bool:
        nonlocal count
        count = count + 1 if at_rest(state) else 0
        return count >= periods

    return check


def at_home(state: JointState, target: NDArray[np.float64]) -> bool:
    return at_rest(state) and bool(np.max(np.abs(state.q - target)) <= HOME_TOLERANCE)


def move_duration(q0: NDArray[np.float64], q1: NDArray[np.float64], speed: float,
                  accel: float) -> float:
    """Duration of a synchronised trapezoidal joint move (leading axis ``speed``/``accel``)."""
    dist = float(np.max(np.abs(q1 - q0)))
    return dist / speed + speed / accel


def brake_time(qd: NDArray[np.float64], accel: float) -> float:
    """Time to bring the leading joint from ``qd`` to rest at ``accel``."""
    return float(np.max(np.abs(qd))) / accel

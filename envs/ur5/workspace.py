"""Where the UR5 reacher may move: safety box, joint limits, home pose.

Numbers follow SenseAct's UR5 reacher setups (``ur_setups.py``):

* box (task frame, see :mod:`rt_avg.envs.ur5.kinematics`): low (-0.2, -0.3, 0.5), high
  (0.2, 0.4, 1.0) m (SenseAct's ``UR5_default``);
* joint limits for shoulder lift (index 1) [-180, -60] deg and elbow (index 2)
  [-120, 130] deg, the same in both SenseAct setups; the other joints (base 0, wrists 3-5)
  only move when ``n_joints >= 3`` and use SenseAct's ``UR5_6dof`` ranges, which contain
  the home pose (``UR5_default``'s base range [60, 90] deg does not: home is 90.9 deg);
* home ``q_ref`` of ``UR5_default``.

Joint indices are the controller's: 0 base, 1 shoulder, 2 elbow, 3-5 wrist 1-3.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from rt_avg.envs.ur5.kinematics import fingertip_task

#: joints that move for each ``n_joints`` (SenseAct: 2 -> shoulder and elbow, 6 -> all)
MOVING_JOINTS: dict[int, tuple[int, ...]] = {
    1: (1,),
    2: (1, 2),
    3: (0, 1, 2),
    4: (0, 1, 2, 3),
    5: (0, 1, 2, 3, 4),
    6: (0, 1, 2, 3, 4, 5),
}


_IK_ITERATIONS = 50
_IK_TOLERANCE_M = 1e-4
_IK_STEP_RAD = 1e-6
_IK_DAMPING = 1e-6


def target_axes(n_joints: int) -> tuple[int, ...]:
    """Task-frame axes compared with the target: y-z for the planar task, else x-y-z."""
    return (1, 2) if n_joints <= 2 else (0, 1, 2)


def _vec(*values: float) -> NDArray[np.float64]:
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True)
class Workspace:
    """Safety box (task frame, m), joint limits (rad) and home pose (rad) of the reacher."""

    box_low_m: NDArray[np.float64] = field(default_factory=lambda: _vec(-0.2, -0.3, 0.5))
    box_high_m: NDArray[np.float64] = field(default_factory=lambda: _vec(0.2, 0.4, 1.0))
    angles_low_rad: NDArray[np.float64] = field(
        default_factory=lambda: np.deg2rad(_vec(30, -180, -120, -120, 30, 0))
    )
    angles_high_rad: NDArray[np.float64] = field(
        default_factory=lambda: np.deg2rad(_vec(150, -60, 130, 30, 150, 180))
    )
    home_q_rad: NDArray[np.float64] = field(
        default_factory=lambda: _vec(1.58724391, -2.4, 1.5, -0.71790582, 1.63685572, 1.00910473)
    )

    def __post_init__(self) -> None:
        for name, size in (("box_low_m", 3), ("box_high_m", 3), ("angles_low_rad", 6),
                           ("angles_high_rad", 6), ("home_q_rad", 6)):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != (size,) or not np.all(np.isfinite(value)):
                raise ValueError(f"Workspace.{name} must be {size} finite numbers, got {value}")
            object.__setattr__(self, name, value)
        if np.any(self.box_low_m >= self.box_high_m):
            raise ValueError("Workspace.box_low_m must be below box_high_m on every axis")
        if np.any(self.angles_low_rad >= self.angles_high_rad):
            raise ValueError("Workspace.angles_low_rad must be below angles_high_rad")
        if not self.joints_inside(self.home_q_rad) or not self.box_inside(self.home_q_rad):
            raise ValueError("Workspace.home_q_rad must lie inside the joint limits and the box")

    def box_inside(self, q: NDArray[np.float64], margin_m: float = 0.0) -> bool:
        """Whether the fingertip at ``q`` is inside the box shrunk by ``margin_m``."""
        p = fingertip_task(q)
        return bool(np.all(p >= self.box_low_m + margin_m) and np.all(p <= self.box_high_m - margin_m))

    def joints_inside(self, q: NDArray[np.float64], joints: tuple[int, ...] = tuple(range(6)),
                      margin_rad: float = 0.0) -> bool:
        """Whether the listed joints of ``q`` are inside their limits shrunk by ``margin_rad``."""
        idx = list(joints)
        q = np.asarray(q)[idx]
        return bool(np.all(q >= self.angles_low_rad[idx] + margin_rad)
                    and np.all(q <= self.angles_high_rad[idx] - margin_rad))

    def return_point(self, q: NDArray[np.float64], joints: tuple[int, ...],
                     margin_m: float) -> NDArray[np.float64]:
        """Angles of ``joints`` (the others as in ``q``) that put the fingertip on the point of
        the box shrunk by ``margin_m`` nearest to where it is at ``q``, on the task's axes
        (:func:`target_axes`: y-z for up to 2 joints, whose plane of motion is y-z up to the
        base angle's tilt); the current angles when no such angles are found.

        The box-violation override of SenseAct's reacher steers there; it solves a 6-joint
        IK keeping the tool orientation and uses the moving joints of that solution, while
        here only the moving joints are solved for, so the fingertip lands on the point."""
        q = np.asarray(q, dtype=np.float64)
        goal = np.clip(fingertip_task(q), self.box_low_m + margin_m, self.box_high_m - margin_m)
        idx, axes = list(joints), list(target_axes(len(joints)))
        x = q.copy()
        for _ in range(_IK_ITERATIONS):  # damped least squares from the current angles
            err = (goal - fingertip_task(x))[axes]
            if float(np.linalg.norm(err)) < _IK_TOLERANCE_M:
                return x[idx]
            jac = np.empty((len(axes), len(idx)))
            for k, j in enumerate(idx):
                dx = x.copy()
                dx[j] += _IK_STEP_RAD
                jac[:, k] = (fingertip_task(dx) - fingertip_task(x))[axes] / _IK_STEP_RAD
            x[idx] += jac.T @ np.linalg.solve(jac @ jac.T + _IK_DAMPING * np.eye(len(axes)), err)
        return q[idx]

    def expanded(self, box_m: float, angles_rad: float) -> Workspace:
        """A larger workspace (used as the twin's protective-stop limits)."""
        return Workspace(self.box_low_m - box_m, self.box_high_m + box_m,
                         self.angles_low_rad - angles_rad, self.angles_high_rad + angles_rad,
                         self.home_q_rad)

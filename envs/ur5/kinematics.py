"""UR5 forward kinematics from the standard Denavit-Hartenberg parameters.

Two frames appear in this package:

* the *controller base frame*: the frame of the standard DH model, in which the UR
  controller reports ``getActualTCPPose`` (with a zero TCP offset);
* the *task frame*: the controller base frame rotated by pi about z, i.e.
  ``(x, y, z)_task = (-x, -y, z)_base``.  This is the frame SenseAct's UR reacher (and the
  ROS ``base_link`` convention) uses; its safety box and targets are given in it, so this
  package keeps SenseAct's numbers unchanged and converts with :func:`base_to_task`.

The "fingertip" is the tool flange (frame 6, ``d6`` included), as in SenseAct.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: standard DH parameters of the UR5 (m, rad); joint i uses row i
D_M = np.array([0.089159, 0.0, 0.0, 0.10915, 0.09465, 0.0823])
A_M = np.array([0.0, -0.425, -0.39225, 0.0, 0.0, 0.0])
ALPHA_RAD = np.array([np.pi / 2, 0.0, 0.0, np.pi / 2, -np.pi / 2, 0.0])

_COS_ALPHA = np.cos(ALPHA_RAD)
_SIN_ALPHA = np.sin(ALPHA_RAD)
_BASE_TO_TASK = np.array([-1.0, -1.0, 1.0])

N_JOINTS = 6


def dh_transform(theta: float, i: int) -> NDArray[np.float64]:
    """Homogeneous transform from frame i to frame i+1 (standard DH, joint i at ``theta``)."""
    ct, st = np.cos(theta), np.sin(theta)
    ca, sa = _COS_ALPHA[i], _SIN_ALPHA[i]
    return np.array(
        [
            [ct, -st * ca, st * sa, A_M[i] * ct],
            [st, ct * ca, -ct * sa, A_M[i] * st],
            [0.0, sa, ca, D_M[i]],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def forward(q: ArrayLike) -> NDArray[np.float64]:
    """Flange pose (4x4) in the controller base frame for the 6 joint angles ``q`` (rad)."""
    q = np.asarray(q, dtype=np.float64)
    if q.shape != (N_JOINTS,):
        raise ValueError(f"q must have shape (6,), got {q.shape}")
    pose = np.eye(4)
    for i in range(N_JOINTS):
        pose = pose @ dh_transform(q[i], i)
    return pose


def fingertip_base(q: ArrayLike) -> NDArray[np.float64]:
    """Flange position (3,) in the controller base frame (m)."""
    return forward(q)[:3, 3]


def base_to_task(p_base: ArrayLike) -> NDArray[np.float64]:
    """Convert a position from the controller base frame to the task (SenseAct) frame."""
    return np.asarray(p_base, dtype=np.float64) * _BASE_TO_TASK


def fingertip_task(q: ArrayLike) -> NDArray[np.float64]:
    """Flange position (3,) in the task frame (m): what targets and the safety box use."""
    return base_to_task(fingertip_base(q))


def rotation_vector(rot: ArrayLike) -> NDArray[np.float64]:
    """Axis-angle vector (rx, ry, rz) of a 3x3 rotation matrix, as UR poses report it."""
    rot = np.asarray(rot, dtype=np.float64)
    cos_angle = np.clip((np.trace(rot) - 1.0) / 2.0, -1.0, 1.0)
    angle = float(np.arccos(cos_angle))
    if angle < 1e-9:
        return np.zeros(3)
    if np.pi - angle < 1e-6:
        # near pi the antisymmetric part vanishes; take the axis from the diagonal instead
        axis = np.sqrt(np.maximum((np.diag(rot) + 1.0) / 2.0, 0.0))
        k = int(np.argmax(axis))
        for j in range(3):
            if j != k and rot[k, j] < 0:
                axis[j] = -axis[j]
        return axis / np.linalg.norm(axis) * angle
    axis = np.array([rot[2, 1] - rot[1, 2], rot[0, 2] - rot[2, 0], rot[1, 0] - rot[0, 1]])
    return axis / (2.0 * np.sin(angle)) * angle


def tcp_pose_base(q: ArrayLike) -> NDArray[np.float64]:
    """Flange pose (x, y, z, rx, ry, rz) in the controller base frame, as
    ``getActualTCPPose`` reports it when the TCP offset is zero."""
    pose = forward(q)
    return np.concatenate([pose[:3, 3], rotation_vector(pose[:3, :3])])

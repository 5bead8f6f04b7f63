"""UR5 forward kinematics against positions worked out by hand from the DH table."""

import math

import numpy as np
import pytest

from rt_avg.envs.ur5.kinematics import (
    base_to_task,
    fingertip_base,
    fingertip_task,
    forward,
    rotation_vector,
    tcp_pose_base,
)

D1, A2, A3, D4, D5, D6 = 0.089159, -0.425, -0.39225, 0.10915, 0.09465, 0.0823


def test_zero_pose():
    # q = 0: the links lie along x (a2 + a3), d4 and d6 point along -y, d5 along -z
    np.testing.assert_allclose(fingertip_base(np.zeros(6)), [A2 + A3, -(D4 + D6), D1 - D5], atol=1e-12)


def test_zero_pose_orientation():
    # frame 6 at q = 0: x6 = x0, y6 = z0, z6 = -y0 (DH alphas pi/2, 0, 0, pi/2, -pi/2, 0)
    np.testing.assert_allclose(forward(np.zeros(6))[:3, :3],
                               [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-12)


def test_upright_pose():
    # shoulder -90 deg points the upper arm straight up, wrist 1 -90 deg turns d5 up as well
    q = [0.0, -math.pi / 2, 0.0, -math.pi / 2, 0.0, 0.0]
    np.testing.assert_allclose(fingertip_base(q), [0.0, -(D4 + D6), D1 - A2 - A3 + D5], atol=1e-12)


def test_base_rotation():
    # the base joint turns the zero pose about z: (x, y) -> (-y, x) for +90 deg
    q = [math.pi / 2, 0, 0, 0, 0, 0]
    np.testing.assert_allclose(fingertip_base(q), [D4 + D6, A2 + A3, D1 - D5], atol=1e-12)


def test_elbow_bent():
    # elbow +90 deg about z2 = -y0 turns x3 to +z0, so a3 (< 0) hangs the wrist below the
    # elbow at (a2, 0, d1 + a3); d4 then goes along z3 = -y0, and wrist 1 at zero points
    # z4 = -y3 = +x0, so d5 adds along x; d6 along z5 = y4 = -y0.
    q = [0.0, 0.0, math.pi / 2, 0.0, 0.0, 0.0]
    np.testing.assert_allclose(fingertip_base(q), [A2 + D5, -(D4 + D6), D1 + A3], atol=1e-12)


def test_task_frame_is_base_rotated_by_pi():
    q = np.array([0.3, -1.2, 0.9, -0.5, 1.1, 0.2])
    p = fingertip_base(q)
    np.testing.assert_allclose(fingertip_task(q), [-p[0], -p[1], p[2]])
    np.testing.assert_allclose(base_to_task([1.0, 2.0, 3.0]), [-1.0, -2.0, 3.0])


def test_home_fingertip_in_the_senseact_box():
    home = np.array([1.58724391, -2.4, 1.5, -0.71790582, 1.63685572, 1.00910473])
    p = fingertip_task(home)
    assert np.all(p >= [-0.2, -0.3, 0.5]) and np.all(p <= [0.2, 0.4, 1.0]), p


@pytest.mark.parametrize("q", [np.zeros(6), [0.4, -1.0, 1.3, -0.2, 0.9, 2.8], [0, 0, 0, 0, math.pi, 0]])
def test_rotation_vector_round_trip(q):
    rot = forward(q)[:3, :3]
    rv = rotation_vector(rot)
    angle = np.linalg.norm(rv)
    if angle < 1e-12:
        np.testing.assert_allclose(rot, np.eye(3), atol=1e-9)
        return
    k = rv / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rebuilt = np.eye(3) + math.sin(angle) * kx + (1 - math.cos(angle)) * kx @ kx
    np.testing.assert_allclose(rebuilt, rot, atol=1e-6)
    assert tcp_pose_base(q).shape == (6,)


def test_bad_shape_is_rejected():
    with pytest.raises(ValueError, match="shape"):
        forward([0.0, 1.0])

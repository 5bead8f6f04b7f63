"""UR-Reacher task on the twin: spaces, reward, safety overrides, validation, conformance."""

import math
import pathlib
import sys

import gymnasium as gym
import numpy as np
import pytest

_TESTS = str(pathlib.Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:  # tests/conftest.py normally adds it
    sys.path.insert(0, _TESTS)
from conformance import EnvConformance  # noqa: E402

import rt_avg.envs  # noqa: E402,F401 - registers the ids
from rt_avg.envs.ur5.driver import DriverStats, JointState  # noqa: E402
from rt_avg.envs.ur5.kinematics import fingertip_task  # noqa: E402
from rt_avg.envs.ur5.task import URReacherEnv, reach_reward  # noqa: E402
from rt_avg.envs.ur5.workspace import Workspace  # noqa: E402

HOME = Workspace().home_q_rad


class TestUR5ReacherConformance(EnvConformance):
    def make_env(self) -> gym.Env:
        return gym.make("rt_avg/UR5-Reacher-v0")


class TestUR5Reacher6JointsNoisyConformance(EnvConformance):
    rollout_steps = 30

    def make_env(self) -> gym.Env:
        return gym.make("rt_avg/UR5-Reacher-v0", n_joints=6, sensor_noise=0.001,
                        actuation_delay_s=0.04)


# ------------------------------------------------------------------ spaces
@pytest.mark.parametrize("n_joints, obs_dim", [(1, 5), (2, 8), (3, 12), (6, 21)])
def test_spaces(n_joints, obs_dim):
    env = URReacherEnv(n_joints=n_joints)
    assert env.observation_space.shape == (obs_dim,)
    assert env.observation_space.dtype == np.float32 and env.action_space.dtype == np.float32
    np.testing.assert_allclose(env.action_space.high, 0.3)
    obs, _ = env.reset(seed=1)
    assert obs.dtype == np.float32 and obs.shape == (obs_dim,)


def test_observation_layout():
    env = URReacherEnv()
    obs, info = env.reset(seed=0)
    np.testing.assert_allclose(obs[0:2], HOME[1:3], rtol=1e-6)       # shoulder, elbow angles
    np.testing.assert_allclose(obs[2:4], 0.0)                        # at rest
    np.testing.assert_allclose(obs[4:6], info["fingertip_m"][1:] - info["target_m"], atol=1e-6)
    assert np.all(np.abs(obs[6:8]) <= 1.0) and np.any(obs[6:8] != 0.0)  # random (SenseAct)
    obs, *_ = env.step(np.array([0.3, -0.15], np.float32))
    np.testing.assert_allclose(obs[6:8], [1.0, -0.5])                # previous action / 0.3
    # 40 ms at 1.4 rad/s^2 from rest: the leading axis reaches 0.056 rad/s
    np.testing.assert_allclose(obs[2:4], np.array([0.056, -0.028]) / 0.3, rtol=1e-5)


def test_episode_is_100_steps_truncated_never_terminated():
    env = URReacherEnv()
    env.reset(seed=0)
    for i in range(100):
        _, _, terminated, truncated, _ = env.step(np.zeros(2, np.float32))
        assert terminated is False
        assert truncated is (i == 99)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2, np.float32))


def test_step_before_reset_is_an_error():
    with pytest.raises(RuntimeError, match="reset"):
        URReacherEnv().step(np.zeros(2, np.float32))


# ------------------------------------------------------------------ reward
def test_reward_values_by_hand():
    assert reach_reward(0.0, 0.04) == pytest.approx(5.0)
    # d = 0.1 m: (-0.1 + e^-1) * 0.04 / 0.008
    assert reach_reward(0.1, 0.04) == pytest.approx((-0.1 + 0.36787944117) * 5.0)
    assert reach_reward(0.1, 0.04) == pytest.approx(1.3393972)
    assert reach_reward(0.0, 0.008) == pytest.approx(1.0)


def test_fingertip_on_target_gets_the_maximum_reward():
    env = URReacherEnv()
    on_target = fingertip_task(HOME)[1:]
    env.reset(seed=0, options={"target_m": on_target})
    _, reward, *_ = env.step(np.zeros(2, np.float32))
    assert reward == pytest.approx(5.0)


def test_reward_at_a_known_distance():
    env = URReacherEnv()
    target = fingertip_task(HOME)[1:] + np.array([0.06, -0.08])  # d = 0.1 m
    _, info = env.reset(seed=0, options={"target_m": target})
    _, reward, _, _, info = env.step(np.zeros(2, np.float32))
    assert info["distance_m"] == pytest.approx(0.1)
    assert reward == pytest.approx(1.3393972)


def test_targets_lie_in_the_box_and_are_seeded():
    ws = Workspace()
    env = URReacherEnv()
    targets = []
    for seed in range(20):
        _, info = env.reset(seed=seed)
        t = info["target_m"]
        assert np.all(t >= ws.box_low_m[1:]) and np.all(t <= ws.box_high_m[1:])
        targets.append(t)
    assert len({tuple(t) for t in targets}) == 20
    _, info = env.reset(seed=3)
    np.testing.assert_array_equal(info["target_m"], targets[3])


# ------------------------------------------------------------------ safety
def test_action_driving_out_of_the_box_is_overridden():
    env = URReacherEnv(episode_s=12.0)
    ws = env.workspace
    env.reset(seed=0)
    worst = 0.0
    overridden = 0
    for _ in range(300):
        _, _, terminated, _, info = env.step(np.array([-0.3, -0.3], np.float32))  # down and out
        p = info["fingertip_m"]
        worst = max(worst, float(np.max(ws.box_low_m - p)), float(np.max(p - ws.box_high_m)))
        overridden += info["override"] == "box"
        assert not terminated and not info["protective_stop"]
    assert overridden > 0 and info["overrides_box"] == overridden
    assert worst < 0.05  # it gets out a little (braking at 1.4 rad/s^2) and is brought back
    assert info["protective_stops"] == 0


def test_joint_limit_is_overridden():
    ws = Workspace()
    high = ws.angles_high_rad.copy()
    high[2] = HOME[2] + 0.1  # an elbow limit 0.1 rad above home, well inside the box
    env = URReacherEnv(workspace=Workspace(ws.box_low_m, ws.box_high_m, ws.angles_low_rad, high,
                                           ws.home_q_rad))
    env.reset(seed=0)
    elbow = []
    for _ in range(100):
        obs, _, _, _, info = env.step(np.array([0.0, 0.3], np.float32))
        elbow.append(obs[1])
    assert info["overrides_joints"] > 0 and info["overrides_box"] == 0
    assert max(elbow) < high[2] + 0.05  # overshoot while braking, then held at the limit
    assert abs(elbow[-1] - high[2]) < 0.05
    assert info["protective_stops"] == 0


def test_protective_stop_in_an_episode():
    env = URReacherEnv(episode_s=12.0)
    env.reset(seed=0)
    env.driver.twin.trigger_protective_stop()
    stopped = []
    for _ in range(200):
        _, _, terminated, _, info = env.step(np.array([0.3, 0.3], np.float32))
        stopped.append(info["protective_stop"])
        assert not terminated
    # unlocked after the policy's 5.5 s (138 steps of 40 ms), then the episode goes on
    assert stopped[0] and not stopped[-1] and 130 <= sum(stopped) <= 145
    assert info["protective_stops"] == 1


# --------------------------------------------------------------- lifecycle
def test_stop_and_close_are_idempotent():
    env = URReacherEnv()
    env.stop()  # before connecting: nothing to do
    env.reset(seed=0)
    env.step(np.array([0.3, 0.3], np.float32))
    env.stop()
    env.stop()
    env.driver.advance(1.0)
    assert np.all(env.driver.read_state().qd == 0.0)
    env.close()
    env.close()
    env.stop()
    with pytest.raises(RuntimeError, match="close"):
        env.reset()


def test_same_seed_same_actions_same_observations():
    def rollout():
        env = URReacherEnv(sensor_noise=0.002, actuation_delay_s=0.008)
        rng = np.random.default_rng(5)
        seen = [env.reset(seed=11)[0]]
        for _ in range(100):
            seen.append(env.step(rng.uniform(-0.3, 0.3, 2).astype(np.float32))[0])
        return np.array(seen)

    np.testing.assert_array_equal(rollout(), rollout())


def test_hardware_backend_is_constructed_without_connecting():
    env = URReacherEnv(backend="hardware", host="192.0.2.1")  # TEST-NET: nothing answers
    assert env.driver.host == "192.0.2.1"
    env.close()


# -------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, message", [
    ({"backend": "sim"}, "backend must be 'twin', 'hardware' or 'wire'"),
    ({"backend": "hardware"}, "host is required"),
    ({"host": ""}, "host must be"),
    ({"n_joints": 0}, r"n_joints must be an int in 1\.\.6"),
    ({"n_joints": 7}, "n_joints"),
    ({"n_joints": 2.0}, "n_joints"),
    ({"speed_max": 0.0}, r"speed_max: got 0\.0, allowed range is \(0, 3\.14"),
    ({"speed_max": 3.2}, "speed_max"),
    ({"speed_max": math.nan}, "speed_max: got nan, expected a finite number"),
    ({"accel_max": 6.0}, r"accel_max: got 6\.0, allowed range is \(0, 5\]"),
    ({"dt_s": 0.0}, "dt_s"),
    ({"dt_s": 0.03, "episode_s": 3.0}, "whole number of twin_period_s"),
    ({"episode_s": 4.01}, "episode_s must be a whole number"),
    ({"episode_s": -1.0}, "episode_s"),
    ({"actuation_delay_s": 2.0}, "actuation_delay_s"),
    ({"sensor_noise": -0.1}, "sensor_noise"),
    ({"watchdog_s": 0.02}, "watchdog_s must be > dt_s"),
    ({"control_period_s": 0.05}, "control_period_s must be <= dt_s"),
    ({"reset_speed": 0}, "reset_speed"),
    ({"reset_move_s": 0}, "reset_move_s"),
    ({"reset_speed": 0.5, "reset_move_s": 2.0}, "not both"),
    ({"reset_prev_action": "none"}, "reset_prev_action must be 'random' or 'zero'"),
    ({"workspace": "big"}, "workspace must be a Workspace"),
    ({"render_mode": "human"}, "render_mode"),
])
def test_arguments_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        URReacherEnv(**kwargs)


def test_hardware_arguments_are_validated_before_any_connection():
    with pytest.raises(ValueError, match="speed_max"):
        URReacherEnv(backend="hardware", host="192.0.2.1", speed_max=10.0)


def test_bad_action_is_rejected():
    env = URReacherEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(np.array([np.nan, 0.0], np.float32))
    with pytest.raises(ValueError, match="action"):
        env.step(np.zeros(3, np.float32))


def test_bad_target_option_is_rejected():
    with pytest.raises(ValueError, match="target_m"):
        URReacherEnv().reset(seed=0, options={"target_m": [0.1, 0.2, 0.3]})


# ------------------------------------------- SenseAct's definitions, by hand
# Written out from SenseAct's source (kindredresearch/SenseAct at 505ebe6), independent of
# the project code, and applied to hand-made joint states.
D1, A2, A3, D4, D5, D6 = 0.089159, -0.42500, -0.39225, 0.10915, 0.09465, 0.0823  # ur_setups


def senseact_fingertip(q: np.ndarray) -> np.ndarray:
    """ur_utils.forward(q)[:3, 3], its T[3], T[7], T[11] with the halves summed."""
    s1, s2, s3, _, s5, _ = np.sin(q)
    c1, c2, c3, _, c5, _ = np.cos(q)
    s234, c234 = math.sin(q[1] + q[2] + q[3]), math.cos(q[1] + q[2] + q[3])
    x = (-D5 * c1 * s234 - D4 * s1 + D6 * s5 * c1 * c234 - A2 * c1 * c2 - D6 * c5 * s1
         - A3 * c1 * c2 * c3 + A3 * c1 * s2 * s3)
    y = (-D5 * s1 * s234 + D4 * c1 + D6 * s5 * s1 * c234 + D6 * c1 * c5 - A2 * c2 * s1
         - A3 * c2 * c3 * s1 + A3 * s1 * s2 * s3)
    z = D1 - D6 * s234 * s5 + A3 * (s2 * c3 + c2 * s3) + A2 * s2 - D5 * c234
    return np.array([x, y, z])


def senseact_reward(diff: np.ndarray, dt: float = 0.04) -> float:
    """reacher_env.py _compute_reward_, reward_type 'precision', no velocity penalty."""
    dist = float(np.linalg.norm(diff, ord=2))
    return (-dist + np.exp(-dist ** 2 / 0.01)) * dt / 0.008


class ScriptedArm:
    """A driver that reports hand-made joint states and records what the task sends."""

    def __init__(self, q: np.ndarray, qd: np.ndarray | None = None) -> None:
        self.stats = DriverStats()
        self.show(q, qd)
        self.commands: list[tuple[np.ndarray, float]] = []
        self.moves: list[tuple[np.ndarray, float, float]] = []

    def show(self, q: np.ndarray, qd: np.ndarray | None = None) -> None:
        self.state = JointState(np.asarray(q, float), np.zeros(6) if qd is None else np.asarray(qd, float),
                                np.zeros(6), 1, False, True, 0.0)

    def connect(self) -> None:
        pass

    def read_state(self) -> JointState:
        return self.state

    def command_speed(self, qd, accel: float) -> None:
        self.commands.append((np.array(qd, dtype=float), float(accel)))

    def stop(self) -> None:
        pass

    def move_home(self, q, speed: float, accel: float, abort=None) -> None:
        self.moves.append((np.array(q, dtype=float), float(speed), float(accel)))
        self.show(q)

    def close(self) -> None:
        pass


def with_q(**angles: float) -> np.ndarray:
    q = HOME.copy()
    for name, value in angles.items():
        q[{"shoulder": 1, "elbow": 2}[name]] = value
    return q


def test_observation_and_reward_of_a_hand_made_state_follow_senseact():
    arm = ScriptedArm(HOME)
    env = URReacherEnv(driver=arm)
    target = np.array([0.1, 0.7])
    env.reset(seed=0, options={"target_m": target})
    q, qd = with_q(shoulder=-2.2, elbow=1.3), np.array([0.0, 0.12, -0.06, 0.0, 0.0, 0.0])
    arm.show(q, qd)
    obs, reward, terminated, truncated, info = env.step(np.array([0.15, -0.3], np.float32))
    assert info["override"] == "" and not terminated and not truncated
    # reacher_env.py _compute_sensation_: q, qd / speed_high, x[1:3] - target, action / high
    diff = senseact_fingertip(q)[1:] - target
    expected = [q[1], q[2], 0.12 / 0.3, -0.06 / 0.3, *diff, 0.15 / 0.3, -0.3 / 0.3]
    np.testing.assert_allclose(obs, expected, rtol=1e-6, atol=1e-7)
    assert reward == pytest.approx(senseact_reward(diff), rel=1e-9)
    np.testing.assert_allclose(arm.commands[-1][0], [0, 0.15, -0.3, 0, 0, 0], atol=1e-7)
    assert arm.commands[-1][1] == pytest.approx(1.4)  # speedj_a of the example


def test_reward_by_hand_at_two_distances():
    # d = 0.05 m: (-0.05 + e^-0.25) * 5 = 3.64400391...
    assert senseact_reward(np.array([0.03, 0.04])) == pytest.approx(3.644003915, rel=1e-9)
    assert reach_reward(0.05, 0.04) == pytest.approx(3.644003915, rel=1e-9)
    # d = 0.5 m: (-0.5 + e^-25) * 5
    assert reach_reward(0.5, 0.04) == pytest.approx(-2.5 + 5 * math.exp(-25.0), rel=1e-9)


def test_box_violation_override_follows_senseact():
    arm = ScriptedArm(HOME)
    env = URReacherEnv(driver=arm)
    env.reset(seed=0)
    q = with_q(shoulder=HOME[1] - 0.9)  # fingertip below the box's y = -0.3 face
    assert senseact_fingertip(q)[1] < -0.3
    arm.show(q, np.array([0.0, -0.35, 0.1, 0.0, 0.0, 0.0]))
    _, _, _, _, info = env.step(np.array([0.3, 0.3], np.float32))
    command, accel = arm.commands[-1]
    assert info["override"] == "box"
    # _handle_bounds_speedj: norm 0.1 toward the return point; accel max|qd| * v0 / 0.05
    assert np.linalg.norm(command) == pytest.approx(0.1)
    assert accel == pytest.approx(0.35 * 0.35 / 0.05)
    # the return point puts the fingertip on the box shrunk by 1 mm, z as it was: walk
    # along the commanded direction to where y reaches -0.299 and look at z there
    direction = command / np.linalg.norm(command)
    lo, hi = 0.0, 2.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if senseact_fingertip(q + mid * direction)[1] < -0.299 else (lo, mid)
    assert senseact_fingertip(q + hi * direction)[2] == pytest.approx(senseact_fingertip(q)[2],
                                                                     abs=2e-3)
    # the return point and v0 are kept for the excursion: slower now, accel floors at 2
    arm.show(q + 0.01 * direction, np.array([0.0, -0.1, 0.05, 0.0, 0.0, 0.0]))
    env.step(np.array([0.3, 0.3], np.float32))
    command2, accel2 = arm.commands[-1]
    assert accel2 == pytest.approx(2.0)  # clip(0.1 * 0.35 / 0.05 = 0.7, 2, 5)
    np.testing.assert_allclose(command2 / np.linalg.norm(command2), direction, atol=1e-3)
    # a fast arm: the acceleration is capped at 5
    arm.show(with_q(shoulder=HOME[1] - 0.9), np.array([0.0, -2.0, 0.0, 0.0, 0.0, 0.0]))
    env.step(np.array([0.3, 0.3], np.float32))
    assert arm.commands[-1][1] == pytest.approx(5.0)


def test_joint_limit_override_follows_senseact():
    ws = Workspace()
    high = ws.angles_high_rad.copy()
    high[2] = HOME[2] + 0.1
    arm = ScriptedArm(HOME)
    env = URReacherEnv(driver=arm, workspace=Workspace(ws.box_low_m, ws.box_high_m,
                                                       ws.angles_low_rad, high, HOME))
    env.reset(seed=0)
    arm.show(with_q(elbow=HOME[2] + 0.12))  # elbow past its limit, fingertip in the box
    obs, _, _, _, info = env.step(np.array([0.2, 0.25], np.float32))
    assert info["override"] == "joints"
    # the joint out of range gets sign(clipped - q) * max|cmd|, the other keeps its action
    np.testing.assert_allclose(arm.commands[-1][0], [0, 0.2, -0.25, 0, 0, 0], atol=1e-7)
    assert arm.commands[-1][1] == pytest.approx(1.4)
    np.testing.assert_allclose(obs[6:8], [0.2 / 0.3, 0.25 / 0.3], rtol=1e-6)  # the agent's


def test_previous_action_after_reset_is_random_as_senseact():
    env = URReacherEnv()
    first = [env.reset(seed=s)[0][6:8] for s in range(5)]
    assert all(np.all(np.abs(f) <= 1.0) for f in first)
    assert len({tuple(f) for f in first}) == 5
    np.testing.assert_array_equal(env.reset(seed=2)[0][6:8], first[2])
    zero = URReacherEnv(reset_prev_action="zero")
    np.testing.assert_array_equal(zero.reset(seed=2)[0][6:8], 0.0)


def test_move_home_takes_two_seconds_as_senseacts_movej():
    q0 = with_q(shoulder=HOME[1] + 0.3, elbow=HOME[2] - 0.2)
    arm = ScriptedArm(q0)
    URReacherEnv(driver=arm).reset(seed=0)
    _, speed, accel = arm.moves[-1]
    # trapezoid of the leading joint (0.3 rad) at 1.4 rad/s^2 lasting 2 s:
    # 0.3 = v (2 - v / 1.4)  =>  v = 1.4 (2 - sqrt(4 - 4 * 0.3 / 1.4)) / 2
    assert speed == pytest.approx(1.4 * (2 - math.sqrt(4 - 4 * 0.3 / 1.4)) / 2)
    assert accel == pytest.approx(1.4)
    arm.show(q0)
    URReacherEnv(driver=arm, reset_speed=0.5).reset(seed=0)
    assert arm.moves[-1][1] == pytest.approx(0.5)

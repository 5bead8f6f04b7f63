"""The UR5 twin: speed ramps, actuation delay, protective stops, unlock and give-up."""

import math

import numpy as np
import pytest

from rt_avg.envs.ur5.clock import SimClock
from rt_avg.envs.ur5.driver import ProtectiveStopLimitError, SteppedDriver, URConnectionError
from rt_avg.envs.ur5.safety import ProtectiveStopPolicy, SafetyMode
from rt_avg.envs.ur5.standin import TwinController
from rt_avg.envs.ur5.twin import EARLY_UNLOCK_MESSAGE, TwinConfig, URTwin
from rt_avg.envs.ur5.twin_driver import TwinDriver
from rt_avg.envs.ur5.workspace import Workspace

PERIOD = 0.008
HOME = Workspace().home_q_rad


def speeds(*joint_speeds: tuple[int, float]) -> np.ndarray:
    qd = np.zeros(6)
    for j, v in joint_speeds:
        qd[j] = v
    return qd


def drive_out(twin: URTwin, limit_s: float = 30.0) -> None:
    """Drive the shoulder up until the twin protective-stops."""
    twin.command_speed(speeds((1, 0.3)), 1.4)
    for _ in range(int(limit_s / PERIOD)):
        twin.advance(PERIOD)
        if twin.protective_stop:
            return
    raise AssertionError("no protective stop")


# ------------------------------------------------------------------ motion
def test_acceleration_limit_is_respected():
    twin = URTwin()
    twin.command_speed(speeds((1, 0.3), (2, -0.15)), 1.4)
    previous = twin.qd.copy()
    for _ in range(40):
        twin.advance(PERIOD)
        step = np.abs(twin.qd - previous)
        assert step.max() <= 1.4 * PERIOD + 1e-12
        previous = twin.qd.copy()
    # 0.3 / 1.4 = 0.214 s: the target is reached after 27 periods, both joints together
    np.testing.assert_allclose(twin.qd, speeds((1, 0.3), (2, -0.15)))


def test_leading_axis_sets_the_pace():
    twin = URTwin()
    twin.command_speed(speeds((1, 0.3), (2, -0.15)), 1.4)
    twin.advance(12 * PERIOD)
    # mid-ramp the leading axis accelerates at 1.4 and the other keeps the commanded ratio
    assert twin.qd[1] == pytest.approx(12 * 1.4 * PERIOD)
    assert twin.qd[2] == pytest.approx(-0.5 * twin.qd[1])


def test_positions_integrate_speeds():
    twin = URTwin()
    twin.command_speed(speeds((2, 0.2)), 2.5)
    twin.advance(1.0)
    # ramp 0.08 s (10 periods, 0.008 rad) + 0.92 s at 0.2 rad/s
    assert twin.q[2] - HOME[2] == pytest.approx(0.008 + 0.184, abs=1e-12)


def test_actuation_delay():
    twin = URTwin(TwinConfig(actuation_delay_s=0.04))
    twin.command_speed(speeds((1, 0.3)), 1.4)
    twin.advance(0.04)
    assert np.all(twin.qd == 0.0)  # not yet: 5 periods of delay
    twin.advance(PERIOD)
    assert twin.qd[1] == pytest.approx(1.4 * PERIOD)


def test_sensor_noise_is_seeded_and_drawn_once_per_period():
    a = URTwin(TwinConfig(sensor_noise=0.01), seed=3)
    b = URTwin(TwinConfig(sensor_noise=0.01), seed=3)
    first = a.observe()
    np.testing.assert_array_equal(a.observe().q, first.q)  # one packet per period
    np.testing.assert_array_equal(first.q, b.observe().q)
    assert not np.allclose(first.q, HOME)
    a.advance(PERIOD)
    assert not np.array_equal(a.observe().q, first.q)


def test_move_reaches_target_and_rests():
    twin = URTwin()
    target = HOME + np.array([0, 0.3, -0.2, 0, 0, 0])
    twin.command_move(target, 0.5, 1.4)
    twin.advance(0.3)
    assert twin.moving and np.abs(twin.qd).max() <= 0.5 + 1e-12
    twin.advance(2.0)
    np.testing.assert_allclose(twin.q, target)
    assert not twin.moving


# ------------------------------------------------------- protective stops
def test_leaving_the_outer_box_protective_stops():
    twin = URTwin()
    drive_out(twin)
    assert twin.safety_mode == SafetyMode.PROTECTIVE_STOP
    assert np.all(twin.qd == 0.0) and not twin.program_running
    before = twin.q.copy()
    assert twin.command_speed(speeds((1, -0.3)), 1.4) is False  # ignored while stopped
    twin.advance(1.0)
    np.testing.assert_array_equal(twin.q, before)


def test_joint_limit_protective_stops():
    ws = Workspace()
    limits = Workspace(ws.box_low_m - 5, ws.box_high_m + 5, ws.angles_low_rad - 0.05,
                       ws.angles_high_rad + 0.05, ws.home_q_rad)
    # wrist 1 has no part in the box check worth speaking of: drive it past its limit
    twin = URTwin(TwinConfig(pstop_limits=limits))
    twin.command_speed(speeds((3, 1.0)), 2.0)
    twin.advance(3.0)
    assert twin.protective_stop
    assert twin.q[3] <= ws.angles_high_rad[3] + 0.05 + 1.0 * PERIOD


def test_unlock_through_dashboard_standin_only_after_5_s():
    clock = SimClock()
    controller = TwinController(host="10.0.0.2", clock=clock)
    dashboard = controller.DashboardClient("10.0.0.2")
    dashboard.connect()
    control = controller.RTDEControlInterface("10.0.0.2")
    receive = controller.RTDEReceiveInterface("10.0.0.2")
    control.speedJ([0, 0.3, 0, 0, 0, 0], 1.4, PERIOD)
    while not receive.isProtectiveStopped():
        clock.advance(PERIOD)
    assert receive.getSafetyMode() == SafetyMode.PROTECTIVE_STOP
    clock.advance(4.9)
    with pytest.raises(RuntimeError, match="until 5s after occurrence"):
        dashboard.unlockProtectiveStop()
    clock.advance(0.1)
    dashboard.unlockProtectiveStop()
    assert not receive.isProtectiveStopped()
    # outside the limits after the unlock: recovery, and the program must be re-uploaded
    assert receive.getSafetyMode() == SafetyMode.RECOVERY
    assert control.isProgramRunning() is False
    assert control.speedJ([0, -0.3, 0, 0, 0, 0], 1.4, PERIOD) is False
    assert control.reuploadScript() is True
    clock.advance(controller.program_start_delay_s)  # the program runs a moment after the upload
    assert control.speedJ([0, -0.3, 0, 0, 0, 0], 1.4, PERIOD) is True
    clock.advance(2.0)
    assert receive.getSafetyMode() == SafetyMode.NORMAL  # moved back inside
    assert "unlockProtectiveStop" in [c.method for c in controller.calls]
    assert EARLY_UNLOCK_MESSAGE.startswith("Unlock protective stop failure")


def test_recovery_stops_again_when_moving_further_out():
    twin = URTwin()
    drive_out(twin)
    twin.advance(5.0)
    twin.unlock_protective_stop()
    twin.reupload_script()
    drive_out(twin, limit_s=1.0)
    assert twin.protective_stops == 2


# ------------------------------------------------------------ twin driver
def test_twin_driver_is_a_stepped_driver():
    assert isinstance(TwinDriver(), SteppedDriver)


def test_twin_driver_requires_connect():
    driver = TwinDriver()
    with pytest.raises(URConnectionError, match="connect"):
        driver.read_state()


def test_twin_driver_unlocks_after_policy_delay_and_recovers():
    driver = TwinDriver(pstop_policy=ProtectiveStopPolicy(unlock_after_s=5.0))
    driver.connect()
    driver.command_speed(speeds((1, 0.3)), 1.4)
    while not driver.read_state().protective_stop:
        driver.advance(0.04)
        driver.command_speed(speeds((1, 0.3)), 1.4)
    stopped_at = driver.read_state().timestamp_s
    while driver.read_state().protective_stop:
        driver.advance(0.04)
    assert driver.read_state().timestamp_s - stopped_at >= 5.0
    assert driver.stats.protective_stops == 1 and driver.stats.unlocks == 1
    assert driver.stats.script_reuploads == 1
    driver.move_home(HOME, 0.5, 1.4)  # back home from the recovery position
    np.testing.assert_allclose(driver.read_state().q, HOME)


def test_twin_driver_gives_up_after_too_many_stops():
    driver = TwinDriver(pstop_policy=ProtectiveStopPolicy(unlock_after_s=5.0, max_stops=2,
                                                          window_s=600.0))
    driver.connect()
    with pytest.raises(ProtectiveStopLimitError, match="3 protective stops within 600 s"):
        for _ in range(10):
            driver.twin.trigger_protective_stop()
            driver.advance(6.0)
    assert driver.stats.protective_stops == 2
    with pytest.raises(ProtectiveStopLimitError):  # and it stays raised
        driver.read_state()


def test_stops_outside_the_window_do_not_count():
    driver = TwinDriver(pstop_policy=ProtectiveStopPolicy(unlock_after_s=5.0, max_stops=2,
                                                          window_s=20.0))
    driver.connect()
    for _ in range(5):
        driver.twin.trigger_protective_stop()
        driver.advance(11.0)
    assert driver.stats.protective_stops == 5


def test_twin_driver_watchdog_stops_a_stale_command():
    driver = TwinDriver(watchdog_s=0.5)
    driver.connect()
    driver.command_speed(speeds((2, 0.2)), 1.4)
    driver.advance(0.48)
    assert driver.read_state().qd[2] == pytest.approx(0.2)
    driver.advance(0.04)  # the command is now 0.52 s old
    assert driver.stats.watchdog_stops == 1
    driver.advance(0.5)
    assert driver.read_state().qd[2] == 0.0
    assert driver.stats.watchdog_stops == 1


def test_twin_driver_close_is_idempotent():
    driver = TwinDriver()
    driver.connect()
    driver.close()
    driver.close()
    with pytest.raises(URConnectionError):
        driver.command_speed(np.zeros(6), 1.0)


@pytest.mark.parametrize("kwargs, field", [
    ({"period_s": 0.0}, "period_s"),
    ({"actuation_delay_s": -0.1}, "actuation_delay_s"),
    ({"sensor_noise": math.inf}, "sensor_noise"),
])
def test_twin_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=field):
        TwinConfig(**kwargs)


def test_unlock_policy_cannot_be_shorter_than_5_s():
    with pytest.raises(ValueError, match="unlock_after_s"):
        ProtectiveStopPolicy(unlock_after_s=4.0)

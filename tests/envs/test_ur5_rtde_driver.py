"""The hardware driver, run unchanged against the twin-backed ur_rtde stand-in."""

import threading
import time

import numpy as np
import pytest

from rt_avg.envs.ur5.clock import MonotonicClock, SimClock
from rt_avg.envs.ur5.driver import (
    ProtectiveStopLimitError,
    URConnectionError,
    URDriver,
    URProgramStoppedError,
    URSafetyError,
)
from rt_avg.envs.ur5.rtde_driver import RTDEDriver
from rt_avg.envs.ur5.safety import ProtectiveStopPolicy
from rt_avg.envs.ur5.standin import TwinController
from rt_avg.envs.ur5.task import URReacherEnv
from ur5_sim import HOST, PERIOD, make, run, sim  # noqa: F401 (sim: a fixture)
from rt_avg.envs.ur5.workspace import Workspace

HOME = Workspace().home_q_rad
QD = np.array([0.0, 0.1, -0.1, 0.0, 0.0, 0.0])


def test_is_a_driver():
    assert isinstance(RTDEDriver(HOST), URDriver)


def test_speedj_is_resent_every_period(sim):
    controller, clock, driver = sim
    driver.command_speed(QD, 1.4)
    run(driver, clock, 0.2)
    calls = controller.calls_to("speedJ")
    assert len(calls) == 25
    assert all(c.args == (tuple(QD), 1.4, PERIOD) for c in calls)
    np.testing.assert_allclose(np.diff([c.t_s for c in calls]), PERIOD)
    assert driver.read_state().qd[1] == pytest.approx(0.1)


def test_background_loop_sends_one_speedj_per_period():
    """In real time the loop sends exactly one speedJ per period, the latest command (how
    many periods fit in the time depends on the machine; that there is one speedJ in each
    does not)."""
    controller = TwinController(host=HOST, clock=MonotonicClock())
    driver = make(controller, run_loop=True)
    driver.connect()
    try:
        driver.command_speed(QD, 1.4)
        wait_until_true(lambda: controller.calls_to("speedJ")
                        and controller.calls_to("speedJ")[-1].args[0] == tuple(QD), 5.0)
        periods, sent = driver.stats.periods, len(controller.calls_to("speedJ"))
        end = time.monotonic() + 0.3
        while time.monotonic() < end:  # keep it fresh, as a task stepping at 40 ms would
            driver.command_speed(QD, 1.4)
            time.sleep(0.04)
        with driver._io_lock:  # between two periods
            n_periods = driver.stats.periods - periods
            calls = controller.calls_to("speedJ")[sent:]
    finally:
        driver.close()
    assert n_periods > 0 and len(calls) == n_periods
    assert all(c.args == (tuple(QD), 1.4, PERIOD) for c in calls)
    assert driver.stats.watchdog_stops == 0


def wait_until_true(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s} s"
        time.sleep(0.005)


def speedjs_since(controller: TwinController, t_s: float) -> list:
    return [c for c in controller.calls_to("speedJ") if c.t_s >= t_s]


def test_stale_command_is_braked_once(sim):
    """A command older than watchdog_s is replaced by speedJ toward zero at stop_accel
    (real-time: the watchdog stays fed while the arm brakes)."""
    controller, clock, driver = sim
    start = controller.twin.t_s
    driver.command_speed(QD, 1.4)
    run(driver, clock, 0.8)
    calls = speedjs_since(controller, start)
    moving = [c for c in calls if c.args == (tuple(QD), 1.4, PERIOD)]
    braking = [c for c in calls if c.args == ((0.0,) * 6, 2.0, PERIOD)]
    assert driver.stats.watchdog_stops == 1
    assert len(moving) + len(braking) == len(calls) == 100  # one speedJ every period
    assert 0.5 <= braking[0].t_s - moving[0].t_s <= 0.5 + 2 * PERIOD
    assert moving[-1].t_s < braking[0].t_s
    assert np.all(driver.read_state().qd == 0.0)
    assert [c for c in controller.calls if c.t_s >= start and c.method == "speedStop"] == []


def test_fresh_commands_keep_the_arm_moving(sim):
    controller, clock, driver = sim
    start = controller.twin.t_s
    for _ in range(40):  # 40 steps of 40 ms = 1.6 s, each with a new command
        driver.command_speed(QD, 1.4)
        run(driver, clock, 0.04)
    assert driver.stats.watchdog_stops == 0
    assert all(c.args[0] == tuple(QD) for c in speedjs_since(controller, start))


def test_reconnects_after_the_link_drops(sim):
    controller, clock, driver = sim
    driver.command_speed(QD, 1.4)
    run(driver, clock, 0.1)
    controller.drop_link()
    run(driver, clock, 0.3)
    state = driver.read_state()
    assert state.connected is False
    assert driver.stats.link_drops == 1
    controller.restore_link()
    run(driver, clock, 0.6)
    assert driver.read_state().connected is True
    assert driver.stats.reconnects == 1
    assert [c.interface for c in controller.calls_to("reconnect")].count("control") >= 1
    # ur_rtde's reconnect restarted the control script: the new run is marked and armed
    assert controller.twin.watchdog_s == pytest.approx(0.1)
    assert driver.stats.watchdog_arms == 2 and driver.stats.program_restarts == 1
    # the old command is dropped: zero speed until the task commands again
    back = controller.twin.t_s
    run(driver, clock, 0.1)
    assert all(c.args[0] == (0.0,) * 6 for c in speedjs_since(controller, back))
    driver.command_speed(QD, 1.4)
    run(driver, clock, 0.1)
    assert speedjs_since(controller, back)[-1].args[0] == tuple(QD)


def test_a_command_on_a_stale_reading_is_dropped(sim):
    controller, clock, driver = sim
    controller.stall_receive()
    run(driver, clock, 0.2)
    assert driver.read_state().connected is False
    driver.command_speed(QD, 1.4)  # made from a reading the driver says is stale
    controller.resume_receive()
    run(driver, clock, 1.0)
    assert driver.read_state().connected and driver.stats.dropped_commands == 1
    assert all(c.args[0] != tuple(QD) for c in controller.calls_to("speedJ"))


def test_link_that_stays_down_is_a_clear_error():
    clock = SimClock()
    controller = TwinController(host=HOST, clock=clock)
    driver = make(controller, reconnect_timeout_s=2.0)
    driver.connect()
    controller.drop_link()
    with pytest.raises(URConnectionError, match=f"link to {HOST} lost for more than 2 s"):
        run(driver, clock, 3.0)


def test_unreachable_host_is_a_clear_error():
    controller = TwinController(host=HOST)
    controller.reachable = False
    driver = make(controller)
    with pytest.raises(URConnectionError, match=rf"{HOST}.*30004.*Remote Control"):
        driver.connect()


def test_hanging_connect_is_bounded():
    controller = TwinController(host=HOST)
    controller.hang_on_connect = True
    driver = make(controller, connect_timeout_s=0.2)
    start = time.monotonic()
    try:
        with pytest.raises(URConnectionError, match="no answer within 0.2 s"):
            driver.connect()
    finally:
        controller.connect_release.set()
    assert time.monotonic() - start < 2.0


def test_close_does_not_hang_while_a_reconnect_blocks():
    controller = TwinController(host=HOST, clock=MonotonicClock())
    driver = make(controller, run_loop=True)
    driver.connect()
    controller.hang_on_connect = True
    controller.drop_link()
    try:
        deadline = time.monotonic() + 2.0
        while not controller.calls_to("reconnect") and time.monotonic() < deadline:
            time.sleep(0.01)
        start = time.monotonic()
        driver.stop()
        driver.close()
        assert time.monotonic() - start < 3.0  # stop: lock 0.5 s; close: join 0.5 s + lock 0.5 s
    finally:
        controller.connect_release.set()


def test_protective_stop_is_unlocked_after_5_s_then_script_reuploaded(sim):
    controller, clock, driver = sim
    driver.command_speed(QD, 1.4)
    run(driver, clock, 0.1)
    controller.twin.trigger_protective_stop()
    stopped_at = controller.twin.t_s
    run(driver, clock, 7.0)
    unlocks = controller.calls_to("unlockProtectiveStop")
    assert len(unlocks) == 1 and unlocks[0].t_s - stopped_at >= 5.0
    assert controller.calls_to("reuploadScript")
    assert driver.stats.protective_stops == 1 and driver.stats.unlocks == 1
    assert not driver.read_state().protective_stop
    # nothing commanded until the new program runs, marked and armed; then zero speed: the
    # command was dropped at the stop
    armed = [c for c in controller.calls_to("setWatchdog") if c.t_s > stopped_at]
    assert len(armed) == 1
    assert not [c for c in controller.calls_to("speedJ") if stopped_at < c.t_s < armed[0].t_s]
    assert all(c.args[0] == (0.0,) * 6 for c in speedjs_since(controller, stopped_at + 1e-9))
    driver.command_speed(QD, 1.4)
    run(driver, clock, 0.1)
    assert driver.read_state().qd[1] > 0


def test_refused_unlock_is_retried():
    clock = SimClock()
    controller = TwinController(host=HOST, clock=clock)
    driver = make(controller, pstop_policy=ProtectiveStopPolicy(unlock_after_s=5.0, retry_s=1.0))
    driver.connect()
    run(driver, clock, 0.04)
    # the controller's own clock is 0.5 s behind ours: the first unlock comes too early
    controller.twin.trigger_protective_stop()
    controller.twin.protective_stop_at_s += 0.5
    run(driver, clock, 7.0)
    unlocks = controller.calls_to("unlockProtectiveStop")
    assert len(unlocks) == 2 and driver.stats.unlocks == 1


def test_gives_up_after_too_many_protective_stops():
    clock = SimClock()
    controller = TwinController(host=HOST, clock=clock)
    driver = make(controller, pstop_policy=ProtectiveStopPolicy(max_stops=2, window_s=600.0))
    driver.connect()
    with pytest.raises(ProtectiveStopLimitError, match="3 protective stops within 600 s"):
        for _ in range(3):
            controller.twin.trigger_protective_stop()
            run(driver, clock, 6.0)


def test_background_fault_is_raised_to_the_caller():
    controller = TwinController(host=HOST, clock=MonotonicClock())
    driver = make(controller, run_loop=True)
    driver.connect()
    try:
        controller.RTDEReceiveInterface.getSafetyMode = lambda self: 7  # robot e-stop
        deadline = time.monotonic() + 2.0
        with pytest.raises(URSafetyError, match="ROBOT_EMERGENCY_STOP"):
            while time.monotonic() < deadline:
                driver.read_state()
                time.sleep(0.01)
    finally:
        driver.close()


def test_move_home(sim):
    controller, clock, driver = sim
    driver.command_speed(QD, 1.4)
    run(driver, clock, 0.5)
    start = controller.twin.t_s
    driver.move_home(HOME, 0.5, 1.4)
    np.testing.assert_allclose(driver.read_state().q, HOME, atol=1e-9)
    moves = controller.calls_to("moveJ")
    assert len(moves) == 1 and moves[0].args[1:] == (0.5, 1.4, True)  # asynchronous
    # braked to rest with speedJ, then the speed thread ended at rest, then the move
    stop = [c for c in controller.calls_to("speedStop") if c.t_s >= start][-1]
    assert stop.t_s <= moves[0].t_s
    assert not np.any(driver.read_state().qd)


def test_move_home_waits_out_a_protective_stop(sim):
    controller, clock, driver = sim
    driver.command_speed(QD, 1.4)
    run(driver, clock, 0.5)
    controller.twin.trigger_protective_stop()
    stopped_at = controller.twin.t_s
    driver.move_home(HOME, 0.5, 1.4)
    assert controller.calls_to("unlockProtectiveStop")
    assert controller.calls_to("moveJ")[0].t_s >= stopped_at + 5.0


def test_a_program_restarted_by_someone_else_is_not_taken_over(sim):
    controller, clock, driver = sim
    run(driver, clock, 0.1)
    controller.send_script()  # another client uploads a script: a new run, no link event
    with pytest.raises(URProgramStoppedError, match="stopped without a protective stop"):
        run(driver, clock, 1.0)


def test_close_is_idempotent_and_stops_the_script(sim):
    controller, clock, driver = sim
    driver.close()
    driver.close()
    assert len(controller.calls_to("stopScript")) == 1
    with pytest.raises(URConnectionError):
        driver.read_state()


@pytest.mark.parametrize("kwargs, field", [
    ({"control_period_s": 0.5}, "control_period_s"),
    ({"watchdog_s": 0.001}, "watchdog_s"),
    ({"connect_timeout_s": 0}, "connect_timeout_s"),
    ({"stop_accel": -1.0}, "stop_accel"),
])
def test_validation(kwargs, field):
    with pytest.raises(ValueError, match=field):
        RTDEDriver(HOST, **kwargs)


def test_bad_command_is_rejected(sim):
    _, _, driver = sim
    with pytest.raises(ValueError, match="qd"):
        driver.command_speed([0.1, np.nan, 0, 0, 0, 0], 1.4)


def test_task_on_the_hardware_driver():
    """The task with backend="hardware" runs the real driver code on the stand-in."""
    controller = TwinController(host=HOST, clock=MonotonicClock())
    env = URReacherEnv(backend="hardware", host=HOST, driver=make(controller, run_loop=True))
    try:
        obs, info = env.reset(seed=0)
        assert env.observation_space.contains(obs)
        for _ in range(5):
            obs, reward, terminated, truncated, info = env.step(np.array([0.1, -0.1], np.float32))
            time.sleep(0.04)  # the runner's pacing
        assert controller.calls_to("speedJ")
        assert info["connected"] and not terminated
        env.reset(seed=1)  # away from home now: a move home
        assert controller.calls_to("moveJ")
    finally:
        env.close()
        env.close()
    assert threading.active_count() < 50

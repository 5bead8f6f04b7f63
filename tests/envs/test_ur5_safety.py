"""UR5 safety: the arm stops whatever dies, and the driver never restarts what a person stopped.

Each test drives the hardware driver against the ur_rtde stand-in, whose twin honours the
controller's RTDE watchdog (a program that hears nothing for 1 / min_frequency is stopped,
and the arm with it).
"""

import _thread
import signal
import threading
import time

import numpy as np
import pytest

from helpers import HANG_S
from rt_avg.core import config as C
from rt_avg.core.config import ConfigError
from rt_avg.core.environments import make_env
from rt_avg.envs.ur5 import rtde_driver
from rt_avg.envs.ur5.clock import MonotonicClock
from rt_avg.envs.ur5.driver import URConnectionError, URError, URProgramStoppedError, URSafetyError
from rt_avg.envs.ur5.rtde_driver import RTDEDriver
from rt_avg.envs.ur5.standin import TwinController
from rt_avg.envs.ur5.task import URReacherEnv
from ur5_sim import HOST, PERIOD, make, run, sim  # noqa: F401 (sim: a fixture)
from rt_avg.envs.ur5.twin import PROGRAM_STOP_DECEL
from rt_avg.envs.ur5.twin_driver import TwinDriver
from rt_avg.envs.ur5.workspace import Workspace
from rt_avg.core import RealtimeTask, ResetInterrupted

QD = np.array([0.0, 0.3, -0.3, 0.0, 0.0, 0.0])
HOME = Workspace().home_q_rad
# the twin's arm decelerates from 0.3 rad/s at PROGRAM_STOP_DECEL when its program stops
PROGRAM_STOP_S = 0.3 / PROGRAM_STOP_DECEL


def moving(controller: TwinController) -> bool:
    return bool(np.any(controller.snapshot().qd != 0.0))


def wait_until(condition, timeout_s: float) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout_s``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"not within {timeout_s} s")
        time.sleep(0.002)
    return time.monotonic() - start


# ----------------------------------------------------------- controller watchdog
def test_arm_stops_when_the_driver_goes_silent(sim):
    """A driver that dies (or a link that drops) stops kicking: the controller's watchdog
    stops the program and the arm within controller_watchdog_s plus the deceleration."""
    controller, clock, driver = sim
    assert controller.calls_to("setWatchdog")[0].args == (pytest.approx(1 / 0.1),)
    driver.command_speed(QD, 1.4)
    run(driver, clock, 0.4)
    assert controller.snapshot().qd[1] == pytest.approx(0.3)
    # the driver's process is gone: nothing calls it any more, the controller's time goes on
    clock.advance(0.1 + PROGRAM_STOP_S + 2 * PERIOD)
    state = controller.snapshot()
    assert np.all(state.qd == 0.0)
    assert controller.twin.program_stops[-1][1] == "watchdog"


def test_arm_stops_when_the_link_drops(sim):
    controller, clock, driver = sim
    driver.command_speed(QD, 1.4)
    run(driver, clock, 0.4)
    controller.drop_link()
    run(driver, clock, 0.1 + PROGRAM_STOP_S + 2 * PERIOD)
    assert np.all(controller.snapshot().qd == 0.0)


#: calls that update the controller's input register (and so feed its watchdog)
FEEDS = {"speedJ", "kickWatchdog", "speedStop", "stopJ", "moveJ", "setWatchdog"}


def test_watchdog_is_fed_every_period_even_during_a_move_home(sim):
    controller, clock, driver = sim
    for _ in range(25):  # 1 s away from home
        driver.command_speed(QD, 1.4)
        run(driver, clock, 0.04)
    start, stops = len(controller.calls), len(controller.twin.program_stops)
    driver.move_home(HOME, 0.1, 1.4)  # about 0.28 rad at 0.1 rad/s: almost 3 s
    calls = list(controller.calls)[start:]
    moves = [c for c in calls if c.method == "moveJ"]
    assert len(moves) == 1 and moves[0].args[-1] is True  # asynchronous: the loop goes on
    kicks = [c.t_s for c in calls if c.method == "kickWatchdog"]
    assert kicks[-1] - kicks[0] > 2.5
    feeds = [c.t_s for c in calls if c.method in FEEDS]
    assert max(np.diff(feeds)) <= PERIOD + 1e-9
    assert controller.twin.program_running and len(controller.twin.program_stops) == stops
    np.testing.assert_allclose(driver.read_state().q, HOME, atol=1e-9)


def test_the_twin_backend_runs_the_hardware_loop():
    driver = TwinDriver()
    assert isinstance(driver, RTDEDriver)
    driver.connect()
    start = len(driver.controller.calls)
    driver.command_speed(QD, 1.4)
    driver.advance(0.08)
    methods = [c.method for c in list(driver.controller.calls)[start:]]
    assert methods.count("speedJ") == 10 and "kickWatchdog" not in methods
    assert "setWatchdog" in [c.method for c in driver.controller.calls]


# ------------------------------------------------------------------ exit paths
def test_an_unexpected_exception_in_the_loop_stops_the_arm():
    controller = TwinController(host=HOST, clock=MonotonicClock())
    driver = make(controller, run_loop=True)
    driver.connect()
    try:
        driver.command_speed(QD, 1.4)
        wait_until(lambda: controller.snapshot().qd[1] > 0.29, 2.0)
        controller.RTDEReceiveInterface.getActualQd = lambda self: 1 / 0  # a bug, not a link
        with pytest.raises(URError, match="crashed"):
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                driver.command_speed(QD, 1.4)
                time.sleep(0.01)
        crashed_at = controller.twin.t_s
        braking = [c for c in controller.calls_to("speedJ")
                   if c.t_s >= crashed_at - 0.02 and c.args[:2] == ((0.0,) * 6, 2.0)]
        assert braking
        # speedJ toward zero at 2.0 rad/s^2 from 0.3 rad/s: 0.15 s
        wait_until(lambda: not moving(controller), 0.15 + 0.1)
    finally:
        driver.close()


def test_a_stale_receive_timestamp_is_a_lost_link(sim):
    controller, clock, driver = sim
    driver.command_speed(QD, 1.4)
    run(driver, clock, 0.3)
    controller.stall_receive()  # connected, but the data stops changing
    run(driver, clock, 0.1 + 2 * PERIOD)
    assert driver.read_state().connected is False and driver.stats.link_drops == 1
    assert controller.calls_to("speedJ")[-1].args[:2] == ((0.0,) * 6, 2.0)  # braking
    run(driver, clock, 0.3)
    assert not moving(controller)
    with pytest.raises(URConnectionError, match="has not changed"):
        run(driver, clock, 10.0)


def test_link_comes_back_when_the_data_moves_again(sim):
    controller, clock, driver = sim
    controller.stall_receive()
    run(driver, clock, 0.3)
    controller.resume_receive()
    run(driver, clock, 1.0)
    assert driver.read_state().connected and driver.stats.reconnects == 1


# --------------------------------------------------------- program and safety
def test_operator_stop_is_not_undone(sim):
    controller, clock, driver = sim
    driver.command_speed(QD, 1.4)
    run(driver, clock, 0.2)
    dashboard = controller.DashboardClient(HOST)
    dashboard.connect()
    dashboard.stop()  # Stop on the pendant
    with pytest.raises(URProgramStoppedError, match="without a protective stop"):
        run(driver, clock, 0.2)
    assert controller.calls_to("reuploadScript") == []
    assert not controller.twin.program_running


def test_a_stall_that_tripped_the_controller_watchdog_is_recovered(sim):
    """The driver's own loop stalls (a starved machine) for longer than the controller
    watchdog allows: the controller stops the program and the arm; nobody pressed Stop, so the
    driver uploads the script again, arms it, and the task can command again.  A loop that
    keeps stalling is a fault."""
    controller, clock, driver = sim
    driver.command_speed(QD, 1.4)
    run(driver, clock, 0.2)
    for stall in range(4):
        clock.advance(0.3)  # no period runs: the controller watchdog (0.1 s) fires
        assert not controller.snapshot().qd.any()
        assert controller.twin.program_stops[-1][1] == "watchdog"
        if stall == 3:
            with pytest.raises(URProgramStoppedError, match="stalled, or the link was silent"):
                run(driver, clock, 1.0)
            break
        run(driver, clock, 1.0)
        assert controller.twin.program_running and controller.twin.watchdog_s == pytest.approx(0.1)
        assert driver.stats.stall_restarts == stall + 1
        driver.command_speed(QD, 1.4)
        run(driver, clock, 0.2)
        assert driver.read_state().qd[1] > 0


def test_script_is_reuploaded_once_after_a_protective_stop(sim):
    controller, clock, driver = sim
    controller.twin.trigger_protective_stop()
    run(driver, clock, 7.0)
    assert len(controller.calls_to("reuploadScript")) == 1
    assert controller.twin.program_running
    # the new program has its watchdog armed again
    methods = [c.method for c in controller.calls]
    assert "setWatchdog" in methods[methods.index("reuploadScript"):]
    assert controller.twin.watchdog_s == pytest.approx(0.1)


@pytest.mark.parametrize("stop", ["safeguard", "emergency"])
def test_safeguard_and_emergency_stops_end_the_run(sim, stop):
    controller, clock, driver = sim
    driver.command_speed(QD, 1.4)
    run(driver, clock, 0.2)
    if stop == "safeguard":
        controller.twin.safeguard_stop()
        match = "SAFEGUARD_STOP"
    else:
        controller.RTDEReceiveInterface.getSafetyMode = lambda self: 7
        match = "ROBOT_EMERGENCY_STOP"
    with pytest.raises(URSafetyError, match=match):
        run(driver, clock, 0.1)
    n = len(controller.calls_to("speedJ"))
    with pytest.raises(URSafetyError):  # and it stays raised; nothing more is commanded
        run(driver, clock, 0.1)
    assert len(controller.calls_to("speedJ")) == n


# ------------------------------------------------------------------- connecting
def test_control_connect_gets_more_than_ur_rtde_script_wait():
    controller = TwinController(host=HOST)

    def slow_control(host, frequency):  # ur_rtde uploading and waiting for its script
        time.sleep(0.6)
        return controller.RTDEControlInterface(host, frequency)

    driver = RTDEDriver(HOST, connect_timeout_s=0.3, control_factory=slow_control,
                        receive_factory=controller.RTDEReceiveInterface,
                        dashboard_factory=controller.DashboardClient, clock=controller.clock,
                        run_loop=False)
    driver.connect()
    assert rtde_driver.UR_RTDE_SCRIPT_WAIT_S >= 5.0
    driver.close()


def test_a_connection_given_up_on_has_its_script_stopped(monkeypatch):
    monkeypatch.setattr(rtde_driver, "UR_RTDE_SCRIPT_WAIT_S", 0.0, raising=False)
    controller = TwinController(host=HOST)
    release = threading.Event()
    made = []

    def hanging_control(host, frequency):
        release.wait(5.0)
        made.append(controller.RTDEControlInterface(host, frequency))  # uploads the script
        return made[-1]

    driver = RTDEDriver(HOST, connect_timeout_s=0.2, control_factory=hanging_control,
                        receive_factory=controller.RTDEReceiveInterface,
                        dashboard_factory=controller.DashboardClient, run_loop=False)
    with pytest.raises(URConnectionError, match="no answer within 0.2 s"):
        driver.connect()
    release.set()
    wait_until(lambda: controller.calls_to("stopScript"), 2.0)
    assert not controller.twin.program_running


def test_hardware_config_has_no_default_robot_address():
    cfg = C.load("ur5_reacher2_hardware")
    assert cfg.env.kwargs["host"] != "192.168.1.100"  # the workstation in docs/ur5.md
    with pytest.raises(ConfigError, match=r"env\.kwargs.*placeholder.*env\.kwargs\.host"):
        make_env(cfg.env)


@pytest.mark.parametrize("host", ["", "not an address", "10.0.0.2; rm -rf /", 5])
def test_bad_hosts_are_refused(host):
    with pytest.raises(ValueError, match="host"):
        URReacherEnv(backend="hardware", host=host)


# ---------------------------------------------------------------------- resets
def far_from_home_env(controller: TwinController) -> URReacherEnv:
    """A task on the real-time hardware driver whose arm stands far from home."""
    env = URReacherEnv(backend="hardware", host=HOST, reset_speed=0.1,
                       driver=make(controller, run_loop=True))
    q = HOME.copy()
    q[1] += 0.5  # 5 s at 0.1 rad/s
    controller.twin.q = q
    return env


def test_is_a_realtime_task():
    assert isinstance(URReacherEnv(), RealtimeTask)


def when_moving_home(controller: TwinController, action) -> threading.Thread:
    """Run ``action`` once the move home has started (its moveJ reached the controller)."""
    def wait_then_act() -> None:
        wait_until(lambda: controller.calls_to("moveJ"), 30.0)
        action()

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread


def test_stop_interrupts_a_move_home():
    controller = TwinController(host=HOST, clock=MonotonicClock())
    env = far_from_home_env(controller)
    try:
        when_moving_home(controller, env.stop)
        with pytest.raises(ResetInterrupted):
            env.reset(seed=0)
        assert controller.calls_to("stopJ")
        # stopJ(2.0) from 0.1 rad/s takes 0.05 s of the twin's time (its kinematics); the
        # bound only stops a hang
        wait_until(lambda: not moving(controller), HANG_S)
        assert np.max(np.abs(controller.snapshot().q - HOME)) > 0.3  # it did not go on
    finally:
        env.close()


@pytest.fixture
def python_sigint():
    """Ctrl-C raises KeyboardInterrupt, whatever handler an earlier test (Ray, a runner's
    stop request) left installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_interrupts_a_move_home(python_sigint):
    controller = TwinController(host=HOST, clock=MonotonicClock())
    env = far_from_home_env(controller)
    try:
        when_moving_home(controller, _thread.interrupt_main)
        with pytest.raises(KeyboardInterrupt):
            env.reset(seed=0)
        wait_until(lambda: not moving(controller), 0.05 + 0.1)
        time.sleep(0.2)
        assert not moving(controller)
    finally:
        env.close()

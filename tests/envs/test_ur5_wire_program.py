"""ur_rtde's control script on the twin's controller, stepped in controller time.

The controller is driven through its registers exactly as ur_rtde's RTDE packages drive it
(``input_int_register_0`` = command id, doubles = arguments), one period per ``step()``, so
every timing below is exact and independent of the machine.
"""

from __future__ import annotations

import numpy as np
import pytest

from rt_avg.envs.ur5.twin import EARLY_UNLOCK_MESSAGE
from rt_avg.envs.ur5.wire.controller import Controller, ControllerConfig
from rt_avg.envs.ur5.wire.program import DONE, READY

PERIOD = 0.008
SCRIPT = (b"def rtde_control():\n    global reg_offset_float = # float register offset\n0"
          b"    global reg_offset_int = # int register offset\n0    global x = 2\n"
          b"    textmsg(\"loop\")\nend\n")
MOVEJ, SPEEDJ, SPEED_STOP, STOPJ, SET_WATCHDOG, STOP_SCRIPT = 1, 9, 15, 34, 35, 255


def command(ctrl: Controller, cmd: int, *doubles: float, **ints: int) -> None:
    """What one ur_rtde data package writes: the command id, its doubles and ints."""
    values: dict[str, float] = {"input_int_register_0": cmd}
    values.update({f"input_double_register_{i}": v for i, v in enumerate(doubles)})
    values.update({f"input_int_register_{int(k[1:])}": v for k, v in ints.items()})
    ctrl.write_inputs(values)


def steps_until(ctrl: Controller, predicate, limit_s: float = 30.0) -> int:
    """Step until ``predicate()``; the number of periods it took."""
    for n in range(int(limit_s / PERIOD)):
        if predicate():
            return n
        ctrl.step()
    raise AssertionError(f"not reached within {limit_s} s of controller time")


def state(ctrl: Controller) -> int:
    return ctrl.out_ints.get(0, 0)


@pytest.fixture
def ctrl() -> Controller:
    c = Controller(ControllerConfig(program_start_delay_s=0.2))
    c.receive_script(SCRIPT)
    steps_until(c, lambda: c.program_running)
    c.step()
    return c


def test_program_starts_after_the_upload_delay():
    c = Controller(ControllerConfig(program_start_delay_s=0.2))
    c.receive_script(SCRIPT)
    assert c.outputs()["runtime_state"] == 1  # STOPPED
    n = steps_until(c, lambda: c.program_running)
    assert n * PERIOD == pytest.approx(0.2, abs=1.01 * PERIOD)
    out = c.outputs()
    assert out["runtime_state"] == 2 and out["robot_status_bits"] & 2
    assert state(c) == READY


def test_other_scripts_are_not_run():
    c = Controller()
    c.receive_script(b"def hello():\n  textmsg(\"hi\")\nend\n")
    c.step()
    assert not c.program_running and c.events.since(0, "script_received")[0].data["script"] == "other"


def test_regular_command_is_done_until_cleared(ctrl):
    command(ctrl, SET_WATCHDOG, 10.0)
    ctrl.step()
    assert state(ctrl) == DONE and ctrl.watchdogs == {"input_int_register_0": (0.1, ctrl.t_s - PERIOD)}
    for _ in range(5):  # the script neither repeats the command nor says ready again
        command(ctrl, SET_WATCHDOG, 10.0)
        ctrl.step()
        assert state(ctrl) == DONE
    assert len(ctrl.events.since(0, "watchdog_armed")) == 1
    command(ctrl, 0)  # ur_rtde's sendClearCommand
    ctrl.step()
    assert state(ctrl) == READY


def test_watchdog_kick_is_a_clear_and_keeps_the_program(ctrl):
    """kickWatchdog sends command 0 (ur_rtde 1.6.5 ``RTDE::send``): the script answers
    "ready" at once, nothing waits to be cleared."""
    command(ctrl, SET_WATCHDOG, 10.0)
    ctrl.step()
    command(ctrl, 0)
    for _ in range(200):  # 1.6 s, kicked every period
        command(ctrl, 0)
        ctrl.step()
        assert state(ctrl) == READY and ctrl.program_running


def test_watchdog_stops_the_program_after_one_over_f(ctrl):
    command(ctrl, SET_WATCHDOG, 10.0)
    ctrl.step()
    command(ctrl, 0)
    armed = ctrl.t_s
    n = steps_until(ctrl, lambda: not ctrl.program_running)
    assert 0.1 < n * PERIOD <= 0.1 + 2 * PERIOD
    assert ctrl.events.since(0, "program_stopped")[-1].data["reason"] == "watchdog"
    assert ctrl.watchdogs == {} and ctrl.t_s - armed > 0.1


def test_speedj_is_realtime_and_runs_until_speed_stop(ctrl):
    command(ctrl, SPEEDJ, 0.3, 0, 0, 0, 0, 0, 2.0, PERIOD)
    ctrl.step()
    assert state(ctrl) == READY  # real-time: never "done"
    command(ctrl, 0)  # a kick: the speed thread keeps the speed
    steps_until(ctrl, lambda: ctrl.twin.qd[0] == pytest.approx(0.3))
    for _ in range(50):
        ctrl.step()
    assert ctrl.twin.qd[0] == pytest.approx(0.3)


def test_speed_stop_blocks_for_the_braking_time(ctrl):
    command(ctrl, SPEEDJ, 0.4, 0, 0, 0, 0, 0, 4.0, PERIOD)
    steps_until(ctrl, lambda: ctrl.twin.qd[0] == pytest.approx(0.4))
    command(ctrl, SPEED_STOP, 2.0)
    ctrl.step()
    n = steps_until(ctrl, lambda: state(ctrl) == DONE)
    assert ctrl.twin.qd[0] == 0.0
    assert (n + 1) * PERIOD == pytest.approx(0.4 / 2.0, abs=2 * PERIOD)


def test_speed_stop_outlasts_a_10_hz_watchdog(ctrl):
    """Nothing reaches the controller while speedStop blocks: braking from 0.3 rad/s at
    2 rad/s^2 takes 0.15 s, longer than the 0.1 s watchdog window."""
    command(ctrl, SET_WATCHDOG, 10.0)
    ctrl.step()
    command(ctrl, SPEEDJ, 0.3, 0, 0, 0, 0, 0, 4.0, PERIOD)
    steps_until(ctrl, lambda: ctrl.twin.qd[0] == pytest.approx(0.3))
    command(ctrl, SPEED_STOP, 2.0)
    steps_until(ctrl, lambda: not ctrl.program_running)
    assert ctrl.events.since(0, "program_stopped")[-1].data["reason"] == "watchdog"
    assert state(ctrl) != DONE


def test_movej_blocks_for_the_move(ctrl):
    q0 = ctrl.twin.q.copy()
    target = q0 + np.array([0.3, 0, 0, 0, 0, 0])
    command(ctrl, MOVEJ, *target, 1.0, 1.0, i1=0)
    ctrl.step()
    n = steps_until(ctrl, lambda: state(ctrl) == DONE)
    np.testing.assert_allclose(ctrl.twin.q, target)
    # 0.3 rad at 1 rad/s^2 never reaches 1 rad/s: a triangle of 2 sqrt(d / a)
    assert (n + 1) * PERIOD == pytest.approx(2 * np.sqrt(0.3 / 1.0), abs=2 * PERIOD)


def test_async_movej_is_done_at_once_and_reports_progress(ctrl):
    target = ctrl.twin.q + np.array([0.2, 0, 0, 0, 0, 0])
    command(ctrl, MOVEJ, *target, 1.0, 1.0, i1=1)
    ctrl.step()
    assert state(ctrl) == DONE and ctrl.out_ints[2] & 32768  # bit 15: an async op runs
    command(ctrl, 0)
    steps_until(ctrl, lambda: not ctrl.out_ints[2] & 32768)
    np.testing.assert_allclose(ctrl.twin.q, target)


def test_stopj_ends_an_async_move(ctrl):
    target = ctrl.twin.q + np.array([1.0, 0, 0, 0, 0, 0])
    command(ctrl, MOVEJ, *target, 1.0, 1.0, i1=1)
    ctrl.step()
    command(ctrl, 0)
    for _ in range(40):
        ctrl.step()
    command(ctrl, STOPJ, 4.0, i1=0)
    ctrl.step()
    steps_until(ctrl, lambda: state(ctrl) == DONE)
    assert not ctrl.twin.moving and ctrl.twin.q[0] < target[0] - 0.1 and ctrl.program_running


def test_two_threads_moving_the_arm_end_the_program(ctrl):
    target = ctrl.twin.q + np.array([0.5, 0, 0, 0, 0, 0])
    command(ctrl, MOVEJ, *target, 1.0, 1.0, i1=1)
    ctrl.step()
    command(ctrl, 0)
    ctrl.step()
    command(ctrl, SPEEDJ, 0.1, 0, 0, 0, 0, 0, 1.0, PERIOD)
    ctrl.step()
    assert not ctrl.program_running
    assert ctrl.events.since(0, "program_stopped")[-1].data["reason"] == "runtime_error"


def test_stop_script_ends_the_program_without_done(ctrl):
    command(ctrl, STOP_SCRIPT)
    ctrl.step()
    assert not ctrl.program_running and state(ctrl) == READY


def test_a_restarted_program_resumes_a_stale_speed_command_without_watchdog(ctrl):
    command(ctrl, SET_WATCHDOG, 2.0)
    ctrl.step()
    command(ctrl, SPEEDJ, 0.2, 0, 0, 0, 0, 0, 2.0, PERIOD)
    steps_until(ctrl, lambda: ctrl.twin.qd[0] == pytest.approx(0.2))
    ctrl.restart_program()
    steps_until(ctrl, lambda: not ctrl.twin.moving)  # the stop brings the arm to rest
    steps_until(ctrl, lambda: ctrl.program_running)
    assert ctrl.watchdogs == {}
    steps_until(ctrl, lambda: ctrl.twin.qd[0] == pytest.approx(0.2))  # moving again


def test_bad_arguments_end_the_program(ctrl):
    command(ctrl, MOVEJ, *ctrl.twin.q, 0.0, 1.0, i1=0)
    ctrl.step()
    assert not ctrl.program_running
    assert "movej" in ctrl.events.since(0, "runtime_error")[-1].data["message"]


def test_joint_speed_is_limited(ctrl):
    command(ctrl, SPEEDJ, 6.0, 3.0, 0, 0, 0, 0, 40.0, PERIOD)
    steps_until(ctrl, lambda: not np.any(np.abs(ctrl.twin.qd - ctrl.twin.qd[0] * np.array([1, .5, 0, 0, 0, 0])) > 1e-9)
                and ctrl.twin.qd[0] == pytest.approx(np.pi))
    assert ctrl.twin.qd[1] == pytest.approx(np.pi / 2)


def test_protective_stop_unlock_only_after_5_s(ctrl):
    ctrl.trigger_protective_stop()
    assert not ctrl.program_running and ctrl.outputs()["safety_status_bits"] == 1 << 2
    steps_until(ctrl, lambda: ctrl.t_s - ctrl.twin.protective_stop_at_s >= 4.9)
    assert "Unlock protective stop failure: " + ctrl.unlock_protective_stop() == EARLY_UNLOCK_MESSAGE
    ctrl.receive_script(SCRIPT)  # a program cannot start during a protective stop
    steps_until(ctrl, lambda: ctrl.events.since(0, "program_start_refused"))
    steps_until(ctrl, lambda: ctrl.t_s - ctrl.twin.protective_stop_at_s >= 5.0)
    assert ctrl.unlock_protective_stop() == "Protective stop releasing"
    assert ctrl.outputs()["safety_status_bits"] == 1
    ctrl.receive_script(SCRIPT)
    steps_until(ctrl, lambda: ctrl.program_running)

"""The unmodified ur_rtde library against the wire twin: what a user's script does.

Only ``rtde_control.RTDEControlInterface`` and ``rtde_receive.RTDEReceiveInterface`` talk to
the twin; the project is used to start it (``TwinProcess``) and, where a test must know why
something happened, to read its event log.  Bounds come from the physics (speed,
acceleration) and the controller's own timestamps, so a slow machine cannot fail them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from helpers import HANG_S
from rt_avg.envs.ur5.wire import TwinProcess

rtde_control = pytest.importorskip("rtde_control")
rtde_receive = pytest.importorskip("rtde_receive")

PERIOD = 0.008  # CB3 controller period; the twin reports its time in timestamps
HOME = [1.5, -2.3, 1.45, -0.75, 1.6, 1.0]  # inside the reacher's workspace


def wait_for(predicate, timeout_s: float, what: str) -> None:
    """Poll ``predicate``; the timeout only bounds a failure, it never decides a pass."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"{what} within {timeout_s} s"
        time.sleep(0.002)


def move_duration(dist: float, speed: float, accel: float) -> float:
    """Time of a trapezoidal (or triangular) joint move of the leading axis."""
    if dist * accel <= speed * speed:
        return 2.0 * (dist / accel) ** 0.5
    return dist / speed + speed / accel


class Sampler:
    """Reads (timestamp, q, qd) from the receive interface in a thread, one sample per
    controller package, so the motion can be checked against the controller's clock."""

    def __init__(self, receive) -> None:
        self.r = receive
        self.samples: list[tuple[float, np.ndarray, np.ndarray]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = None
        while not self._stop.is_set():
            t = self.r.getTimestamp()
            q, qd = np.array(self.r.getActualQ()), np.array(self.r.getActualQd())
            if t != last and self.r.getTimestamp() == t:  # q and qd are from package t
                last = t
                self.samples.append((t, q, qd))
            time.sleep(0.001)

    def stop(self) -> list[tuple[float, np.ndarray, np.ndarray]]:
        self._stop.set()
        self._thread.join()
        return self.samples


@pytest.fixture
def twin():
    with TwinProcess(args=["--trace-inputs"]) as t:
        yield t


@pytest.fixture
def arm(twin):
    """(twin, control, receive): ur_rtde connected, the program running, the arm home."""
    control = rtde_control.RTDEControlInterface(twin.host)
    receive = rtde_receive.RTDEReceiveInterface(twin.host)
    assert control.moveJ(HOME, 1.0, 1.4)
    yield twin, control, receive
    control.disconnect()
    receive.disconnect()


def ramp_to(control, receive, speed: float, accel: float) -> None:
    """speedJ on the base joint every period until the arm runs at ``speed``."""
    deadline = time.monotonic() + 10.0
    while receive.getActualQd()[0] != pytest.approx(speed):
        assert control.speedJ([speed, 0, 0, 0, 0, 0], accel, PERIOD)
        assert time.monotonic() < deadline, "the arm did not reach its speed"
        time.sleep(PERIOD)


def test_ur_rtde_drives_the_wire_twin(twin):
    control = rtde_control.RTDEControlInterface(twin.host)
    receive = rtde_receive.RTDEReceiveInterface(twin.host)
    try:
        assert control.isConnected() and receive.isConnected()
        assert control.isProgramRunning()

        # moveJ home: blocks until the arm is there
        q_init = np.array(receive.getActualQ())
        mark = twin.mark()
        assert control.moveJ(HOME, 1.0, 1.4)
        wait_for(lambda: np.allclose(receive.getActualQ(), HOME, atol=1e-9), HANG_S,
                 "the receive interface to show the arm home")
        assert receive.getActualQd() == [0.0] * 6
        received = twin.wait_event("command_received", since=mark, cmd=1)
        done = twin.wait_event("command_done", since=mark, cmd=1)
        assert done["t_s"] - received["t_s"] == pytest.approx(
            move_duration(np.max(np.abs(np.array(HOME) - q_init)), 1.0, 1.4), abs=2 * PERIOD)

        # speedJ for 1 s of controller time, and until the arm cruises: the base joint ramps
        # at `accel` to `speed` (on a busy machine the twin's clock may run behind ours)
        speed, accel = 0.2, 0.5
        q0 = np.array(receive.getActualQ())
        sampler = Sampler(receive)
        start, deadline = receive.getTimestamp(), time.monotonic() + HANG_S
        while (receive.getTimestamp() - start < 1.0
               or receive.getActualQd()[0] != pytest.approx(speed)):
            assert control.speedJ([speed, 0, 0, 0, 0, 0], accel, PERIOD)
            assert time.monotonic() < deadline, "the arm did not cruise"
            time.sleep(PERIOD)
        wait_for(lambda: sampler.samples and sampler.samples[-1][2][0] == pytest.approx(speed),
                 HANG_S, "the sampler to see the cruise")  # the speed thread keeps cruising
        samples = sampler.stop()
        moving = [(t, q, qd) for t, q, qd in samples if qd[0] > 0.0]
        assert moving, "the arm never moved"
        t1, _, qd1 = moving[0]
        assert qd1[0] < speed, "the speed ramp was not seen"
        t_start = t1 - qd1[0] / accel  # the kinematic ramp started here (controller time)
        t_end, q_end, qd_end = samples[-1]
        assert qd_end[0] == pytest.approx(speed)
        ramp = speed / accel
        expected = speed * (t_end - t_start) - speed * ramp / 2
        assert t_end - t_start > ramp  # the check below covers ramp and cruise
        assert q_end[0] - q0[0] == pytest.approx(expected, rel=0.05)
        np.testing.assert_allclose(q_end[1:], q0[1:], atol=1e-12)

        # speedStop: blocks while the arm brakes at `decel`, returns at rest
        decel = 1.0
        sampler = Sampler(receive)
        assert control.speedStop(decel)
        at_return = twin.snapshot()  # the controller itself: at rest when speedStop returns
        assert at_return["qd"][0] == 0.0
        # the receive interface reads its own connection, which may lag on a busy machine:
        # sample until it has seen the controller's time at the return
        wait_for(lambda: sampler.samples and sampler.samples[-1][0] >= at_return["t_s"],
                 HANG_S, "the receive interface to catch up with the controller")
        samples = sampler.stop()
        assert samples[-1][2][0] == 0.0
        braking = [(t, q, qd) for t, q, qd in samples if 0.0 < qd[0] < speed - 1e-9]
        assert braking, "no braking seen"
        t_b, _, qd_b = braking[0]
        t_brake = t_b - (speed - qd_b[0]) / decel  # braking began here
        rest = [t for t, _, qd in samples if t > t_brake and qd[0] == 0.0]
        assert rest, "speedStop returned before the arm was at rest"
        # at rest within a period of v / a after braking began, never sooner
        assert speed / decel - 1e-9 <= rest[0] - t_brake <= speed / decel + PERIOD + 1e-9
        for t, _, qd in braking:  # and the speed falls at the commanded deceleration
            assert qd[0] == pytest.approx(speed - decel * (t - t_brake), abs=1e-9)

        # setWatchdog(10), then silence: the controller stops the program after 0.1 s
        mark = twin.mark()
        assert control.setWatchdog(10.0)
        time.sleep(0.3)
        wait_for(lambda: not control.isProgramRunning(), 10.0, "the program to stop")
        stop = twin.wait_event("program_stopped", since=mark, timeout_s=10.0)
        assert stop["data"]["reason"] == "watchdog"
        fired = twin.wait_event("watchdog_fired", since=mark, timeout_s=1.0)
        assert 0.1 < fired["data"]["silent_s"] <= 0.1 + PERIOD + 1e-9

        # reuploadScript brings the program back (it runs some time after the upload)
        assert control.reuploadScript()
        wait_for(control.isProgramRunning, 10.0, "the program to run again")
        assert control.moveJ([h + 0.05 for h in HOME], 1.0, 1.4)
        np.testing.assert_allclose(twin.snapshot()["q"], [h + 0.05 for h in HOME], atol=1e-9)
        wait_for(lambda: np.allclose(receive.getActualQ(), [h + 0.05 for h in HOME], atol=1e-9),
                 HANG_S, "the receive interface to show the arm there")
    finally:
        control.stopScript()
        control.disconnect()
        receive.disconnect()


def test_kick_watchdog_sends_a_clear_that_blocks_nothing(arm):
    """kickWatchdog writes command 0 (ur_rtde 1.6.5 packs WATCHDOG as NO_CMD): the script
    says "ready" at once, so the next regular command goes straight through."""
    twin, control, receive = arm
    assert control.setWatchdog(1.0)
    mark = twin.mark()
    for _ in range(3):
        assert control.kickWatchdog()
    assert twin.snapshot()["script_state"] == 1  # ready, not "done"
    target = [h + 0.02 for h in HOME]
    started = time.monotonic()
    assert control.moveJ(target, 1.0, 1.4)  # would wait 3 s for "ready" and fail otherwise
    kicks = [e["data"] for e in twin.events_since(mark, "input") if e["data"]["recipe_id"] == 11]
    assert len(kicks) == 3 and all(k["values"] == {"input_int_register_0": 0} for k in kicks)
    assert [e["data"]["cmd"] for e in twin.events_since(mark, "command_received")] == [1]
    assert time.monotonic() - started < 3.0  # not the ready timeout (UR_GET_READY_TIMEOUT)


def test_speed_stop_blocks_while_braking_so_a_10_hz_watchdog_stops_the_program(arm):
    twin, control, receive = arm
    speed, decel = 0.6, 1.0  # 0.6 s of braking, six times the watchdog window
    ramp_to(control, receive, speed, 2.0)
    assert control.setWatchdog(10.0)
    mark = twin.mark()
    assert control.speedStop(decel) is False  # the program died under it
    received = twin.wait_event("command_received", since=mark, cmd=15)
    stopped = twin.wait_event("program_stopped", since=mark)
    assert stopped["data"]["reason"] == "watchdog"
    assert stopped["seq"] > received["seq"]
    assert stopped["t_s"] - received["t_s"] < speed / decel  # before the arm was at rest
    assert not twin.events_since(mark, "command_done")
    wait_for(lambda: not twin.snapshot()["moving"], 10.0, "the arm to come to rest")


def test_reupload_returns_before_the_program_runs(arm):
    twin, control, receive = arm
    mark = twin.mark()
    assert control.reuploadScript()
    returned = time.monotonic()
    armed = control.setWatchdog(10.0)
    started = twin.wait_event("program_started", since=mark)
    assert returned < started["wall_s"]  # same monotonic clock, one machine
    assert not armed or started["wall_s"] < returned  # too early: refused, not queued
    wait_for(control.isProgramRunning, 10.0, "the program to run")
    assert control.setWatchdog(10.0)


def test_a_restarted_program_resumes_the_last_speed_command_without_a_watchdog(arm):
    twin, control, receive = arm
    assert control.setWatchdog(2.0)
    ramp_to(control, receive, 0.2, 2.0)
    mark = twin.mark()
    twin.restart_program()
    twin.wait_event("program_started", since=mark)
    assert twin.snapshot()["watchdogs"] == {}  # the new run has none
    assert twin.snapshot()["command"] == 9  # ur_rtde's last speedJ is still in the register
    wait_for(lambda: twin.snapshot()["qd"][0] == pytest.approx(0.2), 10.0,
             "the arm to move again with nothing sent")
    assert control.speedStop(2.0)


# The client of the reconnect test runs in a child process: once ur_rtde 1.6.5 has reconnected
# by itself, the first receive thread goes on beside the one the reconnect started, both read
# one socket, and the process may crash (a segmentation fault in 2 of 10 runs here, within
# 6 s of one closed socket) or reconnect again and again.  The test reads what the controller
# saw; the child is killed at the end.
RECONNECT_CLIENT = """
import json, sys, time
import rtde_control
control = rtde_control.RTDEControlInterface(sys.argv[1])
assert control.moveJ(json.loads(sys.argv[2]), 1.0, 1.4) and control.setWatchdog(1.0)
t = time.monotonic()
while time.monotonic() - t < 0.5:
    assert control.speedJ([0.2, 0, 0, 0, 0, 0], 2.0, 0.008)
    time.sleep(0.008)
print("moving", flush=True)
time.sleep(60)
"""


def test_a_closed_rtde_socket_restarts_the_program_through_ur_rtde_s_own_reconnect(twin):
    """The control interface's receive thread reconnects by itself and, finding the program
    running, stops it (stopScript, dashboard ``stop``), clears the command register and
    uploads the script again: the program that then runs has no watchdog and does not resume
    the old speed."""
    child = subprocess.Popen([sys.executable, "-c", RECONNECT_CLIENT, twin.host, json.dumps(HOME)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        while child.stdout.readline().strip() != "moving":  # ur_rtde prints to stdout too
            assert child.poll() is None, "the client process ended"
        assert twin.snapshot()["qd"][0] == pytest.approx(0.2)
        mark = twin.mark()
        assert twin.close_connections("rtde") == 1
        steps = [("rtde_connected", {}), ("program_stopped", {"reason": "stop_script"}),
                 ("dashboard_command", {"command": "stop"}), ("script_received", {}),
                 ("program_started", {})]
        seen = [twin.wait_event(kind, since=mark, timeout_s=15.0, **data) for kind, data in steps]
        assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)
        cleared = [e for e in twin.events_since(mark, "input")
                   if e["seq"] < seen[4]["seq"] and e["data"]["values"].get("input_int_register_0") == 0]
        assert cleared, "no clear before the new program started"
        assert twin.snapshot()["watchdogs"] == {}  # nobody armed the new program's
        wait_for(lambda: not twin.snapshot()["moving"], 10.0, "the arm to come to rest")
    finally:
        child.kill()
        child.wait(10)


def test_the_receive_interface_stays_down_with_its_last_state_after_a_close(twin):
    receive = rtde_receive.RTDEReceiveInterface(twin.host)
    try:
        q = receive.getActualQ()
        stamp = receive.getTimestamp()
        twin.wait_event("rtde_started")
        assert twin.close_connections("rtde") == 1
        wait_for(lambda: not receive.isConnected(), 10.0, "the receive interface to notice")
        assert receive.getActualQ() == q and receive.getTimestamp() >= stamp  # no exception
        assert len(twin.events_since(0, "rtde_connected")) == 1  # it did not reconnect
        assert receive.reconnect()
        wait_for(lambda: receive.getTimestamp() > twin.snapshot()["t_s"] - 1.0, 10.0, "fresh data")
    finally:
        receive.disconnect()


def test_a_silent_controller_stops_the_program_with_its_watchdog(arm):
    twin, control, receive = arm
    assert control.setWatchdog(10.0)
    ramp_to(control, receive, 0.2, 2.0)
    mark = twin.mark()
    twin.silence("rtde")
    stopped = twin.wait_event("program_stopped", since=mark)
    assert stopped["data"]["reason"] == "watchdog"
    wait_for(lambda: not twin.snapshot()["moving"], 10.0, "the arm to come to rest")
    twin.answer("rtde")


@pytest.mark.slow
def test_wait_period_does_not_spin_at_a_second_boundary(twin):
    """ur_rtde 1.6.0's Linux ``RTDEUtility::waitPeriod`` spins until the nanoseconds of the
    clock pass those of the cycle end, seconds ignored: a cycle that ends just before a
    second boundary and is entered just after it spins almost a second.  The installed
    library must return at once.  The call has to land in a 0.33 ms window (dt 8.33 ms at
    120 Hz, cycle end rounded down to 8 ms); trials that miss it prove nothing and are left
    out."""
    import datetime

    receive = rtde_receive.RTDEReceiveInterface(twin.host, 120.0)
    us = datetime.timedelta(microseconds=1)

    def now_ns() -> int:
        return int(receive.initPeriod() / us) * 1000

    try:
        hits = []
        for _ in range(5):
            boundary = (now_ns() // 10**9 + 1) * 10**9
            start_ns = boundary - 100_000 - 8_000_000  # cycle end 0.1 ms before the boundary
            while now_ns() < boundary - 2_000_000:
                time.sleep(0.0005)
            while now_ns() < boundary + 10_000:
                pass
            called = now_ns()
            t0 = time.monotonic()
            receive.waitPeriod(datetime.timedelta(microseconds=start_ns // 1000))
            took = time.monotonic() - t0
            if called - start_ns < 1e9 / 120 - 20_000:  # inside dt: the spin would run
                hits.append(took)
        if not hits:
            pytest.skip("no trial landed in the window (a busy machine)")
        assert max(hits) < 0.5, hits
    finally:
        receive.disconnect()

"""The unmodified ur_rtde library against the wire twin: what a user's script does.

Only ``rtde_control.RTDEControlInterface`` and ``rtde_receive.RTDEReceiveInterface`` talk to
the twin; the project is used to start it (``TwinProcess``) and, where a test must know why
something happened, to read its event log.  Bounds come from the physics (speed,
acceleration) and the controller's own timestamps, so a slow machine cannot fail them.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

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
    with TwinProcess() as t:
        yield t


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
        wait_for(lambda: np.allclose(receive.getActualQ(), HOME, atol=1e-9), 5.0,
                 "the receive interface to show the arm home")
        assert receive.getActualQd() == [0.0] * 6
        received = twin.wait_event("command_received", since=mark, cmd=1)
        done = twin.wait_event("command_done", since=mark, cmd=1)
        assert done["t_s"] - received["t_s"] == pytest.approx(
            move_duration(np.max(np.abs(np.array(HOME) - q_init)), 1.0, 1.4), abs=2 * PERIOD)

        # speedJ for 1 s: the base joint ramps at `accel` to `speed` and cruises
        speed, accel = 0.2, 0.5
        q0 = np.array(receive.getActualQ())
        sampler = Sampler(receive)
        start = time.monotonic()
        while time.monotonic() - start < 1.0:
            assert control.speedJ([speed, 0, 0, 0, 0, 0], accel, PERIOD)
            time.sleep(PERIOD)
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
        samples = sampler.stop()
        assert receive.getActualQd()[0] == 0.0
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
        np.testing.assert_allclose(receive.getActualQ(), [h + 0.05 for h in HOME], atol=1e-9)
    finally:
        control.stopScript()
        control.disconnect()
        receive.disconnect()

"""A recording stand-in for ur_rtde, backed by the twin.

:class:`TwinController` plays the robot's controller box at ``host``.  Its attributes
``RTDEControlInterface``, ``RTDEReceiveInterface`` and ``DashboardClient`` are classes with the
constructor and method names and parameter lists of ``rtde_control.RTDEControlInterface``,
``rtde_receive.RTDEReceiveInterface`` and ``dashboard_client.DashboardClient`` (a test checks
them against the installed ur_rtde), so the hardware driver runs unchanged on them::

    controller = TwinController(host="10.0.0.2", clock=SimClock())
    driver = RTDEDriver("10.0.0.2", control_factory=controller.RTDEControlInterface,
                        receive_factory=controller.RTDEReceiveInterface,
                        dashboard_factory=controller.DashboardClient, clock=controller.clock)

The twin's time follows ``clock`` (wall time by default, or a :class:`SimClock`).  Every
call is recorded in ``controller.calls``.  Faults to inject: ``reachable = False`` (refused
connections), ``hang_on_connect = True`` (connects and reconnects that block until
``connect_release`` is set), ``drop_link()`` /
``restore_link()`` (a cable pulled and put back), ``stall_receive()`` / ``resume_receive()``
(receive data that stops updating without an error), ``twin.trigger_protective_stop()``,
``twin.safeguard_stop()``, ``twin.stop_program("operator")`` (Stop on the pendant).

Behaviour modelled on ur_rtde 1.6.5 and a CB3 controller (the wire twin,
:mod:`rt_avg.envs.ur5.wire`, runs the real library instead; this stand-in serves unit tests
and the stepped twin backend, which need no network):

* motion commands return False while the control script is not running (after a
  protective stop, until ``reuploadScript``); calls on a dropped control link raise
  RuntimeError; receive getters on a dropped link return the last values;
* ``reuploadScript`` returns when the script is sent; the program runs
  ``program_start_delay_s`` later.  The constructor and ``reconnect`` wait for it to run
  (``reconnect`` first stops a running script and waits 100 ms, as ur_rtde does);
* ``speedStop``, synchronous ``stopJ`` and synchronous ``moveJ`` block until the motion ends
  (the script runs ``stopj``/``movej`` in its main loop); ``speedJ`` is real-time;
* ``kickWatchdog`` is an input update and nothing else (``RTDE::send`` packs the watchdog
  command as command 0, "no command");
* the async-operation word (``getAsyncOperationProgressEx``): operation id 0 when a script
  run starts, +1 per asynchronous moveJ/stopJ;
* every command is an RTDE input update, and ``setWatchdog(min_frequency)`` arms the
  program's watchdog, so the twin stops the program (and the arm) when the driver stops
  sending, as the controller does; without the watchdog the arm keeps the last speed
  command while the link is down.
"""

from __future__ import annotations

import datetime
import threading
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rt_avg.envs.ur5.clock import Clock, MonotonicClock
from rt_avg.envs.ur5.driver import JointState
from rt_avg.envs.ur5.safety import SafetyMode
from rt_avg.envs.ur5.twin import URTwin

RTDE_PORT = 30004
DASHBOARD_PORT = 29999
#: ur_rtde's reconnect/reuploadScript wait after stopping a running script
SCRIPT_STOP_WAIT_S = 0.1


@dataclass(frozen=True)
class Call:
    """One recorded call: controller time, interface, method, arguments."""

    t_s: float
    interface: str
    method: str
    args: tuple[Any, ...]


class TwinController:
    """The controller box: one twin, a clock, a call log, and a network link."""

    def __init__(self, host: str = "twin", twin: URTwin | None = None, clock: Clock | None = None,
                 default_frequency_hz: float = 125.0, max_calls: int = 200_000,
                 program_start_delay_s: float = 0.2) -> None:
        self.host = host
        self.twin = twin or URTwin()
        self.clock = clock or MonotonicClock()
        self.default_frequency_hz = default_frequency_hz
        self.program_start_delay_s = program_start_delay_s
        self.op_id = 0  # the running script's async operation id
        self.async_kind: str | None = None  # its move or stop thread
        self._start_at: float | None = None  # a sent script starts running then
        self.calls: deque[Call] = deque(maxlen=max_calls)
        self.reachable = True
        self.hang_on_connect = False
        self.link_up = True
        self.receive_stalled = False
        self.connect_release = threading.Event()  # set it to let hung connects fail
        self.lock = threading.RLock()
        self._t0 = self.clock.monotonic() - self.twin.t_s
        self._sessions: weakref.WeakSet[_Session] = weakref.WeakSet()
        controller = self

        class RTDEControlInterface(_Control):
            _controller = controller

        class RTDEReceiveInterface(_Receive):
            _controller = controller

        class DashboardClient(_Dashboard):
            _controller = controller

        self.RTDEControlInterface = RTDEControlInterface
        self.RTDEReceiveInterface = RTDEReceiveInterface
        self.DashboardClient = DashboardClient

    # -------------------------------------------------------------- helpers
    def sync(self) -> None:
        """Bring the twin up to the clock's time (and start a sent script when its time
        has come)."""
        now = self.clock.monotonic()
        if self._start_at is not None and now >= self._start_at:
            self.twin.advance_to(self._start_at - self._t0)
            self._start_at = None
            if self.twin.reupload_script():
                self.op_id, self.async_kind = 0, None
                self.twin.command_stop(10.0)  # a fresh script holds the arm at rest
        self.twin.advance_to(now - self._t0)

    def send_script(self) -> None:
        """A script arrives on the script port: it replaces the running program and runs
        ``program_start_delay_s`` later."""
        with self.lock:
            self.sync()
            self.twin.stop_program("script replaced")
            self._start_at = self.clock.monotonic() + self.program_start_delay_s

    def wait_program_running(self, timeout_s: float = 5.0) -> bool:
        """ur_rtde's waitForProgramRunning: poll every 10 ms (on the controller's clock)."""
        deadline = self.clock.monotonic() + timeout_s
        while True:
            with self.lock:
                self.sync()
                if self.twin.program_running:
                    return True
            if self.clock.monotonic() > deadline:
                return False
            self.clock.sleep(0.01)

    def record(self, interface: str, method: str, *args: Any) -> None:
        self.calls.append(Call(self.twin.t_s, interface, method, args))

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in list(self.calls) if c.method == method]

    def drop_link(self) -> None:
        """Pull the cable: every open RTDE session is dead until ``reconnect``."""
        with self.lock:
            self.sync()
            self.link_up = False
            for session in list(self._sessions):
                session._alive = False

    def restore_link(self) -> None:
        with self.lock:
            self.link_up = True

    def stall_receive(self) -> None:
        """Receive data stops updating while the connection reports itself up."""
        with self.lock:
            self.sync()
            self.receive_stalled = True

    def resume_receive(self) -> None:
        with self.lock:
            self.receive_stalled = False

    def snapshot(self) -> JointState:
        """The arm now (the twin brought up to the clock's time), for tests and tools."""
        with self.lock:
            self.sync()
            return self.twin.observe()

    def wait_if_hanging(self) -> None:
        """With ``hang_on_connect``, block like a connect to a host that drops packets."""
        if self.hang_on_connect:
            self.connect_release.wait(timeout=60.0)

    def _open(self, session: _Session, hostname: str, port: int) -> None:
        self.wait_if_hanging()
        if hostname != self.host or not self.reachable or not self.link_up:
            if port == DASHBOARD_PORT:
                raise RuntimeError("Timeout connecting to UR dashboard server.")
            raise RuntimeError(f"Error: Could not connect to: {hostname} at {port}, verify the IP")
        session._alive = True
        self._sessions.add(session)


class _Session:
    """State shared by the three stand-in classes: one connection to the controller."""

    _controller: TwinController
    _interface = "?"
    _port = RTDE_PORT

    def _setup(self, hostname: str) -> None:
        self._hostname = hostname
        self._alive = False
        self._controller._open(self, hostname, self._port)

    def _enter(self, method: str, *args: Any) -> TwinController:
        ctl = self._controller
        ctl.sync()
        ctl.record(self._interface, method, *args)
        return ctl

    def _require_link(self, method: str) -> None:
        if not (self._alive and self._controller.link_up):
            self._alive = False
            raise RuntimeError(f"{self._interface}.{method}: RTDE connection to "
                               f"{self._hostname} is down")

    def isConnected(self) -> bool:  # noqa: N802 - ur_rtde's name
        with self._controller.lock:
            self._enter("isConnected")
            return bool(self._alive and self._controller.link_up)

    def disconnect(self) -> None:
        with self._controller.lock:
            self._enter("disconnect")
            self._alive = False

    def _reconnect(self) -> bool:
        ctl = self._controller
        if not (ctl.reachable and ctl.link_up):
            raise RuntimeError(f"Error: Could not connect to: {self._hostname} at {self._port}, "
                               "verify the IP")
        self._alive = True
        ctl._sessions.add(self)
        return True


class _Periodic(_Session):
    """initPeriod/waitPeriod as ur_rtde has them (a steady-clock timestamp and a sleep)."""

    _period_s = 0.008

    def initPeriod(self) -> datetime.timedelta:  # noqa: N802
        return datetime.timedelta(seconds=self._controller.clock.monotonic())

    def waitPeriod(self, arg0: datetime.timedelta) -> None:  # noqa: N802
        clock = self._controller.clock
        clock.sleep(arg0.total_seconds() + self._period_s - clock.monotonic())


class AsyncOperationStatus:
    """``rtde_control.AsyncOperationStatus``: the script's async-operation word."""

    def __init__(self, value: int) -> None:
        self._value = value

    def value(self) -> int:
        return self._value

    def isAsyncOperationRunning(self) -> bool:  # noqa: N802 - ur_rtde's name
        return bool(self._value & 0x8000)

    def operationId(self) -> int:  # noqa: N802
        return (self._value >> 24) & 0x7F

    def changeCount(self) -> int:  # noqa: N802
        return (self._value >> 16) & 0xFF

    def progress(self) -> int:
        return self._value & 0x7FFF if self.isAsyncOperationRunning() else -1


class _Control(_Periodic):
    _interface = "control"

    def __init__(self, hostname: str, frequency: float = -1.0, flags: int = 1,
                 ur_cap_port: int = 50002, rt_priority: int = 0) -> None:
        ctl = self._controller
        freq = ctl.default_frequency_hz if frequency <= 0 else frequency
        self._period_s = 1.0 / freq
        self._setup(hostname)
        with ctl.lock:
            self._enter("__init__", hostname, frequency, flags)
        self._restart_script()

    def _restart_script(self) -> None:
        """What ur_rtde's constructor and reconnect do: stop a running script (stopScript,
        dashboard stop, 100 ms), send the script, wait until it runs."""
        ctl = self._controller
        with ctl.lock:
            ctl.sync()
            running = ctl.twin.program_running
            if running:
                ctl.twin.stop_program("stopScript")
        if running:
            ctl.clock.sleep(SCRIPT_STOP_WAIT_S)
        ctl.send_script()
        if not ctl.wait_program_running():
            raise RuntimeError("ur_rtde: Failed to start control script, before timeout of 5 seconds")

    def _command(self, method: str, *args: Any) -> TwinController:
        """An RTDE command: recorded, refused on a dead link, an input update otherwise."""
        ctl = self._enter(method, *args)
        self._require_link(method)
        ctl.twin.input_update()
        return ctl

    def _block_until_still(self, timeout_s: float) -> None:
        """A blocking stop: ur_rtde polls for "done" while the script runs stopj(a)."""
        ctl = self._controller
        deadline = ctl.clock.monotonic() + timeout_s
        while True:
            with ctl.lock:
                ctl.sync()
                if not ctl.twin.moving or not ctl.twin.program_running:
                    return
            if ctl.clock.monotonic() > deadline:
                return
            ctl.clock.sleep(self._period_s)

    def _stop_time(self, a: float) -> float:
        return float(np.max(np.abs(self._controller.twin.qd))) / a + 1.0

    def speedJ(self, qd: list[float], acceleration: float = 0.5, time: float = 0.0) -> bool:  # noqa: N802
        with self._controller.lock:
            ctl = self._command("speedJ", tuple(qd), acceleration, time)
            return ctl.twin.command_speed(np.asarray(qd, dtype=float), acceleration)

    def speedStop(self, a: float = 10.0) -> bool:  # noqa: N802
        with self._controller.lock:
            ctl = self._command("speedStop", a)
            if not ctl.twin.program_running:
                return False
            ctl.twin.command_stop(a)
            wait = self._stop_time(a)
        self._block_until_still(wait)
        return True

    def stopJ(self, a: float = 2.0, asynchronous: bool = False) -> None:  # noqa: N802
        with self._controller.lock:
            ctl = self._command("stopJ", a, asynchronous)
            if not ctl.twin.program_running:
                return
            ctl.twin.command_stop(a)
            if asynchronous:  # a stop thread: a new async operation
                ctl.op_id, ctl.async_kind = (ctl.op_id + 1) % 128, "stop"
                return
            wait = self._stop_time(a)
        self._block_until_still(wait)

    def setWatchdog(self, min_frequency: float = 10.0) -> bool:  # noqa: N802
        with self._controller.lock:
            return self._command("setWatchdog", min_frequency).twin.set_watchdog(min_frequency)

    def kickWatchdog(self) -> bool:  # noqa: N802
        with self._controller.lock:
            return self._command("kickWatchdog").twin.program_running

    def getAsyncOperationProgressEx(self) -> AsyncOperationStatus:  # noqa: N802
        with self._controller.lock:
            ctl = self._enter("getAsyncOperationProgressEx")
            self._require_link("getAsyncOperationProgressEx")
            twin = ctl.twin
            running = ((ctl.async_kind == "move" and twin.move_active)
                       or (ctl.async_kind == "stop" and twin.moving))
            return AsyncOperationStatus((ctl.op_id << 24) | (0x8000 if running else 0))

    def getRobotStatus(self) -> int:  # noqa: N802
        with self._controller.lock:
            ctl = self._enter("getRobotStatus")
            self._require_link("getRobotStatus")
            return 1 | (2 if ctl.twin.program_running else 0)  # bit 0 power on, bit 1 running

    def moveJ(self, q: list[float], speed: float = 1.05, acceleration: float = 1.4,  # noqa: N802
              asynchronous: bool = False) -> bool:
        ctl = self._controller
        with ctl.lock:
            self._command("moveJ", tuple(q), speed, acceleration, asynchronous)
            if not ctl.twin.command_move(np.asarray(q, dtype=float), speed, acceleration):
                return False
            if asynchronous:
                ctl.op_id, ctl.async_kind = (ctl.op_id + 1) % 128, "move"
                return True
            dist = float(np.max(np.abs(np.asarray(q) - ctl.twin.q)))
            deadline = (ctl.clock.monotonic() + dist / speed + speed / acceleration
                        + ctl.twin.config.actuation_delay_s + 2.0)
        while True:  # blocking, like ur_rtde: poll the twin as time passes
            ctl.clock.sleep(self._period_s)
            with ctl.lock:
                ctl.sync()
                if ctl.twin.protective_stop:
                    return False
                if not ctl.twin.moving:
                    return bool(np.allclose(ctl.twin.q, q, atol=1e-6))
                if ctl.clock.monotonic() > deadline:
                    return False

    def stopScript(self) -> None:  # noqa: N802
        with self._controller.lock:
            self._command("stopScript").twin.stop_program("stopScript")

    def isProgramRunning(self) -> bool:  # noqa: N802
        with self._controller.lock:
            ctl = self._enter("isProgramRunning")
            self._require_link("isProgramRunning")
            return ctl.twin.program_running

    def reuploadScript(self) -> bool:  # noqa: N802
        ctl = self._controller
        with ctl.lock:
            self._enter("reuploadScript")
            self._require_link("reuploadScript")
            if ctl.twin.protective_stop:
                return False
            running = ctl.twin.program_running
            if running:
                ctl.twin.stop_program("stopScript")
        if running:
            ctl.clock.sleep(SCRIPT_STOP_WAIT_S)
        ctl.send_script()  # returns once sent: the program runs program_start_delay_s later
        return True

    def triggerProtectiveStop(self) -> bool:  # noqa: N802
        with self._controller.lock:
            self._command("triggerProtectiveStop").twin.trigger_protective_stop()
            return True

    def reconnect(self) -> bool:
        with self._controller.lock:
            ctl = self._enter("reconnect")
        ctl.wait_if_hanging()  # outside the lock: other sessions go on meanwhile
        with ctl.lock:
            ok = self._reconnect()
        self._restart_script()  # ur_rtde restarts its script on reconnect
        return ok


class _Receive(_Periodic):
    _interface = "receive"

    def __init__(self, hostname: str, frequency: float = -1.0, variables: Sequence[str] = (),
                 verbose: bool = False, use_upper_range_registers: bool = False,
                 rt_priority: int = 0) -> None:
        ctl = self._controller
        freq = ctl.default_frequency_hz if frequency <= 0 else frequency
        self._period_s = 1.0 / freq
        self._setup(hostname)
        with ctl.lock:
            self._enter("__init__", hostname, frequency)
            self._last = ctl.twin.observe()

    def _state(self) -> JointState:
        # on a dead link ur_rtde's receive thread has stopped: getters return the last packet
        ctl = self._controller
        if self._alive and ctl.link_up and not ctl.receive_stalled:
            self._last = self._controller.twin.observe()
        return self._last

    def _get(self, method: str) -> JointState:
        with self._controller.lock:
            self._enter(method)
            return self._state()

    def getActualQ(self) -> list[float]:  # noqa: N802
        return [float(v) for v in self._get("getActualQ").q]

    def getActualQd(self) -> list[float]:  # noqa: N802
        return [float(v) for v in self._get("getActualQd").qd]

    def getActualTCPPose(self) -> list[float]:  # noqa: N802
        return [float(v) for v in self._get("getActualTCPPose").tcp_pose]

    def getSafetyMode(self) -> int:  # noqa: N802
        return int(self._get("getSafetyMode").safety_mode)

    def isProtectiveStopped(self) -> bool:  # noqa: N802
        return bool(self._get("isProtectiveStopped").protective_stop)

    def isEmergencyStopped(self) -> bool:  # noqa: N802
        self._get("isEmergencyStopped")
        return False

    def getRobotMode(self) -> int:  # noqa: N802
        self._get("getRobotMode")
        return 7  # ROBOT_MODE_RUNNING

    def getTimestamp(self) -> float:  # noqa: N802
        return float(self._get("getTimestamp").timestamp_s)

    def getRobotStatus(self) -> int:  # noqa: N802
        self._get("getRobotStatus")
        return 1 | (2 if self._controller.twin.program_running else 0)

    def getRuntimeState(self) -> int:  # noqa: N802
        """RTDE runtime_state: 2 playing, 1 stopped (the last package's on a dead link)."""
        with self._controller.lock:
            self._enter("getRuntimeState")
            ctl = self._controller
            if self._alive and ctl.link_up and not ctl.receive_stalled:
                self._running = ctl.twin.program_running
            return 2 if getattr(self, "_running", ctl.twin.program_running) else 1

    def reconnect(self) -> bool:
        with self._controller.lock:
            ctl = self._enter("reconnect")
        ctl.wait_if_hanging()
        with ctl.lock:
            return self._reconnect()


class _Dashboard(_Session):
    _interface = "dashboard"
    _port = DASHBOARD_PORT

    def __init__(self, hostname: str, port: int = 29999, verbose: bool = False) -> None:
        # like ur_rtde, constructing does not connect; connect() does
        self._hostname = hostname
        self._alive = False
        with self._controller.lock:
            self._enter("__init__", hostname, port)

    def connect(self, timeout_ms: int = 2000) -> None:
        with self._controller.lock:
            self._enter("connect", timeout_ms)
        self._controller._open(self, self._hostname, self._port)

    def unlockProtectiveStop(self) -> None:  # noqa: N802
        with self._controller.lock:
            ctl = self._enter("unlockProtectiveStop")
            self._require_link("unlockProtectiveStop")
            ctl.twin.unlock_protective_stop()  # RuntimeError before 5 s, like the robot

    def closeSafetyPopup(self) -> None:  # noqa: N802
        with self._controller.lock:
            self._enter("closeSafetyPopup")
            self._require_link("closeSafetyPopup")

    def safetymode(self) -> str:
        with self._controller.lock:
            ctl = self._enter("safetymode")
            self._require_link("safetymode")
            return f"Safetymode: {SafetyMode(ctl.twin.safety_mode).name}"

    def stop(self) -> None:
        """Stop the running program, as the pendant's Stop button does."""
        with self._controller.lock:
            ctl = self._enter("stop")
            self._require_link("stop")
            ctl.twin.stop_program("dashboard stop")

    def running(self) -> bool:
        with self._controller.lock:
            ctl = self._enter("running")
            self._require_link("running")
            return ctl.twin.program_running

    def isInRemoteControl(self) -> bool:  # noqa: N802
        with self._controller.lock:
            self._enter("isInRemoteControl")
            self._require_link("isInRemoteControl")
            return True

"""Hardware driver: a UR5 over RTDE with ur_rtde.

A background thread owns the controller I/O.  Every control period (8 ms on CB3, 2 ms
configurable for e-Series) it::

    t0 = control.initPeriod()
    link:   both RTDE links up and the receive timestamp moving?  else: lost link
            (speedStop if the control link still answers, reconnect() every
            reconnect_interval_s, fault after reconnect_timeout_s)
    kickWatchdog()                 the controller stops the program (and the arm) when
                                   no command arrives for controller_watchdog_s
    safety: protective stop?  wait >= 5 s, DashboardClient.unlockProtectiveStop, then
            reuploadScript (the stop ended the program); too many in the window -> fault;
            any mode but normal/reduced/recovery (safeguard stop, e-stop, fault) -> fault;
            program not running without a protective stop (Stop on the pendant, the
            controller watchdog) -> fault: never restarted behind an operator's back
    command: latest command older than watchdog_s?  speedStop(stop_accel) once
             else speedJ(latest command, accel, period)   (re-sent every period)
    control.waitPeriod(t0)

The task thread only swaps the latest command and reads the snapshot, so it never waits on
the network; faults found by the loop are raised from its next call.  Whatever ends the
loop (a fault, an unexpected exception, ``close``), it sends ``speedStop`` on its way out;
if the process dies instead, the controller watchdog stops the arm.  ``move_home`` uses an
asynchronous moveJ so the loop keeps kicking the watchdog while the arm moves.

ur_rtde is imported lazily in :meth:`RTDEDriver.connect`, so the rest of the package works
without it, and the three ur_rtde classes can be replaced (dependency injection) by the
twin-backed stand-ins of :mod:`rt_avg.envs.ur5.standin`: the twin backend
(:class:`rt_avg.envs.ur5.twin_driver.TwinDriver`) is this class on a simulated clock, so
every twin run executes the code that runs on the arm.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from rt_avg.envs.ur5.clock import Clock, MonotonicClock
from rt_avg.envs.ur5.driver import (
    DriverStats,
    JointState,
    URConnectionError,
    URError,
    URMotionError,
    URProgramStoppedError,
    URSafetyError,
    as_joint_vector,
)
from rt_avg.envs.ur5.safety import (
    RUNNING_SAFETY_MODES,
    SAFEGUARD_STOP_MODES,
    ProtectiveStopPolicy,
    ProtectiveStopSupervisor,
    safety_mode_name,
)
from rt_avg.core import ResetInterrupted

log = logging.getLogger(__name__)

Factory = Callable[..., Any]

_REST_SPEED = 0.01  # rad/s: the arm counts as settled below this on every joint
_HOME_TOLERANCE = 1e-3  # rad: a finished moveJ ends this close to its target
_SETTLE_PERIODS = 5  # readings at rest in a row before the arm counts as settled
#: ur_rtde's RTDEControlInterface waits this long for its control script to run (and
#: re-sends it meanwhile) before it gives up; a connect limit must leave it that time
UR_RTDE_SCRIPT_WAIT_S = 5.0


def _import_factories() -> tuple[Factory, Factory, Factory]:
    try:
        import dashboard_client
        import rtde_control
        import rtde_receive
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise URConnectionError(
            "the hardware backend needs ur_rtde: pip install 'rt-avg[ur5]' (ur-rtde>=1.5)") from exc
    return (rtde_control.RTDEControlInterface, rtde_receive.RTDEReceiveInterface,
            dashboard_client.DashboardClient)


def _abandon(connection: Any) -> None:
    """Undo a connection that completed after we gave up on it: a control interface has
    uploaded and started its script, which must not stay running on the robot."""
    with contextlib.suppress(Exception):  # best effort on an abandoned connection
        if hasattr(connection, "stopScript"):
            connection.stopScript()
    with contextlib.suppress(Exception):
        if hasattr(connection, "disconnect"):
            connection.disconnect()


def _bounded(call: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Run a possibly blocking connect in a helper thread; give up after ``timeout_s``.

    A connection that completes after we gave up is undone (:func:`_abandon`)."""
    result: dict[str, Any] = {}
    lock = threading.Lock()
    gave_up = False

    def run() -> None:
        try:
            value = call()
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            result["error"] = exc
            return
        with lock:
            result["value"] = value
            late = gave_up
        if late:
            _abandon(value)

    thread = threading.Thread(target=run, name=f"ur5-connect-{what}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    with lock:
        if "value" not in result and "error" not in result:
            gave_up = True
    if gave_up:
        raise URConnectionError(f"{what}: no answer within {timeout_s:g} s")
    if "error" in result:
        raise URConnectionError(f"{what}: {result['error']}") from result["error"]
    return result["value"]


class RTDEDriver:
    """A :class:`~rt_avg.envs.ur5.driver.URDriver` for a real UR5 (CB3 or e-Series) over RTDE.

    Args:
        host: the controller's IP address.
        control_period_s: period of the control loop: 0.008 (CB3, 125 Hz) or 0.002
            (e-Series, 500 Hz); passed to ur_rtde as the interface frequency.
        watchdog_s: a command older than this is replaced by ``speedStop`` (SenseAct: 0.5).
        controller_watchdog_s: the controller stops the program and the arm when it hears
            nothing from this driver for this long (``setWatchdog(1 / controller_watchdog_s)``,
            kicked every period); it covers what the driver cannot: its own process dying,
            hanging, or losing the link.
        receive_timeout_s: receive data whose timestamp has not moved for this long counts
            as a lost link (a connection can stop delivering without reporting an error).
        stop_accel: deceleration (rad/s^2) of ``speedStop`` from ``stop``/the watchdog.
        connect_timeout_s: bound on each connection attempt made by ``connect``; the control
            interface gets ``UR_RTDE_SCRIPT_WAIT_S`` more, the time ur_rtde itself waits for
            its control script.  A connection that completes after we gave up is undone
            (its script stopped).
        reconnect_interval_s, reconnect_timeout_s: after a lost link, try ``reconnect``
            this often, and fault (URConnectionError) when it has not come back in time.
        pstop_policy: when to unlock protective stops and when to give up.
        control_factory, receive_factory, dashboard_factory: callables with the
            constructors of ``rtde_control.RTDEControlInterface(host, frequency)``,
            ``rtde_receive.RTDEReceiveInterface(host)`` and
            ``dashboard_client.DashboardClient(host)``; None imports ur_rtde's.
        clock: time source for the watchdogs, protective-stop timing and settling.
        run_loop: start the background control thread in ``connect``.  On a simulated
            clock pass False and call :meth:`period` once per control period.
    """

    def __init__(self, host: str, *, control_period_s: float = 0.008, watchdog_s: float = 0.5,
                 controller_watchdog_s: float = 0.1, receive_timeout_s: float = 0.1,
                 stop_accel: float = 2.0, connect_timeout_s: float = 5.0,
                 reconnect_interval_s: float = 0.5, reconnect_timeout_s: float = 10.0,
                 pstop_policy: ProtectiveStopPolicy | None = None,
                 control_factory: Factory | None = None, receive_factory: Factory | None = None,
                 dashboard_factory: Factory | None = None, clock: Clock | None = None,
                 run_loop: bool = True) -> None:
        if not isinstance(host, str) or not host.strip():
            raise ValueError(f"host must be the robot's IP address as a non-empty string, got {host!r}")
        if not 0.002 <= control_period_s <= 0.1:
            raise ValueError("control_period_s must be in [0.002, 0.1] s (0.008 for CB3, "
                             f"0.002 for e-Series), got {control_period_s}")
        if not control_period_s < watchdog_s <= 10.0:
            raise ValueError(f"watchdog_s must be in (control_period_s, 10] s, got {watchdog_s}")
        if not 3 * control_period_s <= controller_watchdog_s <= 10.0:
            raise ValueError("controller_watchdog_s must be in [3 * control_period_s, 10] s "
                             f"(it is kicked once per period), got {controller_watchdog_s}")
        if not 2 * control_period_s <= receive_timeout_s <= 10.0:
            raise ValueError("receive_timeout_s must be in [2 * control_period_s, 10] s, got "
                             f"{receive_timeout_s}")
        if not 0.0 < stop_accel <= 40.0:
            raise ValueError(f"stop_accel must be in (0, 40] rad/s^2, got {stop_accel}")
        if not 0.0 < connect_timeout_s <= 120.0:
            raise ValueError(f"connect_timeout_s must be in (0, 120] s, got {connect_timeout_s}")
        if not 0.0 < reconnect_interval_s <= reconnect_timeout_s <= 600.0:
            raise ValueError("need 0 < reconnect_interval_s <= reconnect_timeout_s <= 600 s, got "
                             f"{reconnect_interval_s} and {reconnect_timeout_s}")
        self.host = host
        self.control_period_s = control_period_s
        self.watchdog_s = watchdog_s
        self.controller_watchdog_s = controller_watchdog_s
        self.receive_timeout_s = receive_timeout_s
        self.stop_accel = stop_accel
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_interval_s = reconnect_interval_s
        self.reconnect_timeout_s = reconnect_timeout_s
        self.stats = DriverStats()
        self._supervisor = ProtectiveStopSupervisor(pstop_policy or ProtectiveStopPolicy())
        self._factories = (control_factory, receive_factory, dashboard_factory)
        self._clock = clock or MonotonicClock()
        self._run_loop = run_loop

        self._control: Any = None
        self._receive: Any = None
        self._dashboard: Any = None
        self._io_lock = threading.RLock()      # serialises every call into ur_rtde
        self._state_lock = threading.Lock()    # guards command and snapshot
        self._cmd: np.ndarray | None = None
        self._cmd_accel = 1.0
        self._cmd_at = 0.0
        self._stop_sent = True
        self._snapshot: JointState | None = None
        self._last_timestamp = math.nan
        self._fresh_at = 0.0                   # our time when the receive timestamp last moved
        self._link_lost_at: float | None = None
        self._next_reconnect = 0.0
        self._reupload_pending = False         # a protective stop ended the program
        self._moving_home = False
        self._fault: URError | None = None
        self._stop_loop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------ interface
    def connect(self) -> None:
        """Connect receive, control and dashboard, arm the controller watchdog; raise
        URConnectionError after a bounded wait."""
        if self._closed:
            raise URConnectionError("RTDEDriver: closed; make a new driver")
        if self._control is not None:
            return
        control_f, receive_f, dashboard_f = self._factories
        if control_f is None or receive_f is None or dashboard_f is None:
            real = _import_factories()
            control_f, receive_f, dashboard_f = (f or r for f, r in zip(self._factories, real, strict=True))
        hint = (f"Check that the robot at {self.host} is powered on, in Remote Control, reachable "
                "(ping it; static IP on the same subnet) and that nothing else holds RTDE")
        t = self.connect_timeout_s
        try:
            self._receive = _bounded(lambda: receive_f(self.host), t,
                                     f"RTDE receive at {self.host}:30004")
            self._control = _bounded(lambda: control_f(self.host, 1.0 / self.control_period_s),
                                     t + UR_RTDE_SCRIPT_WAIT_S, f"RTDE control at {self.host}:30004")
            self._arm_watchdog(on_fail=URConnectionError)
            dashboard = dashboard_f(self.host)
            _bounded(lambda: dashboard.connect(int(t * 1000)), t,
                     f"dashboard server at {self.host}:29999")
            self._dashboard = dashboard
        except URConnectionError as exc:
            if self._control is not None:
                _abandon(self._control)
            self._release()
            raise URConnectionError(f"cannot connect to the UR controller: {exc}. {hint}") from exc
        with self._io_lock:
            now = self._clock.monotonic()
            self._refresh(now)
            self._fresh_at = now
        if self._run_loop:
            self._stop_loop.clear()
            self._thread = threading.Thread(target=self._loop, name="ur5-control", daemon=True)
            self._thread.start()

    def read_state(self) -> JointState:
        self._check()
        with self._state_lock:
            assert self._snapshot is not None
            return self._snapshot

    def command_speed(self, qd: ArrayLike, accel: float) -> None:
        qd = as_joint_vector(qd, "qd")
        if not 0.0 < accel <= 40.0:
            raise ValueError(f"accel must be in (0, 40] rad/s^2, got {accel}")
        self._check()
        with self._state_lock:
            self._cmd, self._cmd_accel = qd, float(accel)
            self._cmd_at = self._clock.monotonic()
            self._stop_sent = False

    def stop(self) -> None:
        with self._state_lock:
            self._cmd = None
            self._stop_sent = True
        if self._control is None:
            return
        control = self._control
        if self._moving_home:  # an asynchronous moveJ is stopped with stopJ
            self._call_if_free(lambda: control.stopJ(self.stop_accel), "stopJ")
        self._call_if_free(lambda: control.speedStop(self.stop_accel), "speedStop")

    def move_home(self, q: ArrayLike, speed: float, accel: float,
                  abort: threading.Event | None = None) -> None:
        """Stop, moveJ to ``q`` (asynchronous: the loop keeps kicking the controller
        watchdog), wait until the arm is there and at rest.  ``abort`` set from another
        thread, or any exception meanwhile (Ctrl-C), stops the arm and ends the move."""
        q = as_joint_vector(q, "q")
        self._check()
        policy = self._supervisor.policy
        self._wait_for(lambda s: not s.protective_stop,
                       policy.unlock_after_s + 5 * policy.retry_s + 2.0, "a protective stop to clear",
                       abort)
        self.stop()
        self._wait_for(_at_rest, 5.0, "the arm to stop", abort)  # moveJ needs a standstill
        start = self.read_state().q
        with self._io_lock:
            _raise_if_aborted(abort)
            with self._state_lock:
                self._cmd, self._stop_sent = None, True
            self._moving_home = True
            try:
                ok = self._control.moveJ(q.tolist(), speed, accel, True)
            except RuntimeError as exc:
                self._moving_home = False
                raise URMotionError(f"moveJ to home failed: {exc}") from exc
        try:
            if not ok:
                raise URMotionError(
                    f"moveJ to home was refused (safety mode {self.read_state().safety_mode}, "
                    "control program not running?); see docs/ur5.md on protective stops")
            budget = _move_duration(start, q, speed, accel) + 2.0

            def arrived(s: JointState) -> bool:
                if s.protective_stop:
                    raise URMotionError("moveJ to home was interrupted by a protective stop")
                return _at_rest(s) and bool(np.allclose(s.q, q, atol=_HOME_TOLERANCE))

            self._wait_for(arrived, budget, "moveJ to home to finish", abort)
        except BaseException:
            self.stop()  # stopJ + speedStop: a move must not go on without its supervisor
            raise
        finally:
            self._moving_home = False
        self._wait_for(_settled(), 2.0, "the arm to settle", abort)

    def close(self) -> None:
        """Stop the arm, end the loop, stop the control script and disconnect.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop_loop.set()
        if self._thread is not None:
            self._thread.join(timeout=0.5)  # a period takes one period unless ur_rtde blocks
        if self._control is not None:
            control = self._control
            self._call_if_free(lambda: (control.speedStop(self.stop_accel), control.stopScript()),
                               "speedStop and stopScript")
        self._release()

    # ---------------------------------------------------------- control loop
    def period(self) -> None:
        """One control period (the background loop runs this every period; a driver on a
        simulated clock is stepped with it).  A fault stops the arm and is kept: it is
        raised from this and every later call."""
        if self._fault is not None:
            raise self._fault
        try:
            self._tick()
        except URError as exc:
            self._fault = exc
            log.error("UR5 control loop stopped: %s", exc)
        except Exception as exc:  # noqa: BLE001 - a loop that dies silently is worse
            self._fault = URError(f"UR5 control loop crashed: {exc!r}")
            log.exception("UR5 control loop crashed")
        except BaseException:
            self._stop_arm_quietly()  # Ctrl-C in a stepped twin: stop, then let it through
            raise
        if self._fault is not None:
            self._stop_arm_quietly()
            raise self._fault

    tick = period  # the name the tests and tools have used

    def _tick(self) -> None:
        with self._io_lock:
            now = self._clock.monotonic()
            self.stats.periods += 1
            # kicked whenever the control link carries it, even while the receive side is
            # being recovered: the watchdog is for a driver that is gone, not one that waits
            self._safe_call(self._control.kickWatchdog)
            if not self._link_ok(now):
                return
            with self._state_lock:
                state = self._snapshot
            assert state is not None
            if not self._handle_safety(state, now):
                return
            with self._state_lock:
                cmd, accel, age = self._cmd, self._cmd_accel, now - self._cmd_at
                send_stop = cmd is not None and age > self.watchdog_s and not self._stop_sent
                if send_stop:
                    self._stop_sent, self._cmd = True, None
            if send_stop:
                self.stats.watchdog_stops += 1
                log.warning("UR5: latest speed command is %.3f s old; stopping the arm", age)
                self._safe_call(lambda: self._control.speedStop(self.stop_accel))
            elif cmd is not None:
                # False means the program is not running: the next period's check says why
                self._safe_call(
                    lambda: self._control.speedJ(cmd.tolist(), accel, self.control_period_s))

    def _loop(self) -> None:
        control, clock = self._control, self._clock
        # ur_rtde's initPeriod/waitPeriod pace on the controller's period with a steady clock;
        # anything without them (a minimal fake) is paced on our clock instead
        has_period = hasattr(control, "initPeriod") and hasattr(control, "waitPeriod")
        try:
            while not self._stop_loop.is_set():
                start = clock.monotonic()
                t0 = control.initPeriod() if has_period else None
                self.period()
                elapsed = clock.monotonic() - start
                if elapsed > self.control_period_s:
                    self.stats.overruns += 1
                if has_period:
                    control.waitPeriod(t0)
                else:
                    clock.sleep(self.control_period_s - elapsed)
        except URError:
            return  # kept in self._fault; period() has stopped the arm
        finally:
            self._stop_arm_quietly()  # every way out of the loop leaves the arm stopped

    # -------------------------------------------------------------- helpers
    def _check(self) -> None:
        if self._fault is not None:
            raise self._fault
        if self._control is None:
            raise URConnectionError("RTDEDriver: not connected; call connect() first")

    def _refresh(self, now: float) -> JointState:
        r = self._receive
        state = JointState(
            q=np.asarray(r.getActualQ(), dtype=np.float64),
            qd=np.asarray(r.getActualQd(), dtype=np.float64),
            tcp_pose=np.asarray(r.getActualTCPPose(), dtype=np.float64),
            safety_mode=int(r.getSafetyMode()),
            protective_stop=bool(r.isProtectiveStopped()),
            connected=self._link_lost_at is None,
            timestamp_s=float(r.getTimestamp()),
        )
        if state.timestamp_s != self._last_timestamp:
            self._last_timestamp, self._fresh_at = state.timestamp_s, now
        with self._state_lock:
            self._snapshot = state
        return state

    def _arm_watchdog(self, on_fail: type[URError] = URError) -> None:
        """Ask the running control program to stop itself when no command arrives for
        ``controller_watchdog_s`` (a new program starts without one)."""
        if not self._safe_call(lambda: self._control.setWatchdog(1.0 / self.controller_watchdog_s)):
            raise on_fail(f"the controller at {self.host} did not arm its watchdog "
                          "(setWatchdog); is the control program running?")

    def _link_ok(self, now: float) -> bool:
        """Whether both RTDE links are up and delivering; otherwise stop the arm as far as
        the link allows and try to bring them back."""
        try:
            up = bool(self._control.isConnected() and self._receive.isConnected())
        except RuntimeError:
            up = False
        cause = "RTDE connection lost"
        if up:
            self._refresh(now)
            stale_s = now - self._fresh_at
            if stale_s <= self.receive_timeout_s:
                if self._link_lost_at is not None:
                    self._link_back(now)
                return True
            cause = f"receive data has not changed for {stale_s:.2f} s"
        if self._link_lost_at is None:
            self._link_lost_at = now
            self._next_reconnect = now
            self.stats.link_drops += 1
            log.warning("UR5: link to %s lost (%s); stopping the arm and reconnecting",
                        self.host, cause)
            with self._state_lock:
                self._cmd, self._stop_sent = None, True  # never resume an old command
                if self._snapshot is not None:
                    self._snapshot = _disconnected(self._snapshot)
            # a control link that still answers stops the arm now; a dead one cannot, and
            # the controller watchdog stops the program once the kicks stay away
            self._safe_call(lambda: self._control.speedStop(self.stop_accel))
        if now >= self._next_reconnect:
            self._next_reconnect = now + self.reconnect_interval_s
            self._reconnect_links(stale=up)
        if now - self._link_lost_at > self.reconnect_timeout_s:
            raise URConnectionError(
                f"RTDE link to {self.host} lost for more than {self.reconnect_timeout_s:g} s "
                f"({cause}) and reconnect failed; check the cable, the robot's power and Remote "
                "Control mode")
        return False

    def _reconnect_links(self, stale: bool) -> None:
        for iface in (self._receive, self._control):
            try:
                if iface is self._receive and stale:
                    iface.disconnect()  # connected but silent: start the receive link afresh
                if not iface.isConnected():
                    iface.reconnect()
            except RuntimeError as exc:
                log.info("UR5: reconnect failed: %s", exc)

    def _link_back(self, now: float) -> None:
        """Fresh data again after a lost link.  ur_rtde's reconnect restarts the control
        script, which has no watchdog yet."""
        self._link_lost_at = None
        self.stats.reconnects += 1
        log.warning("UR5: RTDE link to %s is back", self.host)
        if self._safe_call(self._control.isProgramRunning):
            self._arm_watchdog()
        with self._state_lock:
            if self._snapshot is not None:
                s = self._snapshot
                self._snapshot = JointState(s.q, s.qd, s.tcp_pose, s.safety_mode,
                                            s.protective_stop, True, s.timestamp_s)

    def _handle_safety(self, state: JointState, now: float) -> bool:
        """Safety modes, protective stops and the control program; returns whether motion
        commands may be sent."""
        mode = state.safety_mode
        if not state.protective_stop and mode not in RUNNING_SAFETY_MODES:
            name = safety_mode_name(mode)
            if mode in SAFEGUARD_STOP_MODES:
                raise URSafetyError(
                    f"UR5 is in {name}: a safeguard (light curtain, door switch, enabling "
                    "device) stopped the arm; make the cell safe, reset the safeguard and start "
                    "the run again")
            raise URSafetyError(f"UR5 is in safety mode {name}; a person must clear it at the "
                                "teach pendant")
        was_stopped = self._supervisor.stopped_since is not None
        action = self._supervisor.update(state.protective_stop, now)
        if state.protective_stop and not was_stopped:
            self.stats.protective_stops += 1
            self._reupload_pending = True  # the stop ends the control program
            log.warning("UR5: protective stop")
            with self._state_lock:
                self._cmd, self._stop_sent = None, True
        if action == "unlock":
            self._unlock(now)
            return False
        if action == "wait":
            return False
        return self._program_running()

    def _program_running(self) -> bool:
        """Whether the control program runs; after a protective stop it is started again,
        otherwise a stopped program is a fault (an operator pressed Stop, or the controller
        watchdog stopped it)."""
        running = self._safe_call(self._control.isProgramRunning)
        if running is None:
            return False  # the call failed: the next period sees the lost link
        if running:
            return True
        if not self._reupload_pending:
            raise URProgramStoppedError(
                f"the control program on {self.host} stopped without a protective stop: Stop "
                "on the teach pendant, the controller watchdog (no command for more than "
                f"{self.controller_watchdog_s:g} s) or another RTDE client; the driver does not "
                "restart it by itself. Check the cell, then start the run again")
        if self._safe_call(self._control.reuploadScript):
            self._reupload_pending = False
            self.stats.script_reuploads += 1
            log.warning("UR5: control script re-uploaded after the protective stop")
            self._arm_watchdog()
            return bool(self._safe_call(self._control.isProgramRunning))
        return False

    def _unlock(self, now: float) -> None:
        try:
            if not self._dashboard.isConnected():
                self._dashboard.connect(int(self.connect_timeout_s * 1000))
            self._dashboard.unlockProtectiveStop()
        except RuntimeError as exc:
            log.warning("UR5: unlocking the protective stop failed (%s); retrying", exc)
            self._supervisor.unlock_failed(now)
            return
        self.stats.unlocks += 1
        log.warning("UR5: protective stop unlocked")

    def _stop_arm_quietly(self) -> None:
        """speedStop on a way out; never raises (the reason for leaving matters more)."""
        control = self._control
        if control is None:
            return
        try:
            self._call_if_free(lambda: control.speedStop(self.stop_accel), "speedStop")
        except Exception as exc:  # noqa: BLE001
            log.error("UR5: could not send speedStop: %r", exc)

    def _call_if_free(self, call: Callable[[], Any], what: str, timeout_s: float = 0.5) -> None:
        """Call ur_rtde unless the loop has held the link for ``timeout_s`` (a reconnect
        blocking in ur_rtde), so that stop() and close() never hang."""
        if not self._io_lock.acquire(timeout=timeout_s):
            log.warning("UR5: controller link busy for %.1f s; %s not sent", timeout_s, what)
            return
        try:
            self._safe_call(call)
        finally:
            self._io_lock.release()

    @staticmethod
    def _safe_call(call: Callable[[], Any]) -> Any:
        """Call ur_rtde; a RuntimeError means a dead link, which the next period handles."""
        try:
            return call()
        except RuntimeError as exc:
            log.info("UR5: call failed: %s", exc)
            return None

    def _wait_for(self, done: Callable[[JointState], bool], timeout_s: float, what: str,
                  abort: threading.Event | None = None) -> None:
        deadline = self._clock.monotonic() + timeout_s
        while True:
            _raise_if_aborted(abort)
            if not self._run_loop:
                self.period()
            state = self.read_state()
            if done(state):
                return
            if self._clock.monotonic() > deadline:
                raise URMotionError(f"timed out after {timeout_s:.1f} s waiting for {what}")
            self._clock.sleep(self.control_period_s)

    def _release(self) -> None:
        for iface in (self._control, self._receive, self._dashboard):
            if iface is not None:
                with contextlib.suppress(RuntimeError):
                    iface.disconnect()
        self._control = self._receive = self._dashboard = None


def _raise_if_aborted(abort: threading.Event | None) -> None:
    if abort is not None and abort.is_set():
        raise ResetInterrupted("UR5 reset interrupted by stop(); the arm was stopped")


def _at_rest(state: JointState) -> bool:
    return bool(np.all(np.abs(state.qd) < _REST_SPEED))


def _settled(periods: int = _SETTLE_PERIODS) -> Callable[[JointState], bool]:
    """A condition that holds once the arm has been at rest for ``periods`` readings in a row
    (the tail of a move's deceleration ramp is below the rest threshold)."""
    count = 0

    def check(state: JointState) -> bool:
        nonlocal count
        count = count + 1 if _at_rest(state) else 0
        return count >= periods

    return check


def _move_duration(q0: np.ndarray, q1: np.ndarray, speed: float, accel: float) -> float:
    """Duration of a synchronised trapezoidal joint move (leading axis ``speed``/``accel``)."""
    dist = float(np.max(np.abs(q1 - q0)))
    return dist / speed + speed / accel


def _disconnected(state: JointState) -> JointState:
    return JointState(state.q, state.qd, state.tcp_pose, state.safety_mode,
                      state.protective_stop, False, state.timestamp_s)

"""Hardware driver: a UR5 over RTDE with ur_rtde.

A background thread owns the controller I/O.  Every control period (8 ms on CB3, 2 ms
configurable for e-Series) it::

    t0 = control.initPeriod()
    read q, qd, TCP pose, safety mode, protective stop     -> the snapshot read_state returns
    protective stop?  wait >= 5 s, DashboardClient.unlockProtectiveStop, reuploadScript;
                      too many in the window -> fault (ProtectiveStopLimitError)
    link down?        reconnect() every reconnect_interval_s; fault after reconnect_timeout_s
    latest command older than watchdog_s?  speedStop(stop_accel) once
    else              speedJ(latest command, accel, period)  (re-sent every period)
    control.waitPeriod(t0)

The task thread only swaps the latest command and reads the snapshot, so it never waits on
the network; faults found by the loop are raised from its next call.  ur_rtde is imported
lazily in :meth:`RTDEDriver.connect`, so the rest of the package works without it, and the
three ur_rtde classes can be replaced (dependency injection) by the twin-backed stand-ins
of :mod:`rt_avg.envs.ur5.standin` to run this code unchanged in tests.
"""

from __future__ import annotations

import contextlib
import logging
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
    URSafetyError,
    as_joint_vector,
)
from rt_avg.envs.ur5.safety import FATAL_SAFETY_MODES, ProtectiveStopPolicy, ProtectiveStopSupervisor, SafetyMode

log = logging.getLogger(__name__)

Factory = Callable[..., Any]

_REST_SPEED = 0.01  # rad/s: the arm counts as settled below this on every joint


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


def _bounded(call: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Run a possibly blocking connect in a helper thread; give up after ``timeout_s``.

    A connection that completes after we gave up is closed again, so nothing leaks a
    second control script onto the robot."""
    result: dict[str, Any] = {}
    gave_up = threading.Event()

    def run() -> None:
        try:
            value = call()
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            result["error"] = exc
            return
        result["value"] = value
        if gave_up.is_set() and hasattr(value, "disconnect"):
            with contextlib.suppress(Exception):  # best effort on an abandoned connection
                value.disconnect()

    thread = threading.Thread(target=run, name=f"ur5-connect-{what}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        gave_up.set()
        raise URConnectionError(f"{what}: no answer within {timeout_s:g} s")
    if "error" in result:
        raise URConnectionError(f"{what}: {result['error']}") from result["error"]
    return result.get("value")


class RTDEDriver:
    """A :class:`~rt_avg.envs.ur5.driver.URDriver` for a real UR5 (CB3 or e-Series) over RTDE.

    Args:
        host: the controller's IP address.
        control_period_s: period of the control loop: 0.008 (CB3, 125 Hz) or 0.002
            (e-Series, 500 Hz); passed to ur_rtde as the interface frequency.
        watchdog_s: a command older than this is replaced by ``speedStop`` (SenseAct: 0.5).
        stop_accel: deceleration (rad/s^2) of ``speedStop`` from ``stop``/the watchdog.
        connect_timeout_s: bound on each connection attempt made by ``connect``.
        reconnect_interval_s, reconnect_timeout_s: after a dropped link, try ``reconnect``
            this often, and fault (URConnectionError) when it has not come back in time.
        pstop_policy: when to unlock protective stops and when to give up.
        control_factory, receive_factory, dashboard_factory: callables with the
            constructors of ``rtde_control.RTDEControlInterface(host, frequency)``,
            ``rtde_receive.RTDEReceiveInterface(host)`` and
            ``dashboard_client.DashboardClient(host)``; None imports ur_rtde's.
        clock: time source for the watchdog, protective-stop timing and settling.
        run_loop: start the background control thread in ``connect``.  Tests on a
            simulated clock pass False and call :meth:`tick` themselves.
    """

    def __init__(self, host: str, *, control_period_s: float = 0.008, watchdog_s: float = 0.5,
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
        self._link_lost_at: float | None = None
        self._next_reconnect = 0.0
        self._fault: URError | None = None
        self._stop_loop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------ interface
    def connect(self) -> None:
        """Connect receive, control and dashboard; raise URConnectionError after a bounded wait."""
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
            self._control = _bounded(lambda: control_f(self.host, 1.0 / self.control_period_s), t,
                                     f"RTDE control at {self.host}:30004")
            dashboard = dashboard_f(self.host)
            _bounded(lambda: dashboard.connect(int(t * 1000)), t,
                     f"dashboard server at {self.host}:29999")
            self._dashboard = dashboard
        except URConnectionError as exc:
            self._release()
            raise URConnectionError(f"cannot connect to the UR controller: {exc}. {hint}") from exc
        with self._io_lock:
            self._refresh(self._clock.monotonic())
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
        self._call_if_free(lambda: self._control.speedStop(self.stop_accel), "speedStop")

    def move_home(self, q: ArrayLike, speed: float, accel: float) -> None:
        """Stop, moveJ to ``q`` (blocking), wait until the arm is at rest."""
        q = as_joint_vector(q, "q")
        self._check()
        policy = self._supervisor.policy
        self._wait_for(lambda s: not s.protective_stop,
                       policy.unlock_after_s + 5 * policy.retry_s + 2.0, "a protective stop to clear")
        self.stop()
        self._wait_for(_at_rest, 5.0, "the arm to stop")  # moveJ needs a standstill
        with self._io_lock:  # the control loop waits while moveJ blocks
            try:
                ok = self._control.moveJ(q.tolist(), speed, accel)
            except RuntimeError as exc:
                raise URMotionError(f"moveJ to home failed: {exc}") from exc
            finally:
                with self._state_lock:
                    self._cmd, self._stop_sent = None, True
            self._refresh(self._clock.monotonic())
        if not ok:
            raise URMotionError(
                f"moveJ to home was refused or interrupted (safety mode "
                f"{self.read_state().safety_mode}); see docs/ur5.md on protective stops")
        self._wait_for(_at_rest, 2.0, "the arm to settle")

    def close(self) -> None:
        """Stop the arm, end the loop, stop the control script and disconnect.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop_loop.set()
        if self._thread is not None:
            self._thread.join(timeout=0.5)  # a tick takes one period unless ur_rtde blocks
        if self._control is not None:
            control = self._control
            self._call_if_free(lambda: (control.speedStop(self.stop_accel), control.stopScript()),
                               "speedStop and stopScript")
        self._release()

    # ---------------------------------------------------------- control loop
    def tick(self) -> None:
        """One control period's work (the background loop calls this every period)."""
        with self._io_lock:
            now = self._clock.monotonic()
            self.stats.periods += 1
            if not self._link_ok(now):
                return
            state = self._refresh(now)
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
                ok = self._safe_call(
                    lambda: self._control.speedJ(cmd.tolist(), accel, self.control_period_s))
                if ok is False:
                    self._ensure_program()

    def _loop(self) -> None:
        control, clock = self._control, self._clock
        # ur_rtde's initPeriod/waitPeriod pace on the controller's period with a steady clock;
        # anything without them (a minimal fake) is paced on our clock instead
        has_period = hasattr(control, "initPeriod") and hasattr(control, "waitPeriod")
        while not self._stop_loop.is_set():
            start = clock.monotonic()
            t0 = control.initPeriod() if has_period else None
            try:
                self.tick()
            except URError as exc:
                self._fault = exc
                log.error("UR5 control loop stopped: %s", exc)
                with self._io_lock:
                    self._safe_call(lambda: control.speedStop(self.stop_accel))
                return
            except Exception as exc:  # noqa: BLE001 - a loop that dies silently is worse
                self._fault = URError(f"UR5 control loop crashed: {exc!r}")
                log.exception("UR5 control loop crashed")
                return
            elapsed = clock.monotonic() - start
            if elapsed > self.control_period_s:
                self.stats.overruns += 1
            if has_period:
                control.waitPeriod(t0)
            else:
                clock.sleep(self.control_period_s - elapsed)

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
        with self._state_lock:
            self._snapshot = state
        return state

    def _link_ok(self, now: float) -> bool:
        """Whether both RTDE links are up; otherwise try to bring them back."""
        try:
            up = bool(self._control.isConnected() and self._receive.isConnected())
        except RuntimeError:
            up = False
        if up:
            return True
        if self._link_lost_at is None:
            self._link_lost_at = now
            self._next_reconnect = now
            self.stats.link_drops += 1
            log.warning("UR5: RTDE link to %s lost; reconnecting", self.host)
            with self._state_lock:
                self._cmd, self._stop_sent = None, True  # never resume an old command
                if self._snapshot is not None:
                    self._snapshot = _disconnected(self._snapshot)
        if now >= self._next_reconnect:
            self._next_reconnect = now + self.reconnect_interval_s
            for iface in (self._receive, self._control):
                try:
                    if not iface.isConnected():
                        iface.reconnect()
                except RuntimeError as exc:
                    log.info("UR5: reconnect failed: %s", exc)
            if self._control.isConnected() and self._receive.isConnected():
                self._link_lost_at = None
                self.stats.reconnects += 1
                log.warning("UR5: RTDE link to %s is back", self.host)
                self._refresh(now)
                return True
        if now - self._link_lost_at > self.reconnect_timeout_s:
            raise URConnectionError(
                f"RTDE link to {self.host} lost for more than {self.reconnect_timeout_s:g} s and "
                "reconnect failed; check the cable, the robot's power and Remote Control mode")
        return False

    def _handle_safety(self, state: JointState, now: float) -> bool:
        """Protective stops and fatal modes; returns whether motion commands may be sent."""
        if state.safety_mode in FATAL_SAFETY_MODES:
            raise URSafetyError(f"UR5 is in safety mode {SafetyMode(state.safety_mode).name}; "
                                "a person must clear it at the teach pendant")
        was_stopped = self._supervisor.stopped_since is not None
        action = self._supervisor.update(state.protective_stop, now)
        if state.protective_stop and not was_stopped:
            self.stats.protective_stops += 1
            log.warning("UR5: protective stop")
            with self._state_lock:
                self._cmd, self._stop_sent = None, True
        if action == "unlock":
            self._unlock(now)
            return False
        if action == "wait":
            return False
        return self._ensure_program()

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

    def _ensure_program(self) -> bool:
        """After a protective stop ur_rtde's control script has ended: upload it again."""
        if self._safe_call(self._control.isProgramRunning):
            return True
        if self._safe_call(self._control.reuploadScript):
            self.stats.script_reuploads += 1
            return True
        return False

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

    def _wait_for(self, done: Callable[[JointState], bool], timeout_s: float, what: str) -> None:
        deadline = self._clock.monotonic() + timeout_s
        while True:
            if not self._run_loop:
                self.tick()
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


def _at_rest(state: JointState) -> bool:
    return bool(np.all(np.abs(state.qd) < _REST_SPEED))


def _disconnected(state: JointState) -> JointState:
    return JointState(state.q, state.qd, state.tcp_pose, state.safety_mode,
                      state.protective_stop, False, state.timestamp_s)

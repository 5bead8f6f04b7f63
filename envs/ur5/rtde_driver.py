"""Hardware driver: a UR5 over RTDE with ur_rtde (>= 1.6.5).

A background thread owns the controller I/O.  Every control period (8 ms on CB3) it::

    gap:     more than 50 ms since the last period?  something may have
             happened unseen (ur_rtde reconnects inside a blocking call): check the program
    link:    both RTDE links up and the receive timestamp moving?  else: lost link: commands
             dropped, the arm braked through the control link if it answers, the receive
             interface replaced and the control interface reconnected in the background,
             fault after reconnect_timeout_s
    safety:  protective stop?  wait >= 5 s, unlock (dashboard), upload the script again;
             too many in the window -> fault; any mode but normal/reduced/recovery -> fault
    program: running, and the run this driver marked and armed (rtde_program)?  a new run
             started by ur_rtde's own reconnect is braked, marked and armed, and no command
             from before it is resumed; a program the controller watchdog stopped after this
             loop stalled or the link was silent is uploaded again (3 times in 10 min at
             most); a program that
             stopped without a protective stop and without a link event (Stop on the
             pendant, another client) -> fault
    motion:  exactly one speedJ: the latest command (if younger than watchdog_s and newer
             than the last link or program event), or zero speed at stop_accel (braking,
             and holding still); while a move home runs in the script (asynchronous moveJ),
             a watchdog kick instead, and an asynchronous stopJ when the move is called off

speedJ is the real-time motion command of ur_rtde's control script (processed every
controller period, no handshake), and every speedJ and every kick updates
``input_int_register_0``, which is what the controller's watchdog (``setWatchdog``) watches:
so every period feeds the watchdog, moving, braking, homing or standing still.  The blocking
commands (``speedStop``, synchronous ``stopJ``/``moveJ``, ``setWatchdog``) leave the input
quiet while the client waits for the script's "done" (for a stop: the whole braking time),
so the driver sends them only at rest (before a move home; when it marks and arms a new run
of the script, rtde_program), and stops with speedJ toward zero or an asynchronous stopJ.

The task thread only swaps the latest command and reads the snapshot, so it never waits on
the network; faults found by the loop are raised from its next call.  ``read_state`` says
``connected=False`` whenever the snapshot is older than receive_timeout_s (a lost link or a
loop blocked in ur_rtde), and ``command_speed`` drops commands made then.  Whatever ends
the loop (a fault, an unexpected exception, ``close``) brakes the arm to rest with speedJ on
its way out; if the process dies instead, the controller watchdog stops the arm.

ur_rtde is imported lazily in :meth:`RTDEDriver.connect`, so the rest of the package works
without it, and the three ur_rtde classes can be replaced (dependency injection): by the
wire twin nothing is replaced (the real ur_rtde talks to it over loopback); the stand-in
(:mod:`rt_avg.envs.ur5.standin`) replaces them for unit tests and for the stepped twin
backend (:class:`rt_avg.envs.ur5.twin_driver.TwinDriver`), which is this class on a
simulated clock.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rt_avg.core import ResetInterrupted
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
from rt_avg.envs.ur5.motion import (
    REST_SPEED,
    ZERO,
    at_home,
    at_rest,
    brake_time,
    move_duration,
    settled,
)
from rt_avg.envs.ur5.rtde_connect import (
    UR_RTDE_SCRIPT_WAIT_S,
    Factory,
    abandon,
    bounded,
    import_factories,
)
from rt_avg.envs.ur5.rtde_program import (
    PrepareError,
    is_marked,
    next_operation,
    prepare,
    previous_operation,
    read_operation,
)
from rt_avg.envs.ur5.rtde_reconnect import Reconnector
from rt_avg.envs.ur5.safety import (
    RUNNING_SAFETY_MODES,
    SAFEGUARD_STOP_MODES,
    ProtectiveStopPolicy,
    ProtectiveStopSupervisor,
    safety_mode_name,
)

log = logging.getLogger(__name__)

__all__ = ["RTDEDriver", "UR_RTDE_SCRIPT_WAIT_S"]

#: RTDE runtime_state of a running program (RTDE guide; ur_rtde's RuntimeState::PLAYING)
RUNTIME_PLAYING = 2
#: a program stop this soon after a link event counts as ur_rtde's own reconnect restarting
#: the script, and the driver waits for it to come back
LINK_EVENT_WINDOW_S = 1.0
#: ur_rtde's reconnect can restart the script several times in a row (a reconnect from its
#: receive thread starts a second receive thread, and each may reconnect again): a stop
#: this soon after a restart ur_rtde made counts as the same reconnect
RESTART_STORM_S = 5.0
#: ur_rtde interfaces whose reconnect ran are never destroyed (see _release)
_KEPT: list[Any] = []
#: how long a program restarted by ur_rtde's reconnect may take: its reconnect, a 100 ms
#: wait after stopping the old script, and waitForProgramRunning (5 s)
PROGRAM_RESTART_WAIT_S = UR_RTDE_SCRIPT_WAIT_S + 2.0
_PREPARE_STEP_S = 1.0  # bound on the mark showing up in one preparation
#: the script is uploaded again after a loop stall tripped the controller watchdog at most
#: this often within the window; more is a fault
MAX_STALL_RESTARTS = 3
STALL_WINDOW_S = 600.0
LOOP_GAP_S = 0.05


@dataclass(frozen=True)
class _Command:
    qd: NDArray[np.float64]
    accel: float
    at: float    # our clock when the task made it
    epoch: int   # the driver's epoch then: a link or program event starts a new one


@dataclass(frozen=True)
class _AsyncOp:
    kind: str      # "move" (moveJ home) or "stop" (stopJ ending it)
    expected: int  # the script's operation id once this operation has started
    since: float


@dataclass(frozen=True)
class _Home:
    q: NDArray[np.float64]
    speed: float
    accel: float


class RTDEDriver:
    """A :class:`~rt_avg.envs.ur5.driver.URDriver` for a real UR5 (CB3 or e-Series) over RTDE.

    Args:
        host: the controller's IP address.
        control_period_s: period of the control loop: 0.008 (CB3, 125 Hz) or 0.002
            (e-Series, 500 Hz); passed to ur_rtde as the interface frequency.
        watchdog_s: a command older than this is replaced by braking (SenseAct: 0.5).
        controller_watchdog_s: the controller stops the program and the arm when it hears
            nothing from this driver for this long (``setWatchdog(1 / controller_watchdog_s)``,
            fed by the speedJ of every period); it covers what the driver cannot: its own
            process dying, hanging, or losing the link.
        receive_timeout_s: receive data whose timestamp has not moved for this long counts
            as a lost link (a connection can stop delivering without reporting an error),
            and a snapshot this old is reported with ``connected=False``; None: as long as
            the controller watchdog allows (0.1 s by default), the silence the cell
            tolerates anyway.
        stop_accel: deceleration (rad/s^2) of the driver's stops.
        connect_timeout_s: bound on each connection attempt; the control interface gets
            ``UR_RTDE_SCRIPT_WAIT_S`` more, the time ur_rtde itself waits for its control
            script.  A connection that completes after we gave up is undone.
        reconnect_interval_s, reconnect_timeout_s: after a lost link, try to bring it back
            this often, and fault (URConnectionError) when it has not come back in time.
        pstop_policy: when to unlock protective stops and when to give up.
        control_factory, receive_factory, dashboard_factory: callables with the
            constructors of ``rtde_control.RTDEControlInterface(host, frequency)``,
            ``rtde_receive.RTDEReceiveInterface(host)`` and
            ``dashboard_client.DashboardClient(host)``; None imports ur_rtde's.
        clock: time source for the loop, the watchdogs and protective-stop timing.
        run_loop: start the background control thread in ``connect``.  On a simulated
            clock pass False and call :meth:`period` once per control period.
    """

    def __init__(self, host: str, *, control_period_s: float = 0.008, watchdog_s: float = 0.5,
                 controller_watchdog_s: float = 0.1, receive_timeout_s: float | None = None,
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
                             f"(it is fed once per period), got {controller_watchdog_s}")
        if receive_timeout_s is None:
            receive_timeout_s = controller_watchdog_s
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
        # a period starting this long after the last one may have missed a program restart
        # (ur_rtde's takes over 100 ms: it waits that long after stopping the old script)
        self._gap_s = min(LOOP_GAP_S, controller_watchdog_s / 2)

        self._control: Any = None
        self._receive: Any = None
        self._dashboard: Any = None
        self._reconnector: Reconnector | None = None
        self._io_lock = threading.RLock()      # serialises every call into ur_rtde
        self._state_lock = threading.Lock()    # guards command, home target and snapshot
        self._cmd: _Command | None = None
        self._home: _Home | None = None
        self._epoch = 0                        # +1 at each link or program event
        self._snapshot: JointState | None = None
        self._program_running = False
        self._last_timestamp = math.nan
        self._fresh_at = -math.inf             # our time when the receive timestamp last moved
        self._last_period_at: float | None = None
        self._link_lost_at: float | None = None
        self._link_event_at = -math.inf        # last sign that ur_rtde may be reconnecting
        self._restarted_at = -math.inf         # last time ur_rtde restarted the script
        self._stalled_at = -math.inf           # last loop stall or silence longer than the watchdog
        self._silent_since = -math.inf         # start of the current link outage
        self._stall_restarts: deque[float] = deque()
        self._mark: int | None = None          # the script run this driver armed (rtde_program)
        self._async: _AsyncOp | None = None    # the script's move or stop thread, when one runs
        self._move_starts = 0                  # moves home started (a lost link restarts one)
        self._unready_since: float | None = None
        self._prepare_failure = ""             # why the last preparation was refused
        self._program_down_since: float | None = None
        self._reupload_pending = False         # a protective stop ended the program
        self._uploaded_at: float | None = None
        self._fault: URError | None = None
        self._stop_loop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------ interface
    def connect(self) -> None:
        """Connect receive, control and dashboard, mark the control script and arm its
        watchdog; raise URConnectionError after a bounded wait."""
        if self._closed:
            raise URConnectionError("RTDEDriver: closed; make a new driver")
        if self._control is not None:
            return
        control_f, receive_f, dashboard_f = self._factories
        if control_f is None or receive_f is None or dashboard_f is None:
            real = import_factories()
            control_f, receive_f, dashboard_f = (f or r for f, r in zip(self._factories, real, strict=True))
        hint = (f"Check that the robot at {self.host} is powered on, in Remote Control, reachable "
                "(ping it; static IP on the same subnet) and that nothing else holds RTDE")
        t = self.connect_timeout_s
        try:
            self._receive = bounded(lambda: receive_f(self.host), t,
                                    f"RTDE receive at {self.host}:30004")
            self._control = bounded(lambda: control_f(self.host, 1.0 / self.control_period_s),
                                    t + UR_RTDE_SCRIPT_WAIT_S, f"RTDE control at {self.host}:30004")
            dashboard = dashboard_f(self.host)
            bounded(lambda: dashboard.connect(int(t * 1000)), t,
                    f"dashboard server at {self.host}:29999")
            self._dashboard = dashboard
            with self._io_lock:
                now = self._clock.monotonic()
                self._sample(now)
                self._fresh_at = now
            self._prepare_at_connect()
        except URConnectionError as exc:
            if self._control is not None:
                abandon(self._control)
            self._release()
            raise URConnectionError(f"cannot connect to the UR controller: {exc}. {hint}") from exc
        self._reconnector = Reconnector(in_background=self._run_loop)
        if self._run_loop:
            self._stop_loop.clear()
            self._thread = threading.Thread(target=self._loop, name="ur5-control", daemon=True)
            self._thread.start()

    def read_state(self) -> JointState:
        """The latest reading; ``connected`` is False while it is older than receive_timeout_s
        (a lost link, or the loop blocked in ur_rtde)."""
        self._check()
        now = self._clock.monotonic()
        with self._state_lock:
            state = self._snapshot
            assert state is not None
            if state.connected and not self._fresh(now):
                state = replace(state, connected=False)
            return state

    def command_speed(self, qd: ArrayLike, accel: float) -> None:
        qd = as_joint_vector(qd, "qd")
        if not 0.0 < accel <= 40.0:
            raise ValueError(f"accel must be in (0, 40] rad/s^2, got {accel}")
        self._check()
        now = self._clock.monotonic()
        with self._state_lock:
            if not self._fresh(now) or self._link_lost_at is not None or self._mark is None:
                # made from a stale reading or while the program is being restored: never
                # sent, not even when the link comes back
                self.stats.dropped_commands += 1
                return
            self._cmd = _Command(qd, float(accel), now, self._epoch)

    def stop(self) -> None:
        """Drop the command and any move home: the loop brakes to rest at stop_accel with
        speedJ (within one period).  Never blocks; any thread."""
        with self._state_lock:
            self._cmd = None
            self._home = None

    def move_home(self, q: ArrayLike, speed: float, accel: float,
                  abort: threading.Event | None = None) -> None:
        """Brake to rest, moveJ to ``q`` (asynchronous: the loop kicks the controller
        watchdog meanwhile), wait until the arm is there and settled.  ``abort`` set from
        another thread, or any exception meanwhile (Ctrl-C), ends the move with an
        asynchronous stopJ (the loop goes on kicking while the arm brakes)."""
        q = as_joint_vector(q, "q")
        self._check()
        policy = self._supervisor.policy
        self._wait_for(lambda s: not s.protective_stop,
                       policy.unlock_after_s + 5 * policy.retry_s + 2.0, "a protective stop to clear",
                       abort)
        self._wait_for(lambda s: self._mark is not None and s.connected,
                       PROGRAM_RESTART_WAIT_S + 2.0, "the control program to be ready", abort)
        start = self.read_state()
        with self._state_lock:
            self._cmd = None
            self._home = _Home(q, float(speed), float(accel))
        try:
            budget = (brake_time(start.qd, accel) + move_duration(start.q, q, speed, accel)
                      + 2.0)

            def arrived(s: JointState) -> bool:
                if s.protective_stop:
                    raise URMotionError("the move home was interrupted by a protective stop")
                return at_home(s, q)

            first = self._move_starts
            while True:
                starts = self._move_starts
                try:
                    self._wait_for(arrived, budget, "the move home to finish", abort)
                    break
                except URMotionError:
                    # a move called off by a lost link is started again once the link is
                    # back: a restart during the wait earns a new budget (a few times)
                    restarted = self._move_starts > max(starts, first + 1)
                    if not restarted or self._move_starts > first + 4:
                        raise
            self._wait_for(settled(), 2.0, "the arm to settle", abort)
        finally:
            self.stop()  # the move ends with its supervisor: a stopJ if it still runs

    def close(self) -> None:
        """Brake the arm to rest, end the loop, stop the control script and disconnect.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        self._stop_loop.set()
        if self._thread is not None:  # the loop brakes to rest on its way out
            self._thread.join(timeout=self._brake_bound() + 1.0)
        else:
            self._brake_to_rest()
        if self._control is not None:
            control = self._control
            self._call_if_free(control.stopScript, "stopScript")
        if self._reconnector is not None:
            self._reconnector.close()
        self._release()

    # ---------------------------------------------------------- control loop
    def period(self) -> None:
        """One control period (the background loop runs this every period; a driver on a
        simulated clock is stepped with it).  A fault brakes the arm and is kept: it is
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
            self._brake_to_rest()  # Ctrl-C in a stepped twin: brake, then let it through
            raise
        if self._fault is not None:
            self._brake_to_rest()
            raise self._fault

    tick = period  # the name the tests and tools have used

    def _tick(self) -> None:
        with self._io_lock:
            now = self._clock.monotonic()
            self.stats.periods += 1
            gap = 0.0 if self._last_period_at is None else now - self._last_period_at
            if gap > self._gap_s:
                # ur_rtde may have reconnected (and restarted the script) inside a call
                self.stats.loop_gaps += 1
                self._link_event_at = now
                if gap > self.controller_watchdog_s / 2:
                    log.warning("UR5: control period started %.3f s after the last one (the "
                                "controller watchdog allows %g s)", gap, self.controller_watchdog_s)
                if gap > self.controller_watchdog_s:
                    self._stalled_at = now  # long enough for the controller watchdog to fire
            self._last_period_at = now
            if not self._link_ok(now):
                return
            with self._state_lock:
                state = self._snapshot
            assert state is not None
            if not self._handle_safety(state, now):
                return
            if not self._program_ready(state, now):
                return
            self._send_motion(state, now)

    def _send_motion(self, state: JointState, now: float) -> None:
        with self._state_lock:
            cmd, home = self._cmd, self._home
            if cmd is not None and (cmd.epoch != self._epoch
                                    or now - cmd.at > self.watchdog_s):
                if cmd.epoch == self._epoch:
                    self.stats.watchdog_stops += 1
                    log.warning("UR5: latest speed command is %.3f s old; stopping the arm",
                                now - cmd.at)
                self._cmd = cmd = None
        if self._async is not None:  # a moveJ or stopJ runs in a thread of the script
            self._follow_async(state, home, now)
            return
        if home is not None and not at_home(state, home.q):
            if at_rest(state):
                self._start_move(home, now)
                return
            qd, accel = ZERO, self.stop_accel  # brake first: moveJ starts from a standstill
        elif cmd is not None and home is None:
            qd, accel = cmd.qd, cmd.accel
        else:
            qd, accel = ZERO, self.stop_accel
        # False means the program is not running: the next period's checks say why
        self._call(lambda: self._control.speedJ(qd.tolist(), accel, self.control_period_s))

    def _start_move(self, home: _Home, now: float) -> None:
        """The move home: end the speed thread (at rest speedStop returns at once), then an
        asynchronous moveJ, so that the loop goes on feeding the watchdog meanwhile."""
        if self._mark is None or not self._call(lambda: self._control.speedStop(self.stop_accel)):
            return
        if self._call(lambda: self._control.moveJ(home.q.tolist(), home.speed, home.accel, True)):
            self._async = _AsyncOp("move", next_operation(self._mark), now)
            self._move_starts += 1

    def _brake_step(self, now: float) -> None:
        """One period of braking in whatever motion runs: speedJ toward zero, or (while the
        script's move thread runs) an asynchronous stopJ once and then watchdog kicks: a
        speedJ then would be a second thread commanding motion, which ends the program."""
        op = self._async
        if op is None:
            self._call(lambda: self._control.speedJ(ZERO.tolist(), self.stop_accel,
                                                    self.control_period_s))
        elif op.kind == "move":
            self._call(lambda: self._control.stopJ(self.stop_accel, True))
            self._async = _AsyncOp("stop", next_operation(op.expected), now)
        else:
            self._call(self._control.kickWatchdog)

    def _follow_async(self, state: JointState, home: _Home | None, now: float) -> None:
        """While the script's move (or stop) thread runs: kick the watchdog every period (a
        speedJ now would be a second thread commanding motion, which ends the program); a
        move home that is no longer wanted is stopped with an asynchronous stopJ."""
        op = self._async
        assert op is not None
        if op.kind == "move" and home is None:
            self._brake_step(now)  # the move home is called off
            return
        self._call(self._control.kickWatchdog)
        status = read_operation(self._control)
        if status is None:
            return
        if status.op_id == op.expected and not status.running:
            self._mark, self._async = op.expected, None  # finished: the script's id moved on
        elif status.op_id not in (op.expected, previous_operation(op.expected)):
            self._async = None
            self._new_run_seen(now)
        elif op.kind == "stop" and now - op.since > self._brake_bound() + 1.0:
            raise URMotionError("the asynchronous stopJ did not finish")

    def _loop(self) -> None:
        clock = self._clock
        deadline = clock.monotonic()
        try:
            while not self._stop_loop.is_set():
                self.period()
                deadline += self.control_period_s
                now = clock.monotonic()
                if now > deadline:  # late: start the next period now, no catching up
                    self.stats.overruns += 1
                    deadline = now
                else:
                    clock.sleep(deadline - now)
        except URError:
            return  # kept in self._fault; period() has braked the arm
        finally:
            self._brake_to_rest()  # every way out of the loop leaves the arm at rest

    # ------------------------------------------------------------- the link
    def _sample(self, now: float) -> JointState:
        """Read the receive interface into the snapshot (RuntimeError on a dead link)."""
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
        running = int(r.getRuntimeState()) == RUNTIME_PLAYING
        with self._state_lock:
            if state.timestamp_s != self._last_timestamp:
                self._last_timestamp, self._fresh_at = state.timestamp_s, now
            self._snapshot = state
            self._program_running = running
        return state

    def _fresh(self, now: float) -> bool:
        return now - self._fresh_at <= self.receive_timeout_s

    def _link_ok(self, now: float) -> bool:
        """Whether both RTDE links are up and delivering; otherwise brake the arm as far as
        the link allows and bring them back."""
        control_up = bool(self._call(self._control.isConnected))
        if not control_up:
            self._link_event_at = now
        receive_up = False
        if self._reconnector is None or not self._reconnector.receive_busy:
            try:
                if self._receive.isConnected():
                    self._sample(now)
                    receive_up = True
            except RuntimeError:
                pass
        stale = not self._fresh(now)
        if control_up and receive_up and not stale:
            if self._link_lost_at is not None:
                self._link_back(now)
            return True
        cause = ("RTDE control connection lost" if not control_up else
                 "RTDE receive connection lost" if not receive_up else
                 f"receive data has not changed for {now - self._fresh_at:.2f} s")
        if self._link_lost_at is None:
            self._link_lost_at = now
            self._silent_since = min(now, self._fresh_at)  # no word from the controller since
            self.stats.link_drops += 1
            log.warning("UR5: link to %s lost (%s); stopping the arm and reconnecting",
                        self.host, cause)
            self._invalidate()
            with self._state_lock:
                if self._snapshot is not None:
                    self._snapshot = replace(self._snapshot, connected=False)
        if control_up:
            # brake (and feed the watchdog) while the receive side is recovered; a dead
            # control link cannot, and the controller watchdog stops the program instead
            self._brake_step(now)
        if self._reconnector is not None:
            self._reconnector.request(self._control if not control_up else None,
                                      self._receive if (not receive_up or stale) else None,
                                      receive_up and stale, now, self.reconnect_interval_s)
        if now - self._link_lost_at > self.reconnect_timeout_s:
            raise URConnectionError(
                f"RTDE link to {self.host} lost for more than {self.reconnect_timeout_s:g} s "
                f"({cause}) and reconnect failed; check the cable, the robot's power and Remote "
                "Control mode")
        return False

    def _link_back(self, now: float) -> None:
        self._link_lost_at = None
        self._link_event_at = now
        if now - self._silent_since > self.controller_watchdog_s:
            # as long as the controller watchdog allows: it may have stopped the program
            self._stalled_at = now
        self.stats.reconnects += 1
        self._invalidate()  # commands made during the outage are never sent
        log.warning("UR5: RTDE link to %s is back", self.host)
        with self._state_lock:
            if self._snapshot is not None:
                self._snapshot = replace(self._snapshot, connected=True)

    def _invalidate(self) -> None:
        """Start a new epoch: the command, and any made before now, are never sent."""
        with self._state_lock:
            self._epoch += 1
            self._cmd = None

    # --------------------------------------------------- safety and program
    def _handle_safety(self, state: JointState, now: float) -> bool:
        """Safety modes and protective stops; returns whether the program may be used."""
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
            self._mark = self._async = None
            log.warning("UR5: protective stop")
            self._invalidate()
        if action == "unlock":
            self._unlock(now)
            return False
        return action == "ok"

    def _program_ready(self, state: JointState, now: float) -> bool:
        """Whether the program runs and is the run this driver marked and armed; restores
        it after a protective stop or ur_rtde's own reconnect, faults otherwise."""
        if not self._program_running:
            self._mark = self._async = None  # a stopped program loses its watchdog, threads
            if self._reupload_pending:
                self._restart_after_protective_stop(now)
            else:
                self._program_stopped(now)
            return False
        if self._program_down_since is not None:
            log.warning("UR5: the control program runs again after %.2f s",
                        now - self._program_down_since)
            self._program_down_since = None
            self.stats.program_restarts += 1
            self._restarted_at = now
        self._reupload_pending, self._uploaded_at = False, None
        if self._async is not None:
            return True  # the operation id moves with our own operation: _follow_async checks
        operation = read_operation(self._control)
        if operation is None:  # ur_rtde is replacing its robot state: a reconnect
            self._link_event_at = now
            return False
        if is_marked(operation, self._mark):
            return True
        if self._mark is not None:
            self._new_run_seen(now)
        return self._prepare(state, now)

    def _new_run_seen(self, now: float) -> None:
        """The running script is not the run this driver armed: it was restarted unseen."""
        self._mark = self._async = None
        self._invalidate()  # never resume a command on the new run
        if not self._explained(now):
            raise URProgramStoppedError(
                f"the control program on {self.host} was restarted by something other than "
                "this driver (no link event before it): another RTDE client or the teach "
                "pendant; the driver does not take over a program it did not start. Check the "
                "cell, then start the run again")
        self.stats.program_restarts += 1
        self._restarted_at = now
        log.warning("UR5: ur_rtde restarted the control script (a reconnect); arming it again")

    def _prepare(self, state: JointState, now: float) -> bool:
        """Brake to rest, then mark the run and arm its watchdog (rtde_program)."""
        if self._unready_since is None:
            self._unready_since = now
        if now - self._unready_since > PROGRAM_RESTART_WAIT_S:
            raise URProgramStoppedError(
                f"the control program on {self.host} could not be marked and armed (setWatchdog) "
                f"within {PROGRAM_RESTART_WAIT_S:g} s; is it ur_rtde's control script?")
        if not at_rest(state):
            self._prepare_failure = "the arm was not at rest"
            self._call(lambda: self._control.speedJ(ZERO.tolist(), self.stop_accel,
                                                    self.control_period_s))
            return False
        try:
            mark = prepare(self._control, stop_accel=self.stop_accel,
                           watchdog_hz=1.0 / self.controller_watchdog_s, clock=self._clock,
                           period_s=self.control_period_s, timeout_s=_PREPARE_STEP_S)
        except (PrepareError, RuntimeError) as exc:
            self._prepare_failure = str(exc)
            log.info("UR5: preparing the control program failed (%s); retrying", exc)
            return False
        self._mark, self._unready_since = mark, None
        self.stats.watchdog_arms += 1
        self._invalidate()
        return False  # the next period sends the first speedJ to the armed run

    def _prepare_at_connect(self) -> None:
        """The script ur_rtde just uploaded: mark it and arm its watchdog, or fail connect."""
        deadline = self._clock.monotonic() + self.connect_timeout_s
        why = "the control program is not running"
        while self._mark is None:
            try:
                with self._io_lock:
                    now = self._clock.monotonic()
                    state = self._sample(now)
                    if self._program_running:
                        self._prepare(state, now)
                        why = f"the last preparation failed: {self._prepare_failure}"
            except (URError, RuntimeError) as exc:
                why = str(exc)
            if self._mark is None and self._clock.monotonic() > deadline:
                raise URConnectionError(
                    f"the controller at {self.host} did not arm its watchdog (setWatchdog) "
                    f"within {self.connect_timeout_s:g} s: {why}")
            if self._mark is None:
                self._clock.sleep(self.control_period_s)

    def _restart_after_protective_stop(self, now: float) -> None:
        """After the unlock (or a stall, _restart_after_stall): upload ur_rtde's script once
        and wait (bounded) for it to run (reuploadScript returns when the bytes are written,
        not when the program runs)."""
        if self._uploaded_at is None:
            if self._call(self._control.reuploadScript):
                self._uploaded_at = now
                self.stats.script_reuploads += 1
                log.warning("UR5: control script re-uploaded")
        elif now - self._uploaded_at > UR_RTDE_SCRIPT_WAIT_S:
            raise URProgramStoppedError(
                f"the control script on {self.host} did not start within "
                f"{UR_RTDE_SCRIPT_WAIT_S:g} s of its upload")

    def _program_stopped(self, now: float) -> None:
        """The program is not running and no protective stop explains it."""
        if self._program_down_since is None:
            self._program_down_since = now
            self._invalidate()
            log.warning("UR5: the control program stopped")
        if self._stalled_at >= self._program_down_since - LINK_EVENT_WINDOW_S:
            self._restart_after_stall(now)
            return
        if not self._explained(self._program_down_since):
            raise URProgramStoppedError(
                f"the control program on {self.host} stopped without a protective stop: Stop "
                "on the teach pendant, the controller watchdog (no command for more than "
                f"{self.controller_watchdog_s:g} s) or another RTDE client; the driver does not "
                "restart it by itself. Check the cell, then start the run again")
        if now - self._program_down_since > PROGRAM_RESTART_WAIT_S:
            raise URProgramStoppedError(
                f"the control program on {self.host} stopped after a link event or a blocked "
                "control loop (then the controller watchdog stopped it) and ur_rtde's reconnect "
                f"did not start it again within {PROGRAM_RESTART_WAIT_S:g} s")

    def _restart_after_stall(self, now: float) -> None:
        """This loop stalled, or the link was silent, for longer than the controller watchdog
        allows, and the program stopped: the watchdog did what it is for (the controller
        brought the arm to rest), nobody pressed Stop.  Upload the script again, as after a
        protective stop; a loop or link that keeps stalling is a fault."""
        while self._stall_restarts and self._stall_restarts[0] < now - STALL_WINDOW_S:
            self._stall_restarts.popleft()
        if len(self._stall_restarts) >= MAX_STALL_RESTARTS:
            raise URProgramStoppedError(
                f"the control loop stalled, or the link was silent, for longer than the "
                f"controller watchdog allows ({self.controller_watchdog_s:g} s) "
                f"{MAX_STALL_RESTARTS + 1} times within {STALL_WINDOW_S:g} s, and the controller "
                "stopped the program each time; check the link, run the driver on a quieter "
                "machine or widen controller_watchdog_s")
        self._stall_restarts.append(now)
        self.stats.stall_restarts += 1
        self._program_down_since = None
        self._stalled_at = -math.inf
        self._reupload_pending = True
        log.warning("UR5: the control loop stalled or the link was silent longer than the "
                    "controller watchdog allows, and the controller stopped the program; "
                    "uploading the script again")

    def _explained(self, at: float) -> bool:
        """Whether a program stop or restart at ``at`` comes from ur_rtde's own reconnect: a
        link event shortly before (or since), or a restart ur_rtde made shortly before."""
        return (self._link_event_at >= at - LINK_EVENT_WINDOW_S
                or self._restarted_at >= at - RESTART_STORM_S)

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

    # -------------------------------------------------------------- helpers
    def _check(self) -> None:
        if self._fault is not None:
            raise self._fault
        if self._control is None:
            raise URConnectionError("RTDEDriver: not connected; call connect() first")

    def _brake_bound(self) -> float:
        with self._state_lock:
            qd = self._snapshot.qd if self._snapshot is not None else ZERO
        return min(brake_time(qd, self.stop_accel) + 0.2, 5.0)

    def _brake_to_rest(self) -> None:
        """Brake until the arm is at rest (bounded): speedJ toward zero, or an asynchronous
        stopJ and watchdog kicks while a move home runs.  Never raises, never blocks on a
        busy link for long.  A refused call (the program is not running, the link is dead)
        ends it: then the controller has stopped the arm, or its watchdog will."""
        control, receive = self._control, self._receive
        if control is None:
            return
        with self._state_lock:
            self._cmd = self._home = None
        deadline = self._clock.monotonic() + self._brake_bound()
        if not self._io_lock.acquire(timeout=0.5):
            log.warning("UR5: controller link busy; the controller watchdog stops the arm")
            return
        try:
            moving_home = self._async is not None
            if moving_home:
                self._call(lambda: control.stopJ(self.stop_accel, True))
            zero = ZERO.tolist()
            while True:
                if moving_home:
                    ok = self._call(control.kickWatchdog)
                else:
                    ok = self._call(lambda: control.speedJ(zero, self.stop_accel,
                                                           self.control_period_s))
                if not ok:
                    return
                qd = self._read_speeds(receive)
                if qd is not None and np.all(np.abs(qd) < REST_SPEED):
                    return
                if self._clock.monotonic() > deadline:
                    if qd is not None:
                        log.error("UR5: the arm did not come to rest within %.2f s of braking",
                                  self._brake_bound())
                    return
                self._clock.sleep(self.control_period_s)
        except Exception as exc:  # noqa: BLE001 - the reason for leaving matters more
            log.error("UR5: could not brake the arm: %r", exc)
        finally:
            self._io_lock.release()

    def _read_speeds(self, receive: Any) -> NDArray[np.float64] | None:
        """The joint speeds for braking, or None when they cannot be read (the receive
        interface is being reconnected or fails): then braking runs its whole bound."""
        if self._reconnector is not None and self._reconnector.receive_busy:
            return None
        try:
            return np.asarray(receive.getActualQd(), dtype=np.float64)
        except Exception as exc:  # noqa: BLE001 - braking goes on whatever the reading does
            log.info("UR5: joint speeds unreadable while braking: %r", exc)
            return None

    def _call_if_free(self, call: Callable[[], Any], what: str, timeout_s: float = 0.5) -> None:
        """Call ur_rtde unless the loop has held the link for ``timeout_s`` (blocked in
        ur_rtde), so that close() never hangs."""
        if not self._io_lock.acquire(timeout=timeout_s):
            log.warning("UR5: controller link busy for %.1f s; %s not sent", timeout_s, what)
            return
        try:
            self._call(call)
        finally:
            self._io_lock.release()

    def _call(self, call: Callable[[], Any]) -> Any:
        """Call ur_rtde; a RuntimeError means a dead link (or ur_rtde reconnecting), which
        the next period handles."""
        try:
            return call()
        except RuntimeError as exc:
            self._link_event_at = self._clock.monotonic()
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
            if iface is None:
                continue
            if iface is self._control and self.stats.program_restarts:
                # ur_rtde 1.6.5's own reconnect leaves a second receive thread running, and
                # disconnecting (or destroying) the interface then has crashed the process
                # on the wire twin: the script is stopped, the interface kept as it is
                log.warning("UR5: ur_rtde reconnected its control interface by itself; it is "
                            "left connected (disconnecting it can crash ur_rtde 1.6.5)")
                _KEPT.append(iface)
                continue
            with contextlib.suppress(RuntimeError):
                iface.disconnect()
        self._control = self._receive = self._dashboard = None


def _raise_if_aborted(abort: threading.Event | None) -> None:
    if abort is not None and abort.is_set():
        raise ResetInterrupted("UR5 reset interrupted by stop(); the arm was stopped")

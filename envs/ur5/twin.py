"""A kinematic twin of a UR5 on its controller: what the arm does with speedJ, speedStop and
moveJ, integrated at the controller period (8 ms on CB3), with its protective stops.

The model is kinematic, not dynamic: the joint speeds follow the commanded speeds with the
commanded acceleration of the leading axis (all joints reach their targets together, as
UR's speedj does), positions integrate the speeds exactly (trapezoid rule).  Simplifications
worth knowing:

* a protective stop halts the arm within one period (the real arm brakes over ~0.1-0.5 s);
* a command takes effect ``actuation_delay_s`` after it was sent, rounded to whole periods;
* sensor noise is Gaussian with std ``sensor_noise`` on q (rad) and qd (rad/s), drawn once
  per period (as a fresh RTDE packet would be);
* the control program (ur_rtde's script) runs until a protective stop, ``stop_program``
  (Stop on the pendant, ``stopScript``) or its RTDE watchdog: once armed with
  ``set_watchdog(min_frequency)``, a program that receives no RTDE input for longer than
  ``1 / min_frequency`` is stopped, as ``rtde_set_watchdog(..., "stop")`` does on the
  controller.  A program that stops brings the arm to rest at ``PROGRAM_STOP_DECEL``;
* a safeguard stop (``safeguard_stop``) holds the arm like a protective stop until
  ``safeguard_reset``; the program is paused meanwhile;
* protective stops come from leaving ``pstop_limits`` (fingertip box or joint limits, by
  default the task workspace widened by 0.1 m and 10 deg).  After an unlock outside those
  limits the twin is in recovery (safety mode RECOVERY) and only stops again if the
  violation grows, like the real controller that lets an arm be moved back inside.

Time is explicit: nothing happens until :meth:`URTwin.advance` / :meth:`URTwin.advance_to`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rt_avg.envs.ur5.driver import JointState, as_joint_vector
from rt_avg.envs.ur5.kinematics import fingertip_task, tcp_pose_base
from rt_avg.envs.ur5.safety import MIN_UNLOCK_DELAY_S, SafetyMode
from rt_avg.envs.ur5.workspace import Workspace

#: the real dashboard server's answer to a premature unlock
EARLY_UNLOCK_MESSAGE = ("Unlock protective stop failure: Cannot unlock protective stop until 5s "
                        "after occurrence. Always inspect cause of protective stop before unlocking")

_VIOLATION_TOL = 1e-3  # how much a violation may grow in recovery before it stops again
#: rad/s^2 of the leading axis when the program stops (a controlled stop; the real arm's
#: ramp depends on speed and payload, this is a model value)
PROGRAM_STOP_DECEL = 10.0


@dataclass(frozen=True)
class TwinConfig:
    """Twin options.  ``period_s``: controller period (0.008 CB3, 0.002 e-Series)."""

    period_s: float = 0.008
    actuation_delay_s: float = 0.0
    sensor_noise: float = 0.0
    pstop_limits: Workspace = field(
        default_factory=lambda: Workspace().expanded(box_m=0.1, angles_rad=math.radians(10.0)))

    def __post_init__(self) -> None:
        if not 0.001 <= self.period_s <= 0.1:
            raise ValueError(f"TwinConfig.period_s must be in [0.001, 0.1] s, got {self.period_s}")
        if not 0.0 <= self.actuation_delay_s <= 1.0:
            raise ValueError("TwinConfig.actuation_delay_s must be in [0, 1] s, "
                             f"got {self.actuation_delay_s}")
        if not 0.0 <= self.sensor_noise <= 0.1:
            raise ValueError(f"TwinConfig.sensor_noise must be in [0, 0.1], got {self.sensor_noise}")
        if not isinstance(self.pstop_limits, Workspace):
            raise ValueError("TwinConfig.pstop_limits must be a Workspace")


@dataclass(frozen=True)
class _Move:
    q0: NDArray[np.float64]
    q1: NDArray[np.float64]
    start_s: float
    speed: float
    accel: float

    def at(self, t_s: float) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
        """Synchronised trapezoid on the leading axis: (q, qd, done) at time ``t_s``."""
        delta = self.q1 - self.q0
        dist = float(np.max(np.abs(delta)))
        if dist < 1e-12:
            return self.q1.copy(), np.zeros(6), True
        t = t_s - self.start_s
        t_acc = self.speed / self.accel
        if self.accel * t_acc * t_acc >= dist:  # never reaches cruise speed: triangle profile
            t_acc = math.sqrt(dist / self.accel)
            peak = self.accel * t_acc
            total = 2.0 * t_acc
        else:
            peak = self.speed
            total = dist / self.speed + t_acc
        if t >= total:
            return self.q1.copy(), np.zeros(6), True
        if t < t_acc:
            s, v = 0.5 * self.accel * t * t, self.accel * t
        elif t < total - t_acc:
            s, v = 0.5 * self.accel * t_acc * t_acc + peak * (t - t_acc), peak
        else:
            tr = total - t
            s, v = dist - 0.5 * self.accel * tr * tr, self.accel * tr
        unit = delta / dist
        return self.q0 + unit * s, unit * v, False


_Command = tuple[Literal["speed", "stop", "move"], tuple[Any, ...]]


class URTwin:
    """The arm and its controller on simulated time."""

    def __init__(self, config: TwinConfig | None = None, workspace: Workspace | None = None,
                 seed: int | None = None, initial_q: ArrayLike | None = None) -> None:
        self.config = config or TwinConfig()
        self.workspace = workspace or Workspace()
        self.steps = 0  # controller periods integrated; time is steps * period_s
        self.q = (self.workspace.home_q_rad.copy() if initial_q is None
                  else as_joint_vector(initial_q, "initial_q"))
        self.qd = np.zeros(6)
        self.protective_stop = False
        self.protective_stop_at_s: float | None = None
        self.protective_stops = 0
        self.program_running = True
        self.program_stops: list[tuple[float, str]] = []  # (time, reason) of each stop
        self.safeguard_stopped = False
        self._watchdog_s: float | None = None
        self._last_input_s = 0.0
        self._v_target = np.zeros(6)
        self._accel = 1.0
        self._move: _Move | None = None
        self._queue: deque[tuple[int, _Command]] = deque()
        self._recovery: tuple[float, float] | None = None
        self._rng = np.random.default_rng(seed)
        self._noise: tuple[int, NDArray[np.float64]] | None = None
        self._tcp_cache: tuple[int, NDArray[np.float64]] | None = None

    # ------------------------------------------------------------------ time
    @property
    def t_s(self) -> float:
        return self.steps * self.config.period_s

    def advance(self, dt_s: float) -> None:
        """Integrate ``dt_s`` seconds (rounded to whole periods)."""
        for _ in range(int(round(dt_s / self.config.period_s))):
            self._substep()

    def advance_to(self, t_s: float) -> None:
        """Integrate every whole period that ends at or before ``t_s``."""
        target = int(math.floor(t_s / self.config.period_s + 1e-9))
        while self.steps < target:
            self._substep()

    def seed(self, seed: int | None) -> None:
        """Reseed the sensor-noise generator."""
        self._rng = np.random.default_rng(seed)
        self._noise = None

    # -------------------------------------------------------------- commands
    @property
    def accepts_motion(self) -> bool:
        return self.program_running and not self.protective_stop and not self.safeguard_stopped

    # --------------------------------------------------------------- program
    def input_update(self) -> None:
        """An RTDE input package arrived (any ur_rtde command): feeds the watchdog."""
        self._last_input_s = self.t_s

    def set_watchdog(self, min_frequency: float) -> bool:
        """``rtde_set_watchdog(..., min_frequency, "stop")`` in the running program."""
        if not self.program_running or not min_frequency > 0.0:
            return False
        self._watchdog_s = 1.0 / float(min_frequency)
        self.input_update()
        return True

    @property
    def watchdog_s(self) -> float | None:
        """The armed program watchdog's limit (s), None when none is armed."""
        return self._watchdog_s

    def stop_program(self, reason: str) -> None:
        """The program ends (Stop on the pendant, stopScript, its watchdog): the arm is
        brought to rest and every watchdog of the program is removed."""
        if self.program_running:
            self.program_stops.append((self.t_s, reason))
        self.program_running = False
        self._watchdog_s = None
        self._queue.clear()  # commands still in flight die with the program
        self._move = None
        self._v_target, self._accel = np.zeros(6), PROGRAM_STOP_DECEL

    def safeguard_stop(self) -> None:
        """A safeguard input (light curtain, door) opened: the arm halts and stays."""
        self.safeguard_stopped = True
        self._halt()

    def safeguard_reset(self) -> None:
        self.safeguard_stopped = False

    def command_speed(self, qd: ArrayLike, accel: float) -> bool:
        """speedj: accelerate (leading axis at ``accel``) to ``qd`` and hold it."""
        self._submit(("speed", (as_joint_vector(qd, "qd"), float(accel))))
        return self.accepts_motion

    def command_stop(self, accel: float) -> bool:
        """speedStop/stopj: decelerate to rest with ``accel``."""
        self._submit(("stop", (float(accel),)))
        return True

    def command_move(self, q: ArrayLike, speed: float, accel: float) -> bool:
        """movej: go to ``q`` linearly in joint space (leading axis ``speed``/``accel``)."""
        self._submit(("move", (as_joint_vector(q, "q"), float(speed), float(accel))))
        return self.accepts_motion

    @property
    def moving(self) -> bool:
        """Whether a move or a non-zero speed is active or pending."""
        return (self._move is not None or bool(self._queue)
                or bool(np.any(self.qd != 0.0)) or bool(np.any(self._v_target != 0.0)))

    @property
    def move_active(self) -> bool:
        """Whether a moveJ is under way or pending (ends when the arm reaches its target or
        the move is replaced or stopped)."""
        return self._move is not None or any(c[0] == "move" for _, c in self._queue)

    def _submit(self, command: _Command) -> None:
        delay_steps = int(round(self.config.actuation_delay_s / self.config.period_s))
        self._queue.append((self.steps + delay_steps, command))

    # ---------------------------------------------------------------- safety
    def trigger_protective_stop(self) -> None:
        """Stop now, end the program (as the real controller does), note the time."""
        self.protective_stop = True
        self.protective_stop_at_s = self.t_s
        self.protective_stops += 1
        self.program_running = False
        self._watchdog_s = None
        self._halt()
        self._recovery = None

    def _halt(self) -> None:
        self.qd = np.zeros(6)
        self._v_target = np.zeros(6)
        self._move = None
        self._queue.clear()

    def unlock_protective_stop(self) -> None:
        """Dashboard ``unlock protective stop``; RuntimeError before 5 s, as on the robot."""
        if not self.protective_stop:
            return
        assert self.protective_stop_at_s is not None
        if self.t_s - self.protective_stop_at_s < MIN_UNLOCK_DELAY_S - 1e-9:
            raise RuntimeError(EARLY_UNLOCK_MESSAGE)
        self.protective_stop = False
        box, joints = self._violation()
        self._recovery = (box, joints) if box > 0.0 or joints > 0.0 else None

    def reupload_script(self) -> bool:
        """Start the control program again (allowed once no protective stop is active)."""
        if self.protective_stop:
            return False
        self.program_running = True
        self._watchdog_s = None  # a fresh program has no watchdog until it is asked for one
        return True

    @property
    def safety_mode(self) -> SafetyMode:
        if self.protective_stop:
            return SafetyMode.PROTECTIVE_STOP
        if self.safeguard_stopped:
            return SafetyMode.SAFEGUARD_STOP
        return SafetyMode.RECOVERY if self._recovery is not None else SafetyMode.NORMAL

    def _violation(self) -> tuple[float, float]:
        """How far (m, rad) the fingertip and joints are outside the protective-stop limits."""
        limits = self.config.pstop_limits
        p = fingertip_task(self.q)
        box = float(max(0.0, np.max(limits.box_low_m - p), np.max(p - limits.box_high_m)))
        joints = float(max(0.0, np.max(limits.angles_low_rad - self.q),
                           np.max(self.q - limits.angles_high_rad)))
        return box, joints

    def _check_limits(self) -> None:
        box, joints = self._violation()
        if self._recovery is None:
            if box > 0.0 or joints > 0.0:
                self.trigger_protective_stop()
            return
        allowed_box, allowed_joints = self._recovery
        if box > allowed_box + _VIOLATION_TOL or joints > allowed_joints + _VIOLATION_TOL:
            self.trigger_protective_stop()
        elif box == 0.0 and joints == 0.0:
            self._recovery = None
        else:  # ratchet: moving back in narrows what is allowed
            self._recovery = (min(allowed_box, box), min(allowed_joints, joints))

    # ----------------------------------------------------------- integration
    def _apply(self, command: _Command) -> None:
        kind, args = command
        if kind == "stop":
            if self._move is not None:
                self._move = None
            self._v_target = np.zeros(6)
            self._accel = args[0]
            return
        if not self.accepts_motion:
            return  # the program is not running: the controller ignores motion commands
        if kind == "speed":
            self._move = None
            self._v_target, self._accel = args[0].copy(), args[1]
        else:
            q1, speed, accel = args
            self._v_target = np.zeros(6)
            self._move = _Move(self.q.copy(), q1.copy(), self.t_s, speed, accel)

    def _substep(self) -> None:
        while self._queue and self._queue[0][0] <= self.steps:
            self._apply(self._queue.popleft()[1])
        period = self.config.period_s
        if self.protective_stop or self.safeguard_stopped:
            pass  # held at rest
        elif self._move is not None:
            self.q, self.qd, done = self._move.at(self.t_s + period)
            if done:
                self._move = None
        else:
            qd_old = self.qd
            dv = self._v_target - qd_old
            lead = float(np.max(np.abs(dv)))
            max_dv = self._accel * period
            qd_new = self._v_target.copy() if lead <= max_dv else qd_old + dv * (max_dv / lead)
            self.q = self.q + 0.5 * (qd_old + qd_new) * period
            self.qd = qd_new
        self.steps += 1
        if (self.program_running and self._watchdog_s is not None
                and self.t_s - self._last_input_s > self._watchdog_s + 1e-9):
            self.stop_program("watchdog")
        if not self.protective_stop:
            self._check_limits()

    # ---------------------------------------------------------------- sensing
    def observe(self) -> JointState:
        """What the sensors report now.  Noise is drawn once per period (as one RTDE packet
        carries one measurement), so reads within a period agree."""
        q, qd = self.q.copy(), self.qd.copy()
        if self.config.sensor_noise > 0.0:
            if self._noise is None or self._noise[0] != self.steps:
                draw = self._rng.normal(0.0, self.config.sensor_noise, 12)
                self._noise = (self.steps, draw)
            q += self._noise[1][:6]
            qd += self._noise[1][6:]
        if self._tcp_cache is None or self._tcp_cache[0] != self.steps:
            self._tcp_cache = (self.steps, tcp_pose_base(self.q))  # q only changes per period
        return JointState(q=q, qd=qd, tcp_pose=self._tcp_cache[1].copy(),
                          safety_mode=int(self.safety_mode), protective_stop=self.protective_stop,
                          connected=True, timestamp_s=self.t_s)

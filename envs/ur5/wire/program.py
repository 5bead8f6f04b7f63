"""ur_rtde's control script, run from the RTDE registers as the controller runs it.

ur_rtde (1.6.5, ``scripts/rtde_control.script``, uploaded by ``RTDEControlInterface``) is a
URScript program whose main loop, once per controller period (``sync()``), reads the command
id from ``input_int_register_0`` (plus the register offset, 0 or 24) and answers on
``output_int_register_0``: 1 "ready", 2 "done".  This module is that loop:

* at start: the async-progress register (``output_int_register_2``) is reset and "ready"
  written;
* real-time commands (``REALTIME_COMMANDS``: servoJ/L, speedJ/L, forceMode, ...) are processed
  every period while their id stays in the register, then "ready" is written again;
* command 0 (the client's clear) writes "ready" and ends the current command;
* any other command is processed once (``executing_cmd``) and, when it returns, "done" is
  written and stays until the client clears the register.  moveJ (synchronous), stopJ/stopL
  (synchronous) and speedStop/servoStop return only when the motion has ended: for the whole
  braking time the loop does not run;
* command 255 (stopScript) ends the program without "done".

Motions run in URScript threads as in the script: speedJ starts a speed thread that re-issues
``speedj`` until speedStop kills it, an asynchronous moveJ/stopJ runs in a move/stop thread.
Two threads commanding motion at once is a runtime error that ends the program (URScript's
"Another thread is already controlling the robot"; a guess of the twin, see docs/ur5.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np

from rt_avg.envs.ur5.twin import URTwin

READY = 1
DONE = 2

MOVEJ, SPEEDJ, SPEED_STOP, SERVO_STOP = 1, 9, 15, 16
PROTECTIVE_STOP, STOPL, STOPJ, SET_WATCHDOG, STOP_SCRIPT = 31, 33, 34, 35, 255
#: commands the script's main loop treats as real-time (processed every period, then "ready");
#: 66-71 (directTorque and the dynamics getters) came with ur_rtde 1.6.5's script
REALTIME_COMMANDS = frozenset({24, 11, 9, 10, 6, 25, 26, 27, 38, 58, 66, 67, 68, 69, 70, 71})
#: UR5 joint speed limit (rad/s; 180 deg/s, UR5 technical specification); faster commands are
#: scaled down to it, keeping their direction (the twin's guess of the planner's behaviour)
MAX_JOINT_SPEED = math.pi


def _finite(what: str, *values: float | np.ndarray, positive: bool = False) -> None:
    """URScript fails on a non-finite argument (and the twin on a non-positive rate)."""
    for v in values:
        arr = np.asarray(v, dtype=float)
        if not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0.0)):
            raise ProgramError(f"{what}: invalid argument {arr.tolist()}")


def _limited(qd: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(qd)))
    return qd * (MAX_JOINT_SPEED / peak) if peak > MAX_JOINT_SPEED else qd


class ScriptHost(Protocol):
    """What the program sees of the controller."""

    twin: URTwin

    def read_int(self, index: int) -> int: ...

    def read_double(self, index: int) -> float: ...

    def write_int(self, index: int, value: int) -> None: ...

    def record(self, kind: str, **data: object) -> None: ...

    def set_watchdog(self, variable: str, min_frequency: float) -> None: ...

    def trigger_protective_stop(self) -> None: ...


class ProgramError(RuntimeError):
    """A URScript runtime error: the program ends."""


class RtdeControlProgram:
    """One run of ur_rtde's control script (from upload to its end)."""

    def __init__(self, host: ScriptHost, reg_offset: int = 0) -> None:
        self.host = host
        self.off = reg_offset
        self.started = False
        self.finished = False  # the main loop ended (stopScript)
        self._executing = False
        self._blocking: tuple[int, Callable[[], bool]] | None = None
        self._speed: tuple[np.ndarray, float] | None = None  # the speed thread's target
        self._move_thread = False
        self._stop_thread = False
        self._async_count = 0
        self._async_op = 0
        self._unsupported = -1

    # ------------------------------------------------------------- registers
    def _in_int(self, i: int) -> int:
        return self.host.read_int(i + self.off)

    def _in_double(self, i: int) -> float:
        return self.host.read_double(i + self.off)

    def _joints(self, first: int) -> np.ndarray:
        return np.array([self._in_double(first + k) for k in range(6)])

    def _write_state(self, value: int) -> None:
        self.host.write_int(0 + self.off, value)

    def _async_progress(self, value: int) -> None:
        """The script's ``write_async_progress_register``: bits 24-30 operation id, 16-23 a
        change counter, bit 15 "running" with the progress in bits 0-14."""
        self._async_count = (self._async_count + 1) % 128
        if value == 0:
            self._async_op = (self._async_op + 1) % 128
        reg = self._async_count * 65536 + self._async_op * 16777216
        if value >= 0:
            reg += min(value, 32767) + 32768
        self.host.write_int(2 + self.off, reg)

    # ------------------------------------------------------------------ loop
    def step(self) -> None:
        """One controller period of the script: its threads, then the main loop to ``sync()``."""
        if self.finished:
            return
        self._run_threads()
        if not self.started:
            self.started = True
            self._async_progress(-1)
            self._write_state(READY)
        if self._blocking is not None:
            cmd, done = self._blocking
            if not done():
                return
            self._blocking = None
            self._finish(cmd)
            return
        cmd = self._in_int(0)
        if cmd in REALTIME_COMMANDS:
            self._process(cmd)
            if self._blocking is None:
                self._write_state(READY)
        elif cmd == 0:
            self._executing = False
            self._write_state(READY)
        elif not self._executing:
            self._executing = True
            self.host.record("command_received", cmd=cmd)
            self._process(cmd)
            if self._blocking is None:
                self._finish(cmd)

    def _finish(self, cmd: int) -> None:
        """``process_cmd`` returned: "done" (a real-time command's loop says "ready" at once)."""
        if cmd == STOP_SCRIPT:
            self.finished = True
            return
        self._write_state(READY if cmd in REALTIME_COMMANDS else DONE)
        self.host.record("command_done", cmd=cmd)

    # --------------------------------------------------------------- threads
    def _run_threads(self) -> None:
        twin = self.host.twin
        if self._move_thread and not twin.move_active:
            self._move_thread = False
            self._async_progress(-1)
        if self._stop_thread and not twin.moving:
            self._stop_thread = False
            self._async_progress(-1)
        if self._speed is not None:
            if self._move_thread or self._stop_thread:
                raise ProgramError("Another thread is already controlling the robot")
            twin.command_speed(_limited(self._speed[0]), self._speed[1])

    def _claim_motion(self) -> None:
        """The main thread starts a motion: no other thread may be commanding one."""
        if self._speed is not None or self._move_thread or self._stop_thread:
            raise ProgramError("Another thread is already controlling the robot")

    def _block_until(self, cmd: int, done: Callable[[], bool]) -> None:
        self._blocking = (cmd, done)

    def _kill_move_thread(self) -> None:
        if self._move_thread:
            self._move_thread = False
            self._async_progress(-1)

    # -------------------------------------------------------------- commands
    def _process(self, cmd: int) -> None:
        twin = self.host.twin
        if cmd == MOVEJ:
            q, speed, accel = self._joints(0), self._in_double(6), self._in_double(7)
            _finite("movej", q)
            _finite("movej", speed, accel, positive=True)
            speed = min(speed, MAX_JOINT_SPEED)
            self._kill_move_thread()
            if self._in_int(1) == 1:  # async: a move thread
                self._claim_motion()
                twin.command_move(q, speed, accel)
                self._move_thread = True
                self._async_progress(0)
            else:
                self._claim_motion()
                twin.command_move(q, speed, accel)
                self._block_until(cmd, lambda: not twin.move_active)
        elif cmd == SPEEDJ:
            starting = self._speed is None
            self._speed = (self._joints(0), self._in_double(6))
            _finite("speedj", *self._speed)
            if starting:  # the speed thread starts and commands this period; later targets
                self._run_threads()  # reach it when its running speedj returns (next period)
        elif cmd in (SPEED_STOP, SERVO_STOP):
            self._speed = None  # kill the speed (servo) thread, then stop in the main thread
            self._stop_in_main(cmd, self._in_double(0))
        elif cmd in (STOPJ, STOPL):
            decel, is_async = self._in_double(0), self._in_int(1) == 1
            stop_move = not self._stop_thread  # a running async stop already stopped the move
            if self._stop_thread:
                self._stop_thread = False
                self._async_progress(-1)
            if stop_move:
                self._kill_move_thread()
            if is_async:
                _finite("stopj", decel, positive=True)
                self._claim_motion()
                twin.command_stop(decel)
                self._stop_thread = True
                self._async_progress(0)
            else:
                self._stop_in_main(cmd, decel)
        elif cmd == SET_WATCHDOG:
            self.host.set_watchdog(f"input_int_register_{0 + self.off}", self._in_double(0))
        elif cmd == PROTECTIVE_STOP:
            self.host.trigger_protective_stop()
        elif cmd == STOP_SCRIPT:
            pass  # "Received stop script!": the loop ends without "done"
        elif cmd != self._unsupported:  # recorded once, not every period of a real-time one
            self._unsupported = cmd
            self.host.record("unsupported_command", cmd=cmd)

    def _stop_in_main(self, cmd: int, decel: float) -> None:
        """``stopj(a)`` in the main thread: returns when the arm is at rest."""
        _finite("stopj", decel, positive=True)
        self._claim_motion()
        twin = self.host.twin
        twin.command_stop(decel)
        self._block_until(cmd, lambda: not twin.moving)

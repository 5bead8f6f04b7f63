"""The UR controller behind the twin's ports: registers, the running program, the RTDE
watchdogs, robot and safety modes, and the arm (:class:`~rt_avg.envs.ur5.twin.URTwin`).

Time is the controller's: ``step()`` runs one period (8 ms on CB3, 2 ms on e-Series); the
server calls it on the wall clock.  Every public method takes the controller lock, so the
network thread and a test's thread can both call in.

Facts used (sources in docs/ur5.md, "The wire twin"):

* a script arriving on a script port replaces the running program and starts after a short
  delay (``program_start_delay_s``, a guess);
* ``rtde_set_watchdog(variable, f, "stop")`` stops the program when no input package
  updating ``variable`` arrived for ``1 / f`` s; all watchdogs go when the program stops;
* a protective stop halts the arm and ends the program; the dashboard refuses the unlock
  until 5 s after the stop;
* ``robot_status_bits``: bit 0 power on, bit 1 program running; ``safety_status_bits``: bit 0
  normal, 2 protective stop, 3 recovery, 4 safeguard stop; ``runtime_state`` 1 stopped,
  2 playing (RTDE guide).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any


from rt_avg.envs.ur5.safety import MIN_UNLOCK_DELAY_S, SafetyMode
from rt_avg.envs.ur5.twin import EARLY_UNLOCK_MESSAGE, TwinConfig, URTwin
from rt_avg.envs.ur5.wire.events import EventLog
from rt_avg.envs.ur5.wire.program import ProgramError, RtdeControlProgram
from rt_avg.envs.ur5.wire.rtde_protocol import OUTPUT_TYPES, TYPE_FORMATS
from rt_avg.envs.ur5.workspace import Workspace

# RTDE guide values
RUNTIME_STOPPED, RUNTIME_PLAYING = 1, 2
ROBOT_MODE = {"POWER_OFF": 3, "POWER_ON": 4, "IDLE": 5, "RUNNING": 7}
JOINT_MODE_RUNNING, JOINT_MODE_IDLE, JOINT_MODE_POWER_OFF = 253, 255, 239
_SAFETY_BIT = {SafetyMode.NORMAL: 0, SafetyMode.REDUCED: 1, SafetyMode.PROTECTIVE_STOP: 2,
               SafetyMode.RECOVERY: 3, SafetyMode.SAFEGUARD_STOP: 4}

# ur_rtde injects the offset after the comment, so the value starts the next line:
# "global reg_offset_int = # int register offset\n0    global force_mode_type = 2"
_OFFSET_RE = re.compile(rb"global\s+reg_offset_int\s*=\s*(?:#[^\n]*\n)?\s*(\d+)")


@dataclass(frozen=True)
class ControllerConfig:
    """``version``: URControl version (major, minor, bugfix, build); 3.x is a CB3 (125 Hz),
    5.x an e-Series (500 Hz).  ``program_start_delay_s``: from the end of a script upload to
    the program running.  ``twin``: the arm model (its ``period_s`` is the controller period)."""

    version: tuple[int, int, int, int] = (3, 15, 7, 106331)
    program_start_delay_s: float = 0.2
    twin: TwinConfig = field(default_factory=TwinConfig)
    serial_number: str = "2018300000"
    model: str = "UR5"

    def __post_init__(self) -> None:
        if len(self.version) != 4 or self.version[0] not in (3, 5):
            raise ValueError(f"ControllerConfig.version must be (3|5, minor, bugfix, build), "
                             f"got {self.version}")
        if not 0.0 <= self.program_start_delay_s <= 10.0:
            raise ValueError("ControllerConfig.program_start_delay_s must be in [0, 10] s, got "
                             f"{self.program_start_delay_s}")

    @property
    def period_s(self) -> float:
        return self.twin.period_s

    @property
    def polyscope_version(self) -> str:
        return ".".join(str(v) for v in self.version)


class Controller:
    """The controller state machine; see the module docstring."""

    def __init__(self, config: ControllerConfig | None = None, workspace: Workspace | None = None,
                 initial_q: Any = None, events: EventLog | None = None) -> None:
        self.config = config or ControllerConfig()
        self.twin = URTwin(self.config.twin, workspace=workspace, initial_q=initial_q)
        self.twin.stop_program("no program yet")  # the controller boots with no program
        self.twin.program_stops.clear()
        self.events = events or EventLog()
        self.lock = threading.RLock()
        self.ints: dict[int, int] = {}  # input_int_register_N
        self.doubles: dict[int, float] = {}  # input_double_register_N
        self.other_inputs: dict[str, Any] = {}
        self.out_ints: dict[int, int] = {}
        self.out_doubles: dict[int, float] = {}
        self.program: RtdeControlProgram | IdleProgram | None = None
        self.program_name = "<unnamed>"  # what PolyScope shows with no .urp loaded (a guess)
        self.loaded_program: str | None = None
        self._pending: tuple[float, int] | None = None  # (start time, register offset)
        self.last_script = b""  # the latest script received on a script port
        self.watchdogs: dict[str, tuple[float, float]] = {}  # variable -> (limit s, last update)
        self.robot_mode = "RUNNING"
        self._pstops_seen = 0
        self._outputs: tuple[int, dict[str, Any]] | None = None

    # ------------------------------------------------------------------ time
    @property
    def t_s(self) -> float:
        return self.twin.t_s

    def record(self, kind: str, **data: Any) -> None:
        self.events.record(kind, self.t_s, **data)

    def step(self) -> None:
        """One controller period: start a due program, run the program, move the arm,
        check the watchdogs and the safety limits."""
        with self.lock:
            if self._pending is not None and self.t_s >= self._pending[0] - 1e-9:
                offset = self._pending[1]
                self._pending = None
                self._start_program(offset)
            if self.program is not None:
                try:
                    self.program.step()
                except ProgramError as exc:
                    self.record("runtime_error", message=str(exc))
                    self.stop_program("runtime_error")
                if self.program is not None and self.program.finished:
                    self.stop_program("stop_script")
            self.twin.advance(self.config.period_s)
            if self.twin.protective_stops != self._pstops_seen:
                self._on_protective_stop()
            self._check_watchdogs()

    # -------------------------------------------------------------- registers
    def read_int(self, index: int) -> int:
        return int(self.ints.get(index, 0))

    def read_double(self, index: int) -> float:
        return float(self.doubles.get(index, 0.0))

    def write_int(self, index: int, value: int) -> None:
        self.out_ints[index] = int(value)

    def write_inputs(self, values: dict[str, Any], at_s: float | None = None) -> None:
        """An input data package arrived (at controller time ``at_s``, default now):
        registers take the values, watchdogs are fed.  The server passes the wall clock's
        controller time, so a package that waited while the twin's process was starved
        counts from its arrival, not from the last period the twin managed to run."""
        stamp = self.t_s if at_s is None else max(self.t_s, at_s)
        with self.lock:
            for name, value in values.items():
                if name.startswith("input_int_register_"):
                    self.ints[int(name.rsplit("_", 1)[1])] = int(value)
                elif name.startswith("input_double_register_"):
                    self.doubles[int(name.rsplit("_", 1)[1])] = float(value)
                else:
                    self.other_inputs[name] = value
                if name in self.watchdogs:
                    limit, _ = self.watchdogs[name]
                    self.watchdogs[name] = (limit, stamp)

    # ---------------------------------------------------------------- program
    @property
    def program_running(self) -> bool:
        return self.program is not None

    def receive_script(self, script: bytes) -> None:
        """A script arrived on a script port: the running program stops, the new one starts
        ``program_start_delay_s`` later (if the robot can run it then)."""
        with self.lock:
            self.last_script = script
            match = _OFFSET_RE.search(script)
            is_rtde = b"def rtde_control():" in script
            self.record("script_received", bytes=len(script),
                        script="rtde_control" if is_rtde else "other")
            if self.program is not None:
                self.stop_program("replaced")
            if not is_rtde:
                return  # other scripts are not interpreted (see docs/ur5.md)
            offset = int(match.group(1)) if match else 0
            self._pending = (self.t_s + self.config.program_start_delay_s, offset)

    def _start_program(self, offset: int) -> None:
        if self.robot_mode != "RUNNING" or self.twin.protective_stop:
            self.record("program_start_refused", robot_mode=self.robot_mode,
                        safety_mode=self.twin.safety_mode.name)
            return
        self.twin.reupload_script()
        self.program = RtdeControlProgram(self, offset)
        self.record("program_started", reg_offset=offset)

    def play(self) -> bool:
        """The dashboard's ``play``: run the loaded program (False when none is loaded or the
        robot cannot run one)."""
        with self.lock:
            if (self.loaded_program is None or self.robot_mode != "RUNNING"
                    or self.twin.protective_stop):
                return False
            self.stop_program("replaced")
            self._pending = None
            self.twin.reupload_script()
            self.program = IdleProgram()
            self.record("program_started", program=self.loaded_program)
            return True

    def stop_program(self, reason: str) -> None:
        """The program ends (and with it every RTDE watchdog); the arm comes to rest."""
        with self.lock:
            self._pending = None if reason in ("dashboard", "power_off") else self._pending
            if self.program is None:
                return
            self.program = None
            self.watchdogs.clear()
            if not self.twin.protective_stop:
                self.twin.stop_program(reason)
            self.record("program_stopped", reason=reason)

    def restart_program(self) -> None:
        """Stop the program and start it again (as a re-upload of the same script would):
        the new run has no watchdog and reads whatever the registers hold."""
        with self.lock:
            offset = self.program.off if isinstance(self.program, RtdeControlProgram) else 0
            self.stop_program("restart")
            self._pending = (self.t_s + self.config.program_start_delay_s, offset)

    def set_watchdog(self, variable: str, min_frequency: float) -> None:
        if min_frequency <= 0.0:
            self.watchdogs.pop(variable, None)
            return
        self.watchdogs[variable] = (1.0 / min_frequency, self.t_s)
        self.record("watchdog_armed", variable=variable, min_frequency=min_frequency)

    def _check_watchdogs(self) -> None:
        for variable, (limit, last) in list(self.watchdogs.items()):
            if self.program is not None and self.t_s - last > limit + 1e-9:
                self.record("watchdog_fired", variable=variable, silent_s=self.t_s - last)
                self.stop_program("watchdog")
                return

    # ----------------------------------------------------------------- safety
    def trigger_protective_stop(self) -> None:
        with self.lock:
            self.twin.trigger_protective_stop()
            self._on_protective_stop()

    def _on_protective_stop(self) -> None:
        self._pstops_seen = self.twin.protective_stops
        self.record("protective_stop")
        self.stop_program("protective_stop")

    def unlock_protective_stop(self) -> str:
        """The dashboard's ``unlock protective stop``: the controller's reply text."""
        with self.lock:
            if self.twin.protective_stop:
                assert self.twin.protective_stop_at_s is not None
                if self.t_s - self.twin.protective_stop_at_s < MIN_UNLOCK_DELAY_S - 1e-9:
                    return EARLY_UNLOCK_MESSAGE.split(": ", 1)[1]
                self.twin.unlock_protective_stop()
                self.record("unlocked")
            return "Protective stop releasing"

    def power(self, mode: str) -> None:
        """``POWER_OFF`` (the program stops, the arm halts), ``IDLE`` (powered, brakes on) or
        ``RUNNING`` (brakes released)."""
        with self.lock:
            if mode == "POWER_OFF":
                self.stop_program("power_off")
            self.robot_mode = mode
            self.record("robot_mode", mode=mode)

    # ---------------------------------------------------------------- outputs
    def safety_status_bits(self) -> int:
        bit = _SAFETY_BIT.get(self.twin.safety_mode)
        return 0 if bit is None else 1 << bit

    def robot_status_bits(self) -> int:
        powered = self.robot_mode != "POWER_OFF"
        return (1 if powered else 0) | (2 if self.program is not None else 0)

    def outputs(self) -> dict[str, Any]:
        """Every output the twin models, for the current period (computed once per period)."""
        with self.lock:
            if self._outputs is not None and self._outputs[0] == self.twin.steps:
                return self._outputs[1]
            s = self.twin.observe()
            q, qd, pose = list(s.q), list(s.qd), list(s.tcp_pose)
            joint_mode = {"RUNNING": JOINT_MODE_RUNNING, "IDLE": JOINT_MODE_IDLE}.get(
                self.robot_mode, JOINT_MODE_POWER_OFF)
            out: dict[str, Any] = {
                "timestamp": self.t_s, "actual_q": q, "actual_qd": qd, "target_q": q,
                "target_qd": qd, "actual_TCP_pose": pose, "target_TCP_pose": pose,
                "robot_mode": ROBOT_MODE[self.robot_mode], "joint_mode": [joint_mode] * 6,
                "safety_mode": int(self.twin.safety_mode), "safety_status": int(self.twin.safety_mode),
                "runtime_state": RUNTIME_PLAYING if self.program is not None else RUNTIME_STOPPED,
                "robot_status_bits": self.robot_status_bits(),
                "safety_status_bits": self.safety_status_bits(),
                "speed_scaling": 1.0, "target_speed_fraction": 1.0,
                "actual_main_voltage": 48.0, "actual_robot_voltage": 48.0,
                "joint_temperatures": [30.0] * 6, "actual_execution_time": 0.5,
                "actual_joint_voltage": [48.0] * 6,
            }
            for i, v in self.out_ints.items():
                out[f"output_int_register_{i}"] = v
            for i, v in self.ints.items():
                out[f"input_int_register_{i}"] = v
            for i, v in self.doubles.items():
                out[f"input_double_register_{i}"] = v
            self._outputs = (self.twin.steps, out)
            return out

    def output_values(self, names: tuple[str, ...]) -> list[Any]:
        """Values of ``names`` in order; variables the twin does not model read as zero."""
        values = self.outputs()
        return [values[n] if n in values else _zero(OUTPUT_TYPES[n]) for n in names]

    def snapshot(self) -> dict[str, Any]:
        """A plain-data view of the controller for tests and the control channel."""
        with self.lock:
            s = self.twin.observe()
            return {
                "t_s": self.t_s, "q": s.q.tolist(), "qd": s.qd.tolist(),
                "tcp_pose": s.tcp_pose.tolist(), "program_running": self.program is not None,
                "program_pending": self._pending is not None,
                "safety_mode": int(self.twin.safety_mode), "robot_mode": self.robot_mode,
                "protective_stop": self.twin.protective_stop,
                "watchdogs": {k: v[0] for k, v in self.watchdogs.items()},
                "moving": bool(self.twin.moving), "script_state": self.out_ints.get(0, 0),
                "command": self.ints.get(0, 0),
            }


class IdleProgram:
    """A PolyScope program started with ``play``: the twin does not interpret .urp files, so
    it runs, doing nothing, until it is stopped."""

    off = 0
    finished = False

    def step(self) -> None:
        pass


def _zero(kind: str) -> Any:
    fmt = TYPE_FORMATS[kind]
    if fmt[0].isdigit():
        return [0] * int(fmt[0])
    return False if kind == "BOOL" else 0

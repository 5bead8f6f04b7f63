"""A Create 2 twin that speaks the Open Interface on a pseudo-terminal.

The driver connects to ``Emulator.port`` exactly as it would to ``/dev/ttyUSB0``.
``port`` is a stable symlink to the current ``/dev/pts/N``, so a dropped link can come
back "at the same path" like a re-plugged USB cable.

Clocks (``TwinConfig.clock``):

* ``"realtime"``: a background thread advances the simulation by wall time x
  ``time_scale`` and streams a frame every 15 ms of simulated time.
* ``"lockstep"``: simulated time stands still until ``advance(duration_s)`` is called;
  commands and queries are still served as they arrive.  With the same seed and the
  same commands this gives bit-identical sensor streams (used by the task's twin).

Sleep (docs/create2.md gives the sources): in Passive mode off the dock the robot sleeps
after ``sleep_after_s`` (5 min, OI spec) and a BRC pulse restarts that timer or wakes it (into
Off, waiting for Start).  On its dock in Passive mode it sleeps after ``dock_sleep_after_s``
(60 s, SenseAct): no frames, no answers; a BRC pulse wakes it for ``brc_awake_s`` (300 ms)
only and does not restart the timer.  Every mode command (Start, Safe, Full, Reset, Stop,
Seek Dock, the cleaning commands) restarts both timers and, heard while a pulse keeps the
robot awake, wakes it for good.  A pty carries no modem lines, so the cable's BRC wire is a
call, ``set_brc(low)``, which the task wires into the driver for the twin.

Firmware (``TwinConfig.firmware``, printed by Reset as ``r3_robot/tags/release-X.Y.Z``): the
distance packet is wrong before 3.3.0 and the angle packet up to 3.4.0 (OI spec, Appendix B).

Fault injection for tests: ``inject_bytes``, ``corrupt_next_frames``, ``drop_link``,
``set_powered`` (robot switched off: silent), plus world edits (``set_pose``,
``set_battery``, ``set_lifted``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import select
import shutil
import struct
import sys
import tempfile
import threading
import time
import tty
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from rt_avg.envs.create2 import oi
from rt_avg.envs.create2.oi import Mode, Opcode
from rt_avg.envs.create2.sim import ArenaConfig, Create2Sim
from rt_avg.envs.serve import serve_until_stopped

TICK_S = 0.015  # the robot's stream period
_MAX_CATCH_UP_TICKS = 20  # realtime: beyond this lag, skip ahead instead of bursting
#: what firmware up to 3.4.0 reports for the angle packet, per degree turned (the spec:
#: "the value returned must be divided by 0.324056 to get degrees")
LEGACY_ANGLE_FACTOR = 0.324056
#: the first firmware whose distance (19) and angle (20) packets are right (OI spec, App. B)
DISTANCE_FIXED_IN, ANGLE_FIXED_IN = (3, 3, 0), (3, 4, 1)
#: commands whose spec entry "changes mode to" something: they restart the sleep timers
_MODE_COMMANDS = frozenset({
    Opcode.START, Opcode.RESET, Opcode.STOP, Opcode.SAFE, Opcode.CONTROL, Opcode.FULL,
    Opcode.POWER, Opcode.SPOT, Opcode.CLEAN, Opcode.MAX, Opcode.SEEK_DOCK,
})


@dataclass(frozen=True)
class TwinConfig:
    """Options of the twin; ``link_path=None`` makes a symlink in a fresh temp folder."""

    clock: Literal["realtime", "lockstep"] = "realtime"
    time_scale: float = 1.0
    link_path: str | None = None
    seed: int = 0
    arena: ArenaConfig = field(default_factory=ArenaConfig)
    #: Passive-mode sleep timer off the dock (robot seconds; OI spec: 5 min); None: never
    sleep_after_s: float | None = 300.0
    #: Passive-mode sleep timer on the dock (robot seconds; SenseAct: 60 s); None: never
    dock_sleep_after_s: float | None = 60.0
    #: how long a BRC pulse wakes a robot asleep on its dock (robot seconds; SenseAct: 300 ms)
    brc_awake_s: float = 0.3
    #: firmware version "X.Y.Z": before 3.3.0 the distance packet reads 0 (wrong; the value is
    #: a guess), up to 3.4.0 the angle packet reads degrees x 0.324056 (OI spec)
    firmware: str = "3.4.1"
    #: start on the dock with the OI in Passive (as left after docking), e.g. to watch it sleep
    start_docked: bool = False

    def __post_init__(self) -> None:
        for name in ("sleep_after_s", "dock_sleep_after_s"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0.0):
                raise ValueError(f"{name} must be > 0 (robot seconds) or None; got {value!r}")
        if not (isinstance(self.brc_awake_s, (int, float)) and self.brc_awake_s >= 0.0):
            raise ValueError(f"brc_awake_s must be >= 0 (robot seconds); got {self.brc_awake_s!r}")
        firmware_version(self.firmware)  # raises naming the field
        if self.start_docked and self.arena.dock_wall is None:
            raise ValueError("start_docked=True needs an arena with a dock (dock_wall not None)")
        if self.clock not in ("realtime", "lockstep"):
            raise ValueError(f"twin clock must be 'realtime' or 'lockstep'; got {self.clock!r}")
        if not (isinstance(self.time_scale, (int, float)) and 0.01 <= self.time_scale <= 1000.0):
            raise ValueError(f"time_scale must be a number in [0.01, 1000]; got {self.time_scale!r}")


@dataclass(frozen=True)
class TwinState:
    """A consistent snapshot of the twin for tests and tools."""

    mode: Mode
    left_mm_s: float
    right_mm_s: float
    requested_left_mm_s: int
    requested_right_mm_s: int
    x_mm: float
    y_mm: float
    heading_deg: float
    docked: bool
    battery_mah: float
    streaming: bool
    stream_ids: tuple[int, ...]
    sim_time_s: float
    frames_sent: int
    rx_bytes: int
    tx_dropped_bytes: int
    link_up: bool
    opcodes_seen: dict[int, int]
    asleep: bool
    powered: bool
    brc_pulses_s: tuple[float, ...]  # wall-clock length of each BRC low pulse, oldest first


class Emulator:
    """Serves one Create 2 on a pty until ``close()``; thread-safe."""

    def __init__(self, config: TwinConfig | None = None) -> None:
        self.config = config or TwinConfig()
        self._lock = threading.RLock()
        self._rx_cond = threading.Condition(self._lock)
        self._sim = Create2Sim(self.config.arena, self.config.seed)
        self._firmware = firmware_version(self.config.firmware)
        self._parser = oi.CommandParser()
        self._mode = Mode.OFF
        self._stream_ids: tuple[int, ...] = ()
        self._streaming = False
        self._requested = {39: 0, 40: 0, 41: 0, 42: 0}
        self._song = 0
        self._was_docked = self._sim.docked
        self._corrupt_frames = 0
        self._frames_sent = self._rx_bytes = self._tx_dropped = self._ticks = 0
        self._lockstep_target_s = 0.0
        self._opcodes: Counter[int] = Counter()
        self._powered = True
        self._asleep = False
        self._timer_since = 0.0  # robot time the sleep timer (re)started
        self._woken_until: float | None = None  # asleep on the dock, woken by BRC until then
        self._brc_low_since: float | None = None  # wall time BRC went low
        self._brc_pulses: list[float] = []
        self._closed = False
        self._timers: list[threading.Timer] = []
        self._own_dir: str | None = None
        if self.config.link_path is None:
            self._own_dir = tempfile.mkdtemp(prefix="rt-avg-create2-")
            self._link = os.path.join(self._own_dir, "ttyCreate2")
        else:
            self._link = os.path.abspath(self.config.link_path)
            if os.path.lexists(self._link) and not os.path.islink(self._link):
                raise ValueError(f"link_path {self._link} exists and is not a symlink; "
                                 "the twin only replaces its own symlinks")
        if self.config.start_docked:
            self._place_on_dock()
        self._master = self._keeper = -1
        self._pts = ""
        self._open_link()
        self._wake_r, self._wake_w = os.pipe()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._serve, name="create2-twin", daemon=True)
        self._thread.start()

    # ---- public API ---------------------------------------------------------------
    @property
    def port(self) -> str:
        """Stable path to connect to (a symlink to the current pty)."""
        return self._link

    @property
    def pts_path(self) -> str:
        return self._pts

    @property
    def rx_bytes(self) -> int:
        """Bytes received from the host since the twin started (all links)."""
        with self._lock:
            return self._rx_bytes

    def wait_rx(self, total_bytes: int, timeout_s: float = 2.0) -> None:
        """Block until ``total_bytes`` host bytes have been received and executed."""
        with self._rx_cond:
            if not self._rx_cond.wait_for(lambda: self._rx_bytes >= total_bytes, timeout_s):
                raise TimeoutError(f"twin received {self._rx_bytes} of {total_bytes} host bytes "
                                   f"within {timeout_s} s")

    def advance(self, duration_s: float, *, rx_barrier: int | None = None,
                timeout_s: float = 5.0) -> int:
        """Lockstep only: first wait until ``rx_barrier`` host bytes were executed, then
        simulate ``duration_s`` (in 15 ms ticks; fractions carry over to the next call).
        Returns the number of stream frames written."""
        if self.config.clock != "lockstep":
            raise RuntimeError("advance() needs TwinConfig(clock='lockstep')")
        with self._rx_cond:
            if rx_barrier is not None:
                self.wait_rx(rx_barrier, timeout_s)
            self._lockstep_target_s += duration_s
            sent = 0
            while (self._ticks + 1) * TICK_S <= self._lockstep_target_s + 1e-9:
                sent += self._tick()
            return sent

    def snapshot(self) -> TwinState:
        with self._lock:
            s = self._sim
            return TwinState(
                mode=self._mode, left_mm_s=s.left_mm_s, right_mm_s=s.right_mm_s,
                requested_left_mm_s=self._requested[42], requested_right_mm_s=self._requested[41],
                x_mm=s.x, y_mm=s.y, heading_deg=math.degrees(s.theta), docked=s.docked,
                battery_mah=s.battery_mah, streaming=self._streaming, stream_ids=self._stream_ids,
                sim_time_s=s.t_s, frames_sent=self._frames_sent, rx_bytes=self._rx_bytes,
                tx_dropped_bytes=self._tx_dropped, link_up=self._master >= 0,
                opcodes_seen=dict(self._opcodes), asleep=self._asleep, powered=self._powered,
                brc_pulses_s=tuple(self._brc_pulses))

    def reset_world(self, seed: int) -> None:
        """Restart the world from the seed (pose, noise, and the battery unless
        ``arena.battery_carries_over``); the OI state (mode, stream, sleep timers) is kept."""
        with self._lock:
            self._sim.reset_world(seed)
            self._was_docked = self._sim.docked

    def set_pose(self, x_mm: float, y_mm: float, heading_deg: float) -> None:
        with self._lock:
            self._sim.set_pose(x_mm, y_mm, heading_deg)
            self._was_docked = self._sim.docked

    def set_battery(self, charge_mah: float) -> None:
        with self._lock:
            self._sim.battery_mah = float(charge_mah)

    def set_lifted(self, lifted: bool) -> None:
        """Pick the robot up (both wheel drops) or put it down."""
        with self._lock:
            self._sim.lifted = bool(lifted)

    def set_brc(self, low: bool) -> None:
        """Drive the BRC pin (True: pulled low); pulse lengths are recorded (wall clock).

        A falling edge off the dock restarts the 5-minute sleep timer, or wakes a sleeping
        robot into Off (OI spec).  On the dock it wakes a sleeping robot for ``brc_awake_s``
        only and leaves the 60 s timer alone (SenseAct)."""
        with self._lock:
            now = time.monotonic()
            if low and self._brc_low_since is None:
                self._brc_low_since = now
                self._brc_falling_edge()
            elif not low and self._brc_low_since is not None:
                self._brc_pulses.append(now - self._brc_low_since)
                self._brc_low_since = None

    def set_powered(self, powered: bool) -> None:
        """Switch the robot off (silent, wheels stopped, deaf) or on again (OI in Off)."""
        with self._lock:
            if not powered:
                self._stop_wheels()
            elif not self._powered:
                self._mode, self._streaming, self._stream_ids = Mode.OFF, False, ()
                self._asleep, self._woken_until = False, None
            self._powered = bool(powered)

    def inject_bytes(self, data: bytes) -> None:
        """Write raw bytes onto the robot-to-host line, between frames."""
        with self._lock:
            self._send(bytes(data))

    def corrupt_next_frames(self, count: int) -> None:
        """Send the next ``count`` stream frames with a wrong checksum."""
        with self._lock:
            self._corrupt_frames += int(count)

    def drop_link(self, down_s: float) -> None:
        """Unplug: close the pty (the host sees an I/O error) and remove the symlink;
        after ``down_s`` a new pty appears at the same path.  Robot state is kept."""
        with self._lock:
            self._close_link()
            if os.path.islink(self._link):
                os.unlink(self._link)
            timer = threading.Timer(down_s, self._restore_link)
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        self._wake()

    def close(self) -> None:
        """Stop serving, close the pty and remove the symlink; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for timer in self._timers:
                timer.cancel()
        self._wake()
        self._thread.join(timeout=2.0)
        with self._lock:
            self._close_link()
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
            self._wake_r = self._wake_w = -1
            if os.path.islink(self._link):
                os.unlink(self._link)
            if self._own_dir is not None:
                shutil.rmtree(self._own_dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- link ---------------------------------------------------------------------
    def _open_link(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: the line is binary
        os.set_blocking(master, False)
        # The twin keeps the slave open itself so the master never sees a hang-up
        # while the host is between connections.
        self._master, self._keeper, self._pts = master, slave, os.ttyname(slave)
        tmp = self._link + ".tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self._pts, tmp)
        os.replace(tmp, self._link)

    def _close_link(self) -> None:
        for fd in (self._master, self._keeper):
            if fd >= 0:
                os.close(fd)
        self._master = self._keeper = -1

    def _restore_link(self) -> None:
        with self._lock:
            if not self._closed and self._master < 0:
                self._open_link()
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            if self._wake_w < 0:
                return
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass

    def _send(self, data: bytes) -> int:
        """Write to the host; realtime drops what the line cannot take (like a UART),
        lockstep waits for the host to read (back-pressure keeps runs identical)."""
        if self._master < 0:
            self._tx_dropped += len(data)
            return 0
        view, deadline = memoryview(data), time.monotonic() + 1.0
        while view:
            try:
                view = view[os.write(self._master, view):]
            except BlockingIOError:
                if self.config.clock == "realtime" or time.monotonic() > deadline:
                    break
                select.select([], [self._master], [], 0.05)
            except OSError:
                break
        self._tx_dropped += len(view)
        return len(data) - len(view)

    # ---- serving loop -------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                master = self._master
            timeout = 0.05
            if self.config.clock == "realtime":
                next_wall = self._t0 + (self._ticks + 1) * TICK_S / self.config.time_scale
                timeout = min(timeout, max(0.0, next_wall - time.monotonic()))
            fds = [self._wake_r] + ([master] if master >= 0 else [])
            try:
                readable, _, _ = select.select(fds, [], [], timeout)
            except (OSError, ValueError):  # fd closed under us by drop_link/close
                readable = []
            if self._wake_r in readable:
                os.read(self._wake_r, 512)
            if master in readable:
                self._read_host(master)
            if self.config.clock == "realtime":
                with self._lock:
                    if not self._closed:
                        self._run_due_ticks()

    def _read_host(self, master: int) -> None:
        with self._rx_cond:
            if master != self._master:
                return
            try:
                data = os.read(master, 4096)
            except OSError:  # EAGAIN, or EIO while the link changes
                return
            self._rx_bytes += len(data)
            for opcode, args in self._parser.feed(data):
                self._execute(opcode, args)
            self._rx_cond.notify_all()

    def _run_due_ticks(self) -> None:
        due = int((time.monotonic() - self._t0) * self.config.time_scale / TICK_S)
        if due - self._ticks > _MAX_CATCH_UP_TICKS:
            self._ticks = due - 1  # fell far behind (suspended?): skip, don't burst
        while self._ticks < due:
            self._tick()

    # ---- sleep --------------------------------------------------------------------
    def _robot_time(self) -> float:
        """Seconds of robot time since the twin started (a world reset does not restart it)."""
        return self._ticks * TICK_S

    def _restart_sleep_timer(self) -> None:
        self._timer_since = self._robot_time()
        self._woken_until = None  # a robot woken by BRC now stays awake

    def _enter_passive(self) -> None:
        if self._mode != Mode.PASSIVE:
            self._restart_sleep_timer()  # the sleep timer starts on entering Passive
        self._mode = Mode.PASSIVE

    def _place_on_dock(self) -> None:
        dock = self.config.arena.dock_pose()
        assert dock is not None  # checked by TwinConfig
        x, y, facing = dock
        self._sim.set_pose(x, y, math.degrees(facing + math.pi))  # facing the dock
        self._was_docked = True
        self._mode = Mode.PASSIVE

    def _brc_falling_edge(self) -> None:
        if not self._powered:
            return
        t = self._robot_time()
        if self._asleep and self._sim.docked:
            self._asleep = False  # awake for a moment (SenseAct: "around 300ms")
            self._woken_until = t + self.config.brc_awake_s
        elif self._asleep:
            self._asleep = False  # awake, OI in Off until Start
            self._timer_since = t
        elif self._woken_until is not None:
            self._woken_until = t + self.config.brc_awake_s
        elif not self._sim.docked:
            self._timer_since = t  # "each pulse resets this five minute counter"

    def _sleep_due(self, docked: bool) -> bool:
        if self._mode != Mode.PASSIVE or self._asleep or self._woken_until is not None:
            return False
        limit = self.config.dock_sleep_after_s if docked else self.config.sleep_after_s
        return limit is not None and self._robot_time() - self._timer_since >= limit - 1e-9

    def _update_sleep(self, docked: bool) -> None:
        """Fall asleep when the timer runs out, or again when a BRC wake-up ends."""
        woken_out = self._woken_until is not None and self._robot_time() >= self._woken_until - 1e-9
        if not (woken_out or self._sleep_due(docked)):
            return
        self._woken_until = None
        self._asleep = True  # silent and deaf to the serial line
        self._stop_wheels()
        if not docked:
            self._mode, self._streaming = Mode.OFF, False  # power saving: OI Off

    # ---- ticks --------------------------------------------------------------------
    def _tick(self) -> int:
        """One 15 ms step: physics, Safe-mode reflexes, the sleep timers, a stream frame."""
        sim = self._sim
        sim.charger_enabled = self._mode in (Mode.OFF, Mode.PASSIVE)
        sim.step(TICK_S)
        self._ticks += 1
        docked = sim.docked
        if docked and not self._was_docked:
            self._timer_since = self._robot_time()  # on the dock: its own timer starts
        if self._mode == Mode.SAFE:
            forward = sim.left_mm_s + sim.right_mm_s > 0
            # "Charger plugged in and powered" is a Safe-mode condition: on the dock, Safe
            # reverts to Passive (and the dock charges again)
            if any(sim.wheel_drops()) or (sim.cliff_detected() and forward) or docked:
                self._enter_passive()
                self._stop_wheels()
        self._was_docked = docked
        self._update_sleep(docked)
        if not (self._powered and not self._asleep and self._streaming and self._stream_ids
                and self._master >= 0):
            return 0
        frame = bytearray(oi.encode_stream_frame(self._stream_ids, self._read(self._stream_ids)))
        if self._corrupt_frames > 0:
            self._corrupt_frames -= 1
            frame[-1] ^= 0x5A
        self._send(bytes(frame))
        self._frames_sent += 1
        return 1

    # ---- OI semantics -------------------------------------------------------------
    def _read(self, packet_ids: tuple[int, ...]) -> dict[int, int]:
        angle_scale = 1.0 if self._firmware >= ANGLE_FIXED_IN else LEGACY_ANGLE_FACTOR
        values = self._sim.read(packet_ids, angle_scale=angle_scale)
        if self._firmware < DISTANCE_FIXED_IN and oi.DISTANCE in values:
            values[oi.DISTANCE] = 0  # "an incorrect value"; the spec does not say which
        values.update({35: int(self._mode), 36: self._song, 37: 0, 38: len(self._stream_ids)})
        values.update(self._requested)
        return values

    def _stop_wheels(self) -> None:
        self._sim.seeking_dock = False
        self._sim.set_wheels(0.0, 0.0)

    def _set_wheels(self, left: float, right: float) -> None:
        limit = oi.MAX_WHEEL_SPEED_MM_S
        self._sim.seeking_dock = False
        self._sim.set_wheels(max(-limit, min(limit, left)), max(-limit, min(limit, right)))

    def _execute(self, opcode: int, args: bytes) -> None:
        self._opcodes[opcode] += 1
        if not self._powered or self._asleep:
            return  # switched off or asleep: the serial line is not listened to
        if self._mode == Mode.OFF and opcode not in (Opcode.START, Opcode.RESET):
            return  # in Off the OI only listens for Start
        if opcode in _MODE_COMMANDS:
            self._restart_sleep_timer()
        driving = self._mode in (Mode.SAFE, Mode.FULL)
        if opcode in (Opcode.START, Opcode.POWER, Opcode.SPOT, Opcode.CLEAN, Opcode.MAX):
            self._enter_passive()  # cleaning modes are not simulated: they just stop
            self._stop_wheels()
        elif opcode in (Opcode.RESET, Opcode.STOP):
            self._mode = Mode.OFF
            self._streaming, self._stream_ids = False, ()
            self._stop_wheels()
            if opcode == Opcode.RESET:
                self._send(reset_banner(self.config.firmware))
        elif opcode in (Opcode.SAFE, Opcode.CONTROL, Opcode.FULL):
            self._mode = Mode.FULL if opcode == Opcode.FULL else Mode.SAFE
            self._stop_wheels()
        elif opcode == Opcode.SEEK_DOCK:
            self._enter_passive()
            self._sim.seeking_dock = True
        elif opcode == Opcode.DRIVE_DIRECT and driving:
            right, left = struct.unpack(">hh", args)
            self._requested[41], self._requested[42] = right, left
            self._set_wheels(left, right)
        elif opcode == Opcode.DRIVE and driving:
            velocity, radius = struct.unpack(">hh", args)
            self._requested[39], self._requested[40] = velocity, radius
            self._set_wheels(*_drive_to_wheels(velocity, radius))
        elif opcode == Opcode.DRIVE_PWM and driving:
            right, left = (max(-255, min(255, v)) * 500.0 / 255.0 for v in struct.unpack(">hh", args))
            self._set_wheels(left, right)
        elif opcode == Opcode.PLAY and driving:
            self._song = args[0]
        elif opcode == Opcode.SENSORS and oi.is_known_packet(args[0]):
            self._send(oi.encode_packets([args[0]], self._read((args[0],))))
        elif opcode == Opcode.QUERY_LIST:
            ids = tuple(args[1:])
            if ids and all(oi.is_known_packet(i) for i in ids):
                self._send(oi.encode_packets(ids, self._read(ids)))
        elif opcode == Opcode.STREAM:
            ids = tuple(args[1:])
            if all(oi.is_known_packet(i) for i in ids):
                self._stream_ids, self._streaming = ids, bool(ids)
        elif opcode == Opcode.PAUSE_RESUME_STREAM:
            self._streaming = bool(args[0]) and bool(self._stream_ids)
        # Everything else (Baud, Motors, LEDs, Song, schedules, buttons, ...) is parsed
        # with its own length and ignored, so the command stream never desynchronises.


def firmware_version(text: str) -> tuple[int, int, int]:
    """``"3.4.1"`` -> ``(3, 4, 1)``; a ValueError names the field otherwise."""
    parts = text.split(".") if isinstance(text, str) else []
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"firmware must be a version 'X.Y.Z' such as '3.4.1'; got {text!r}")
    major, minor, patch = (int(p) for p in parts)
    return major, minor, patch


def reset_banner(firmware: str) -> bytes:
    """What Reset (7) prints; the spec: the welcome message "will include the firmware
    version, for example: r3_robot/tags/release-3.3.0" (the rest of the text is made up)."""
    return f"bl-start\r\nrt-avg create2 twin\r\nr3_robot/tags/release-{firmware}\r\n".encode()


def _drive_to_wheels(velocity: int, radius: int) -> tuple[float, float]:
    """Drive (137) -> (left, right) wheel speeds; special radii per the OI spec: 0x8000 and
    0x7FFF straight, 0xFFFF (-1) clockwise and 0x0001 counter-clockwise in place.  Velocity
    0 stops whatever the radius (``Drive 0 0`` is a common stop command).  Radius 0 is not
    defined by the spec; the twin drives straight rather than divide by zero."""
    v = float(velocity)
    if v == 0.0:
        return 0.0, 0.0
    if radius in (32767, -32768, 0):
        return v, v
    if radius == 1:
        return -v, v  # turn in place counter-clockwise
    if radius == -1:
        return v, -v
    r = float(max(-2000, min(2000, radius)))
    half = oi.WHEEL_BASE_MM / 2.0
    return v * (r - half) / r, v * (r + half) / r


def main(argv: list[str] | None = None) -> int:
    """Run a realtime twin until SIGINT/SIGTERM; the first stdout line is its port."""
    parser = argparse.ArgumentParser(
        prog="rt-avg twin create2",
        description="iRobot Create 2 twin on a pseudo-terminal (Open Interface, 115200 8N1).")
    parser.add_argument("--link", default=None,
                        help="stable symlink path to create (default: in a fresh temp folder)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="simulated seconds per wall-clock second (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="world seed (start pose, noise)")
    parser.add_argument("--width-mm", type=float, default=ArenaConfig.width_mm)
    parser.add_argument("--height-mm", type=float, default=ArenaConfig.height_mm)
    parser.add_argument("--no-dock", action="store_true", help="arena without a dock")
    parser.add_argument("--docked", action="store_true",
                        help="start on the dock in Passive mode (it falls asleep after "
                             "--dock-sleep-s of robot time unless a mode command comes)")
    defaults = TwinConfig()
    parser.add_argument("--dock-sleep-s", type=float, default=defaults.dock_sleep_after_s,
                        help="robot seconds in Passive mode on the dock before it sleeps "
                             f"(default {defaults.dock_sleep_after_s:g})")
    parser.add_argument("--firmware", default=defaults.firmware,
                        help=f"firmware version X.Y.Z (default {defaults.firmware})")
    args = parser.parse_args(argv)
    try:
        arena = ArenaConfig(width_mm=args.width_mm, height_mm=args.height_mm,
                            dock_wall=None if args.no_dock else "left")
        config = dataclasses.replace(
            defaults, clock="realtime", time_scale=args.time_scale, link_path=args.link,
            seed=args.seed, arena=arena, dock_sleep_after_s=args.dock_sleep_s,
            firmware=args.firmware, start_docked=args.docked)
        emulator = Emulator(config)
    except (ValueError, OSError) as exc:
        print(f"rt-avg twin create2: {exc}", file=sys.stderr)
        return 2
    banner = (f"create2 twin on {emulator.port} -> {emulator.pts_path} (115200 8N1, firmware "
              f"{config.firmware}); Ctrl-C to stop")
    if args.docked:
        banner += (f"\non its dock in Passive mode: it stops answering after "
                   f"{args.dock_sleep_s:g} s of robot time "
                   f"({args.dock_sleep_s / args.time_scale:g} s of wall time) unless a mode "
                   "command (Start, Safe, Full) restarts the timer")
    return serve_until_stopped(emulator.port, banner, emulator.close)


if __name__ == "__main__":
    raise SystemExit(main())

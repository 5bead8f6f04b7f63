"""Create 2 driver: the Open Interface over pyserial, with a reader thread.

Lifecycle::

    driver = Create2Driver(DriverConfig(port="/dev/ttyUSB0"))
    driver.open()                 # [BRC low], Start, pause stream, Safe|Full, check, Stream
    driver.drive_direct(left_mm_s=100, right_mm_s=100)
    frame = driver.fresh_frame()  # never blocks; raises if the robot has gone silent
    driver.close()                # pause stream, wheels 0/0, Stop; also on errors

The reader thread owns the port after ``open``: it parses frames, and on an I/O error it
closes the port and reconnects (bounded attempts, the full start-up again, wheels
stopped); writers wait for it, or get ``Create2LinkError`` once it has given up.

Watchdogs, because the OI has none of its own:

* commands: a moving command not refreshed within ``command_timeout_s`` becomes a stop,
  so a stalled learner never leaves the robot driving;
* frames: no stream frame for ``frame_timeout_s`` (robot off, asleep, stream paused) stops
  the wheels and makes ``fresh_frame``/``check_alive`` and moving commands raise
  :class:`Create2SilentError` until frames come again;
* the process: with ``guard=True`` a separate guard process (:mod:`rt_avg.envs.create2.guard`)
  stops the wheels when this process dies or freezes.

Distance and angle come from the wheel encoders (packets 43 and 44: mm = counts * pi * 72 /
508.8, wheel base 235 mm, counters wrapping at 16 bits) as the OI spec advises: packets 19
and 20 are wrong on firmware before 3.3.0 (distance) and up to 3.4.0 (angle).
"""

from __future__ import annotations

import errno
import logging
import math
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import serial

from rt_avg.envs.create2 import guard as guard_module
from rt_avg.envs.create2 import oi
from rt_avg.envs.create2.oi import Mode, Opcode

log = logging.getLogger(__name__)

#: Packets streamed by default: everything the Mover task and its reset need.
DEFAULT_STREAM_PACKETS: tuple[int, ...] = (
    7, 9, 10, 11, 12, 21, 22, 23, 25, 26, 34, 35, 41, 42, 43, 44, 45,
    46, 47, 48, 49, 50, 51, 58,
)
ENCODERS = (43, 44)
#: more wheel travel than this between two good frames (15 ms apart, a few more if frames
#: were lost; 500 mm/s at most) means the counters were restarted, not that the robot moved
_MAX_FRAME_TRAVEL_MM = 200.0
#: BRC held low this long by the wake-up at start-up.  The falling edge wakes the robot; a
#: robot asleep on its dock stays awake only about 300 ms after it (SenseAct), so the
#: start-up commands go out while the pin is still low.  The spec's own keep-awake example
#: is a 1 s pulse; its baud-rate change is three pulses of 50-500 ms, so 1 s stays clear.
WAKE_PULSE_S = 1.0
#: wheels stopped, written whenever the robot must stop
STOP_WHEELS = oi.drive_direct(left_mm_s=0, right_mm_s=0)
#: stream paused and OI Stop, written after STOP_WHEELS when the session ends
SIGN_OFF = oi.pause_resume_stream(False) + oi.single(Opcode.STOP)
#: what the guard writes when the driver's process is gone: Safe mode first, which ends a
#: Seek Dock (in Passive mode wheel commands are ignored), then wheels 0/0 and sign-off
ORPHAN_STOP = oi.single(Opcode.SAFE) + STOP_WHEELS + SIGN_OFF


def _wrap16(delta: int) -> int:
    """A difference of two 16-bit counter readings, across the wrap."""
    return (delta + 32768) % 65536 - 32768

class Create2LinkError(RuntimeError):
    """The serial link to the robot is unusable (start-up failed or reconnects ran out)."""


class Create2SilentError(Create2LinkError):
    """The port is open but the robot sends nothing (off, asleep, stream paused)."""


@dataclass(frozen=True)
class DriverConfig:
    """Connection settings; validated on construction."""

    port: str
    oi_mode: Literal["safe", "full"] = "safe"
    brc_wake: bool = False
    stream_packets: tuple[int, ...] = DEFAULT_STREAM_PACKETS
    speed_limit_mm_s: float = 500.0
    reconnect_attempts: int = 5
    reconnect_delay_s: float = 0.2
    command_timeout_s: float | None = 1.0  # None disables the watchdog
    frame_timeout_s: float | None = 0.5  # silence before the robot counts as gone; None: off
    guard: bool = False  # a guard process stops the wheels if this process dies or freezes
    guard_freeze_s: float = 1.0  # the guard's patience with a frozen process
    mode_settle_s: float = 0.05
    frame_history: int = 1024

    def __post_init__(self) -> None:
        if not isinstance(self.port, str) or not self.port:
            raise ValueError(f"port must be a non-empty serial device path; got {self.port!r}")
        if self.oi_mode not in ("safe", "full"):
            raise ValueError(f"oi_mode must be 'safe' or 'full'; got {self.oi_mode!r}")
        object.__setattr__(self, "stream_packets", tuple(self.stream_packets))
        for pid in self.stream_packets:
            oi.members(pid)  # raises ValueError naming the unknown id
        streamed = {m for pid in self.stream_packets for m in oi.members(pid)}
        if not set(ENCODERS) <= streamed:
            raise ValueError("stream_packets must include the encoder packets 43 and 44 "
                             f"(distance and angle come from them); got {self.stream_packets}")
        if not 0.0 < self.speed_limit_mm_s <= oi.MAX_WHEEL_SPEED_MM_S:
            raise ValueError(f"speed_limit_mm_s must be in (0, 500]; got {self.speed_limit_mm_s}")
        if not (isinstance(self.reconnect_attempts, int) and self.reconnect_attempts >= 0):
            raise ValueError(f"reconnect_attempts must be an int >= 0; got {self.reconnect_attempts!r}")
        if self.reconnect_delay_s < 0.0:
            raise ValueError(f"reconnect_delay_s must be >= 0; got {self.reconnect_delay_s}")
        if self.command_timeout_s is not None and self.command_timeout_s <= 0.0:
            raise ValueError(f"command_timeout_s must be > 0 or None; got {self.command_timeout_s}")
        if self.frame_timeout_s is not None and not self.frame_timeout_s >= 0.05:
            raise ValueError("frame_timeout_s must be >= 0.05 s (frames come every 15 ms) or "
                             f"None; got {self.frame_timeout_s}")
        if not 0.1 <= self.guard_freeze_s <= 60.0:
            raise ValueError(f"guard_freeze_s must be in [0.1, 60] s; got {self.guard_freeze_s}")
        if self.frame_history < 16:
            raise ValueError(f"frame_history must be >= 16; got {self.frame_history}")


@dataclass(frozen=True)
class SensorFrame:
    """One good stream frame.

    ``seq`` counts good frames from 1 since ``open``; ``t_s`` is ``time.monotonic()`` at
    arrival; ``values`` maps single packet ids to integers.  ``left_counts`` and
    ``right_counts`` are the wheel-encoder counts (packets 43, 44) summed over good frames
    since ``open``, unwrapped; motion while the link is down is not counted.  Whole counts
    keep differences exact: :func:`motion_between` turns two frames into the distance and
    angle driven in between.
    """

    seq: int
    t_s: float
    values: Mapping[int, int]
    left_counts: int
    right_counts: int

    def __getitem__(self, packet_id: int) -> int:
        return self.values[packet_id]

    @property
    def distance_total_mm(self) -> float:
        """Distance driven since ``open`` (mm, forward positive)."""
        return (self.left_counts + self.right_counts) / 2.0 / oi.COUNTS_PER_MM

    @property
    def angle_total_deg(self) -> float:
        """Rotation since ``open`` (degrees, counter-clockwise positive)."""
        return _turn_deg(self.right_counts - self.left_counts)


def _turn_deg(right_minus_left_counts: int) -> float:
    return math.degrees(right_minus_left_counts / oi.COUNTS_PER_MM / oi.WHEEL_BASE_MM)


def motion_between(start: SensorFrame, end: SensorFrame) -> tuple[float, float]:
    """(distance mm, angle deg) driven from frame ``start`` to frame ``end``: the mean wheel
    travel, and the travel difference over the 235 mm wheel base."""
    dl, dr = end.left_counts - start.left_counts, end.right_counts - start.right_counts
    return (dl + dr) / 2.0 / oi.COUNTS_PER_MM, _turn_deg(dr - dl)


@dataclass(frozen=True)
class LinkStats:
    frames: int
    bad_frames: int
    resyncs: int
    skipped_bytes: int
    reconnects: int
    watchdog_stops: int
    silences: int  # times the robot went silent for frame_timeout_s
    tx_bytes: int
    link_up: bool


class _Guard:
    """The driver's side of :mod:`rt_avg.envs.create2.guard`: starts it, feeds it heartbeats
    from a thread of its own, and says goodbye on an orderly close."""

    def __init__(self, port: str, freeze_s: float) -> None:
        self._freeze_s = freeze_s
        self._proc = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(guard_module.__file__), port,
             "--stop", STOP_WHEELS.hex(), "--off", ORPHAN_STOP.hex(), "--freeze-s", str(freeze_s)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="create2-guard-heartbeat",
                                        daemon=True)
        self._thread.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _beat(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        while not self._done.wait(self._freeze_s / 4):
            try:
                stdin.write(guard_module.HEARTBEAT)
                stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                log.error("create2: the guard process has exited; nothing stops the wheels "
                          "if this process dies")
                return

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=1.0)
        stdin = self._proc.stdin
        try:
            if stdin is not None:
                stdin.write(guard_module.GOODBYE)
                stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass
        try:
            self._proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self._proc.kill()


class Create2Driver:
    """Thread-safe Create 2 connection; see the module docstring for the lifecycle.

    ``brc`` drives the BRC (wake-up) line: ``brc(True)`` pulls it low.  By default it is the
    port's RTS line (an FTDI cable with BRC wired to RTS: asserted RTS pulls BRC low); the
    twin passes its own pin, since a pseudo-terminal has no modem lines.
    """

    def __init__(self, config: DriverConfig, brc: Callable[[bool], None] | None = None) -> None:
        self.config = config
        self._brc = brc
        self._parser = oi.StreamParser(config.stream_packets)
        self._cond = threading.Condition()  # guards frames, generation, failure
        self._write_lock = threading.Lock()  # one writer at a time; held while reconnecting
        self._frames: deque[SensorFrame] = deque(maxlen=config.frame_history)
        self._latest: SensorFrame | None = None
        self._seq = 0
        self._left_total = self._right_total = 0
        self._encoders: tuple[int, int] | None = None  # last counts, the odometry baseline
        self._generation = self._reconnects = self._watchdog_stops = self._tx_bytes = 0
        self._silences = 0
        self._silent: Create2SilentError | None = None
        self._heard_at = time.monotonic()  # last good frame (or the start of a connection)
        self._guard: _Guard | None = None
        self._failed: Create2LinkError | None = None
        self._write_error_gen: int | None = None
        self._last_error: BaseException | None = None
        self._moving = False
        self._last_command_t = 0.0
        self._port: serial.Serial | None = None
        self._closing = threading.Event()
        self._closed = False
        self._reader: threading.Thread | None = None

    # ---- lifecycle ----------------------------------------------------------------
    def open(self) -> None:
        """Connect and start the robot; raises ``Create2LinkError`` if it does not answer."""
        if self._port is not None or self._closed:
            raise RuntimeError("Create2Driver.open() may be called once")
        self._port = self._connect()
        self._heard_at = time.monotonic()
        if self.config.guard:
            try:
                self._guard = _Guard(self.config.port, self.config.guard_freeze_s)
            except OSError as exc:
                self._port.close()
                raise Create2LinkError(f"could not start the wheel guard process: {exc}") from exc
        self._reader = threading.Thread(target=self._run, name="create2-reader", daemon=True)
        self._reader.start()

    def close(self) -> None:
        """Pause the stream, command 0/0 and Stop (best effort), then close; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        port = self._port
        if port is not None:
            try:
                port.cancel_read()
            except Exception:  # noqa: BLE001 - closing anyway
                pass
        if self._reader is not None:
            self._reader.join(timeout=5.0)
        with self._write_lock:
            port = self._port
            if port is None:
                return
            try:
                self._raw_write(port, STOP_WHEELS + SIGN_OFF)
                port.flush()
            except (serial.SerialException, OSError) as exc:
                log.warning("create2: could not command a stop while closing %s: %s",
                            self.config.port, exc)
            finally:
                port.close()
                if self._guard is not None:
                    self._guard.close()
                with self._cond:
                    self._cond.notify_all()

    def __enter__(self) -> Create2Driver:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- commands -----------------------------------------------------------------
    def drive_direct(self, left_mm_s: float, right_mm_s: float) -> tuple[int, int]:
        """Command wheel speeds, clipped to +-``speed_limit_mm_s`` (and +-500); returns
        the (left, right) values that went on the wire.  A moving command to a silent robot
        raises :class:`Create2SilentError`; a stop is always sent."""
        limit = self.config.speed_limit_mm_s
        left, right = oi.clip_wheel_speed(left_mm_s, limit), oi.clip_wheel_speed(right_mm_s, limit)
        if (left or right) and self._silent is not None:
            raise self._silent
        self._write(oi.drive_direct(left_mm_s=left, right_mm_s=right))
        self._last_command_t = time.monotonic()  # before _moving: the watchdog reads both
        self._moving = left != 0 or right != 0
        return left, right

    def stop(self) -> None:
        self.drive_direct(0, 0)

    def set_mode(self, mode: Literal["passive", "safe", "full"]) -> None:
        """Passive (Start), Safe or Full; each stops the wheels on the robot."""
        opcode = {"passive": Opcode.START, "safe": Opcode.SAFE, "full": Opcode.FULL}[mode]
        self._write(oi.single(opcode))
        self._moving = False

    def seek_dock(self) -> None:
        self._write(oi.single(Opcode.SEEK_DOCK))
        self._moving = False

    def send(self, command: bytes) -> None:
        """Write already-encoded command bytes (see ``oi``); no clipping is applied."""
        self._write(bytes(command))

    def set_brc(self, low: bool) -> None:
        """Drive the BRC line (True: low).  On a port without modem lines this logs once
        and does nothing."""
        self._drive_brc(self._port, low)

    def _drive_brc(self, port: serial.Serial | None, low: bool) -> None:
        if self._brc is not None:
            self._brc(low)
            return
        if port is None:
            return
        try:
            port.rts = bool(low)
        except OSError as exc:
            if exc.errno not in (errno.ENOTTY, errno.EINVAL):
                raise
            if not getattr(self, "_brc_warned", False):
                self._brc_warned = True
                log.warning("create2: %s has no RTS line (a pseudo-terminal?); BRC pulses are "
                            "skipped", self.config.port)
    # ---- sensing ------------------------------------------------------------------
    def latest_frame(self) -> SensorFrame | None:
        with self._cond:
            return self._latest

    def check_alive(self) -> None:
        """Raise ``Create2LinkError`` if the link failed, ``Create2SilentError`` if no frame
        came for ``frame_timeout_s``."""
        if self._failed is not None:
            raise self._failed
        if self._silent is not None:
            raise self._silent

    def fresh_frame(self) -> SensorFrame:
        """The latest frame, after :meth:`check_alive`; waits up to 2 s for the first one."""
        self.check_alive()
        frame = self.latest_frame()
        return frame if frame is not None else self.wait_for_frame(1, timeout_s=2.0)

    def frames_since(self, seq: int) -> list[SensorFrame]:
        """Frames with ``frame.seq > seq`` still in the history, oldest first."""
        with self._cond:
            return [f for f in self._frames if f.seq > seq]

    def wait_for_frame(self, min_seq: int, timeout_s: float) -> SensorFrame:
        """Block until a frame with ``seq >= min_seq`` arrived; raise ``TimeoutError``."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: self._seq >= min_seq or self._failed is not None or self._closed, timeout_s)
            if self._failed is not None:
                raise self._failed
            if not ok or self._latest is None or self._seq < min_seq:
                raise TimeoutError(f"no sensor frame #{min_seq} from {self.config.port} within "
                                   f"{timeout_s} s (have #{self._seq})")
            return self._latest

    def stats(self) -> LinkStats:
        p = self._parser
        with self._cond:
            return LinkStats(frames=self._seq, bad_frames=p.bad_frames, resyncs=p.resyncs,
                             skipped_bytes=p.skipped_bytes, reconnects=self._reconnects,
                             watchdog_stops=self._watchdog_stops, silences=self._silences,
                             tx_bytes=self._tx_bytes,
                             link_up=self._failed is None and not self._closed)

    @property
    def frames_received(self) -> int:
        """Good frames parsed since ``open`` (the ``seq`` of the latest frame)."""
        with self._cond:
            return self._seq

    @property
    def tx_bytes(self) -> int:
        """Command bytes written since ``open`` (all connections)."""
        return self._tx_bytes

    # ---- internals ----------------------------------------------------------------
    def _connect(self) -> serial.Serial:
        """Open the port (RTS, hence BRC, left high) and start the robot up; with
        ``brc_wake`` the start-up runs inside a BRC low pulse.  Used by every reconnect."""
        cfg = self.config
        try:
            port = guard_module.open_serial(cfg.port, timeout_s=0.02, write_timeout_s=1.0)
        except (serial.SerialException, OSError) as exc:
            raise Create2LinkError(
                f"cannot open {cfg.port}: {exc} (cable plugged in? permission denied: add "
                "your user to the 'dialout' group and log in again)") from exc
        try:
            pulse_started = self._brc_fall(port) if cfg.brc_wake else None
            try:
                self._start_up(port)
            finally:
                if pulse_started is not None:
                    self._brc_rise(port, pulse_started)
        except BaseException:
            port.close()
            raise
        return port

    def _start_up(self, port: serial.Serial) -> None:
        """Start, pause a stream left running, Safe|Full, check the mode, Stream."""
        cfg = self.config
        self._raw_write(port, oi.single(Opcode.START))
        time.sleep(cfg.mode_settle_s)
        # A robot left streaming by an earlier session would garble the mode query.
        self._raw_write(port, oi.pause_resume_stream(False))
        time.sleep(max(cfg.mode_settle_s, 0.02))
        port.reset_input_buffer()
        self._raw_write(port, oi.single(Opcode.SAFE if cfg.oi_mode == "safe" else Opcode.FULL))
        time.sleep(cfg.mode_settle_s)
        mode = self._query_mode(port)
        wanted = Mode.SAFE if cfg.oi_mode == "safe" else Mode.FULL
        if mode != wanted:
            log.warning("create2 on %s reports OI mode %s after start-up, wanted %s "
                        "(wheel drop? on the charger?)", cfg.port, mode.name, wanted.name)
        self._raw_write(port, oi.stream(cfg.stream_packets))

    def _raw_write(self, port: serial.Serial, data: bytes) -> None:
        """Write on a given port, counting bytes (the twin's lockstep barrier relies on it)."""
        port.write(data)
        self._tx_bytes += len(data)

    def _query_mode(self, port: serial.Serial) -> Mode:
        port.timeout = 0.25
        try:
            for _ in range(3):
                port.reset_input_buffer()
                self._raw_write(port, oi.sensors(35))
                answer = port.read(1)
                if answer and answer[0] <= 3:
                    return Mode(answer[0])
        finally:
            port.timeout = 0.02
        raise Create2LinkError(
            f"no answer from a Create 2 on {self.config.port}: check that the robot is on, the "
            "cable is seated and the port is right (brc_wake=True wakes a sleeping robot)")

    def _brc_fall(self, port: serial.Serial) -> float:
        """BRC high, then low (the falling edge wakes the robot); returns when it fell."""
        self._drive_brc(port, False)
        time.sleep(0.1)
        self._drive_brc(port, True)
        return time.monotonic()

    def _brc_rise(self, port: serial.Serial, fell_at: float) -> None:
        """End the pulse ``WAKE_PULSE_S`` after it started."""
        time.sleep(max(0.0, fell_at + WAKE_PULSE_S - time.monotonic()))
        self._drive_brc(port, False)

    def _write(self, data: bytes) -> None:
        budget_s = 2.0 + self.config.reconnect_attempts * (self.config.reconnect_delay_s + 2.0)
        for _ in range(2):
            with self._write_lock:
                if self._failed is not None:
                    raise self._failed
                if self._closed or self._port is None:
                    raise Create2LinkError(f"driver for {self.config.port} is not open")
                gen = self._generation
                try:
                    self._raw_write(self._port, data)
                    return
                except (serial.SerialException, OSError) as exc:
                    self._write_error_gen, self._last_error = gen, exc
                    port = self._port
            try:
                port.cancel_read()  # wake the reader so it reconnects now
            except Exception:  # noqa: BLE001
                pass
            with self._cond:
                self._cond.wait_for(self._link_changed(gen), budget_s)
        raise self._failed or Create2LinkError(
            f"writing to {self.config.port} failed after a reconnect: {self._last_error}")

    def _link_changed(self, gen: int) -> Callable[[], bool]:
        return lambda: self._generation != gen or self._failed is not None or self._closed

    def _run(self) -> None:
        while not self._closing.is_set() and self._failed is None:
            port = self._port
            if self._write_error_gen == self._generation:
                self._reconnect(self._last_error)
                continue
            try:
                data = port.read(max(1, port.in_waiting)) if port is not None else b""
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # TypeError/AttributeError: pyserial internals after a concurrent close
                if not self._closing.is_set():
                    self._reconnect(exc)
                continue
            if data:
                self._ingest(data)
            self._watchdog()
            self._watch_frames()

    def _ingest(self, data: bytes) -> None:
        now = time.monotonic()
        decoded = self._parser.feed(data)
        if not decoded:
            return
        with self._cond:
            for values in decoded:
                self._seq += 1
                self._odometry(values[ENCODERS[0]], values[ENCODERS[1]])
                frame = SensorFrame(self._seq, now, MappingProxyType(values),
                                    self._left_total, self._right_total)
                self._frames.append(frame)
            self._latest = frame
            self._heard_at = now
            if self._silent is not None:
                self._silent = None
                log.warning("create2: frames from %s again", self.config.port)
            self._cond.notify_all()

    def restart_odometry(self) -> None:
        """The robot's counters restarted (a twin's world reset, an OI Reset): the next
        frame is the new baseline, no motion is counted across the restart."""
        with self._cond:
            self._encoders = None

    def _odometry(self, left: int, right: int) -> None:
        """Add the motion since the previous frame, from the wrapping encoder counters."""
        if self._encoders is not None:
            dl, dr = _wrap16(left - self._encoders[0]), _wrap16(right - self._encoders[1])
            if max(abs(dl), abs(dr)) <= _MAX_FRAME_TRAVEL_MM * oi.COUNTS_PER_MM:
                self._left_total += dl
                self._right_total += dr
            else:  # no wheel covers that between two frames: the counters were restarted
                log.warning("create2: encoder counters jumped (%d, %d counts); re-baselined",
                            dl, dr)
        self._encoders = (left, right)

    def _watch_frames(self) -> None:
        """No frame for ``frame_timeout_s``: stop the wheels and report a silent robot."""
        timeout = self.config.frame_timeout_s
        if timeout is None or self._silent is not None:
            return
        silent_s = time.monotonic() - self._heard_at
        if silent_s <= timeout:
            return
        with self._write_lock:
            try:
                self._raw_write(self._port, STOP_WHEELS)
            except (serial.SerialException, OSError, AttributeError):
                pass  # a dead port: the read side reconnects, which stops the wheels
        self._moving = False
        self._silences += 1
        self._silent = Create2SilentError(
            f"no sensor frame from the Create 2 on {self.config.port} for {silent_s:.2f} s: the "
            "robot is off or asleep, or its stream was paused; the wheels were told to stop. "
            "Check its power (and brc_wake=True to wake it), then start again")
        log.error("%s", self._silent)

    def _watchdog(self) -> None:
        timeout = self.config.command_timeout_s
        if timeout is None or not self._moving or time.monotonic() - self._last_command_t <= timeout:
            return
        with self._write_lock:
            try:
                self._raw_write(self._port, STOP_WHEELS)
            except (serial.SerialException, OSError):
                return  # the read side will notice and reconnect (which stops the wheels)
        self._moving = False
        self._watchdog_stops += 1
        log.warning("create2: no command for %.2f s while moving; wheels stopped", timeout)

    def _reconnect(self, cause: BaseException | None) -> None:
        cfg = self.config
        log.warning("create2: link to %s lost (%s); reconnecting", cfg.port, cause)
        with self._write_lock:
            if self._port is not None:
                try:
                    self._port.close()
                except Exception:  # noqa: BLE001
                    pass
            self._moving = False
            last: BaseException | None = cause
            for attempt in range(1, cfg.reconnect_attempts + 1):
                if self._closing.wait(cfg.reconnect_delay_s * attempt):
                    return
                try:
                    self._port = self._connect()
                except (serial.SerialException, OSError, Create2LinkError) as exc:
                    last = exc
                    log.info("create2: reconnect attempt %d/%d failed: %s",
                             attempt, cfg.reconnect_attempts, exc)
                    continue
                self._parser.reset()
                with self._cond:
                    self._encoders = None  # a robot that was reset restarts its counters
                    self._heard_at = time.monotonic()
                    self._generation += 1
                    self._reconnects += 1
                    self._write_error_gen = None
                    self._cond.notify_all()
                log.warning("create2: reconnected to %s (attempt %d)", cfg.port, attempt)
                return
            with self._cond:
                self._failed = Create2LinkError(
                    f"lost the link to the Create 2 on {cfg.port} ({cause}) and "
                    f"{cfg.reconnect_attempts} reconnect attempts failed (last: {last})")
                self._cond.notify_all()
            log.error("%s", self._failed)

"""iRobot Create 2 Open Interface (OI) codec: opcodes, packet layouts, frames.

Pure functions and two incremental parsers, no I/O.  Both the driver and the twin use
this module, so the bytes the driver writes are exactly the bytes the twin parses.

Wire facts (OI spec, Create 2): 115200 8N1; multi-byte values are big-endian; a stream
frame is ``[19][N][id][data]...[checksum]`` where ``N`` counts the bytes between itself
and the checksum and all bytes of the frame sum to 0 modulo 256.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum


class Opcode(IntEnum):
    """Every command opcode of the Create 2 OI."""

    RESET = 7
    START = 128
    BAUD = 129
    CONTROL = 130  # legacy alias of SAFE
    SAFE = 131
    FULL = 132
    POWER = 133
    SPOT = 134
    CLEAN = 135
    MAX = 136
    DRIVE = 137
    MOTORS = 138
    LEDS = 139
    SONG = 140
    PLAY = 141
    SENSORS = 142
    SEEK_DOCK = 143
    PWM_MOTORS = 144
    DRIVE_DIRECT = 145
    DRIVE_PWM = 146
    STREAM = 148
    QUERY_LIST = 149
    PAUSE_RESUME_STREAM = 150
    SCHEDULING_LEDS = 162
    DIGIT_LEDS_RAW = 163
    DIGIT_LEDS_ASCII = 164
    BUTTONS = 165
    SCHEDULE = 167
    SET_DAY_TIME = 168
    STOP = 173


#: Number of argument bytes after the opcode; ``None`` marks a variable length
#: (Song 140: 2 + 2n, Stream 148 and Query List 149: 1 + n), see ``argument_length``.
ARG_LENGTHS: dict[int, int | None] = {
    Opcode.RESET: 0, Opcode.START: 0, Opcode.BAUD: 1, Opcode.CONTROL: 0,
    Opcode.SAFE: 0, Opcode.FULL: 0, Opcode.POWER: 0, Opcode.SPOT: 0,
    Opcode.CLEAN: 0, Opcode.MAX: 0, Opcode.DRIVE: 4, Opcode.MOTORS: 1,
    Opcode.LEDS: 3, Opcode.SONG: None, Opcode.PLAY: 1, Opcode.SENSORS: 1,
    Opcode.SEEK_DOCK: 0, Opcode.PWM_MOTORS: 3, Opcode.DRIVE_DIRECT: 4,
    Opcode.DRIVE_PWM: 4, Opcode.STREAM: None, Opcode.QUERY_LIST: None,
    Opcode.PAUSE_RESUME_STREAM: 1, Opcode.SCHEDULING_LEDS: 2,
    Opcode.DIGIT_LEDS_RAW: 4, Opcode.DIGIT_LEDS_ASCII: 4, Opcode.BUTTONS: 1,
    Opcode.SCHEDULE: 15, Opcode.SET_DAY_TIME: 3, Opcode.STOP: 0,
}


def argument_length(opcode: int, args_so_far: bytes) -> int | None:
    """Total argument bytes of ``opcode``, or ``None`` while ``args_so_far`` is too short
    to tell (variable-length commands carry their count in the first argument bytes).

    Raises ``KeyError`` for a byte that is not an OI opcode.
    """
    fixed = ARG_LENGTHS[opcode]
    if fixed is not None:
        return fixed
    if opcode == Opcode.SONG:  # [song number][n][note, duration] * n
        return None if len(args_so_far) < 2 else 2 + 2 * args_so_far[1]
    # Stream and Query List: [n][id] * n
    return None if len(args_so_far) < 1 else 1 + args_so_far[0]


class Mode(IntEnum):
    """OI modes as reported by packet 35."""

    OFF = 0
    PASSIVE = 1
    SAFE = 2
    FULL = 3


@dataclass(frozen=True)
class PacketSpec:
    """Layout of one single sensor packet: name, struct code (big-endian)."""

    name: str
    fmt: str  # 'B' u8, 'b' s8, 'H' u16, 'h' s16

    @property
    def size(self) -> int:
        return struct.calcsize(">" + self.fmt)


_U8, _S8, _U16, _S16 = "B", "b", "H", "h"

PACKETS: dict[int, PacketSpec] = {
    7: PacketSpec("bumps_wheel_drops", _U8),
    8: PacketSpec("wall", _U8),
    9: PacketSpec("cliff_left", _U8),
    10: PacketSpec("cliff_front_left", _U8),
    11: PacketSpec("cliff_front_right", _U8),
    12: PacketSpec("cliff_right", _U8),
    13: PacketSpec("virtual_wall", _U8),
    14: PacketSpec("wheel_overcurrents", _U8),
    15: PacketSpec("dirt_detect", _U8),
    16: PacketSpec("unused_16", _U8),
    17: PacketSpec("ir_omni", _U8),
    18: PacketSpec("buttons", _U8),
    19: PacketSpec("distance_mm", _S16),
    20: PacketSpec("angle_deg", _S16),
    21: PacketSpec("charging_state", _U8),
    22: PacketSpec("voltage_mv", _U16),
    23: PacketSpec("current_ma", _S16),
    24: PacketSpec("temperature_c", _S8),
    25: PacketSpec("battery_charge_mah", _U16),
    26: PacketSpec("battery_capacity_mah", _U16),
    27: PacketSpec("wall_signal", _U16),
    28: PacketSpec("cliff_left_signal", _U16),
    29: PacketSpec("cliff_front_left_signal", _U16),
    30: PacketSpec("cliff_front_right_signal", _U16),
    31: PacketSpec("cliff_right_signal", _U16),
    32: PacketSpec("unused_32", _U8),
    33: PacketSpec("unused_33", _U16),
    34: PacketSpec("charging_sources", _U8),
    35: PacketSpec("oi_mode", _U8),
    36: PacketSpec("song_number", _U8),
    37: PacketSpec("song_playing", _U8),
    38: PacketSpec("stream_packet_count", _U8),
    39: PacketSpec("requested_velocity_mm_s", _S16),
    40: PacketSpec("requested_radius_mm", _S16),
    41: PacketSpec("requested_right_mm_s", _S16),
    42: PacketSpec("requested_left_mm_s", _S16),
    43: PacketSpec("left_encoder_counts", _S16),
    44: PacketSpec("right_encoder_counts", _S16),
    45: PacketSpec("light_bumper", _U8),
    46: PacketSpec("light_bump_left", _U16),
    47: PacketSpec("light_bump_front_left", _U16),
    48: PacketSpec("light_bump_center_left", _U16),
    49: PacketSpec("light_bump_center_right", _U16),
    50: PacketSpec("light_bump_front_right", _U16),
    51: PacketSpec("light_bump_right", _U16),
    52: PacketSpec("ir_left", _U8),
    53: PacketSpec("ir_right", _U8),
    54: PacketSpec("left_motor_current_ma", _S16),
    55: PacketSpec("right_motor_current_ma", _S16),
    56: PacketSpec("main_brush_current_ma", _S16),
    57: PacketSpec("side_brush_current_ma", _S16),
    58: PacketSpec("stasis", _U8),
}

#: Group packets: id -> member packet ids in wire order.  The spec defines 0-6, 100,
#: 101, 106 and 107; 102-105 are not defined and are rejected like any unknown id.
GROUPS: dict[int, tuple[int, ...]] = {
    0: tuple(range(7, 27)),
    1: tuple(range(7, 17)),
    2: tuple(range(17, 21)),
    3: tuple(range(21, 27)),
    4: tuple(range(27, 35)),
    5: tuple(range(35, 43)),
    6: tuple(range(7, 43)),
    100: tuple(range(7, 59)),
    101: tuple(range(43, 59)),
    106: tuple(range(46, 52)),
    107: tuple(range(54, 59)),
}

STREAM_HEADER = 19
DISTANCE, ANGLE = 19, 20
LIGHT_BUMP_SIGNALS = (46, 47, 48, 49, 50, 51)
CLIFF_FLAGS = (9, 10, 11, 12)
MAX_WHEEL_SPEED_MM_S = 500
#: 1 mm of wheel travel in encoder counts (Create 2: mm = counts * pi * 72 / 508.8)
COUNTS_PER_MM = 508.8 / (math.pi * 72.0)
WHEEL_BASE_MM = 235.0


def is_known_packet(packet_id: int) -> bool:
    return packet_id in PACKETS or packet_id in GROUPS


def members(packet_id: int) -> tuple[int, ...]:
    """Single packet ids carried by ``packet_id`` (itself, or a group's members)."""
    if packet_id in GROUPS:
        return GROUPS[packet_id]
    if packet_id in PACKETS:
        return (packet_id,)
    raise ValueError(f"unknown sensor packet id {packet_id}; known: 7-58 and groups {sorted(GROUPS)}")


def packet_size(packet_id: int) -> int:
    """Data bytes of a single or group packet."""
    return sum(PACKETS[m].size for m in members(packet_id))


def _data_format(packet_ids: Iterable[int]) -> str:
    return "".join(PACKETS[m].fmt for pid in packet_ids for m in members(pid))


def _saturate(value: int, fmt: str) -> int:
    lo, hi = {"B": (0, 255), "b": (-128, 127), "H": (0, 65535), "h": (-32768, 32767)}[fmt]
    return min(hi, max(lo, int(value)))


def encode_packets(packet_ids: Sequence[int], values: Mapping[int, int]) -> bytes:
    """Data bytes for ``packet_ids`` (as answered by Sensors/Query List), values saturated
    to their wire type; ``values`` maps single packet ids to integers."""
    singles = [m for pid in packet_ids for m in members(pid)]
    fmt = _data_format(packet_ids)
    return struct.pack(">" + fmt, *(_saturate(values[m], PACKETS[m].fmt) for m in singles))


def decode_packets(packet_ids: Sequence[int], data: bytes) -> dict[int, int]:
    """Inverse of ``encode_packets``: data bytes -> {single packet id: value}."""
    singles = [m for pid in packet_ids for m in members(pid)]
    return dict(zip(singles, struct.unpack(">" + _data_format(packet_ids), data)))


def checksum(data: bytes) -> int:
    """The byte that makes ``sum(data) + checksum`` a multiple of 256."""
    return (-sum(data)) & 0xFF


def encode_stream_frame(packet_ids: Sequence[int], values: Mapping[int, int]) -> bytes:
    """One stream frame ``[19][N][id][data]...[checksum]``."""
    body = b"".join(bytes([pid]) + encode_packets([pid], values) for pid in packet_ids)
    head = bytes([STREAM_HEADER, len(body)])
    return head + body + bytes([checksum(head + body)])


# ---- command builders (what the driver writes) ----------------------------------------

def _s16(value: int) -> bytes:
    return struct.pack(">h", value)


def clip_wheel_speed(value: float, limit_mm_s: float = MAX_WHEEL_SPEED_MM_S) -> int:
    """Round and clip a wheel speed to +-min(limit, 500) mm/s; NaN becomes 0 (a stop)."""
    bound = min(float(limit_mm_s), MAX_WHEEL_SPEED_MM_S)
    if not math.isfinite(value):
        return 0 if math.isnan(value) else int(math.copysign(bound, value))
    return int(round(min(bound, max(-bound, value))))


def drive_direct(*, left_mm_s: float, right_mm_s: float) -> bytes:
    """Drive Direct (145); the wire order is right wheel first, then left."""
    return (bytes([Opcode.DRIVE_DIRECT]) + _s16(clip_wheel_speed(right_mm_s))
            + _s16(clip_wheel_speed(left_mm_s)))


def drive(velocity_mm_s: int, radius_mm: int) -> bytes:
    """Drive (137); radius 32767/-32768 = straight, 1/-1 = turn in place ccw/cw."""
    return bytes([Opcode.DRIVE]) + _s16(clip_wheel_speed(velocity_mm_s)) + _s16(radius_mm)


def sensors(packet_id: int) -> bytes:
    members(packet_id)  # validates
    return bytes([Opcode.SENSORS, packet_id])


def query_list(packet_ids: Sequence[int]) -> bytes:
    for pid in packet_ids:
        members(pid)
    return bytes([Opcode.QUERY_LIST, len(packet_ids), *packet_ids])


def stream(packet_ids: Sequence[int]) -> bytes:
    for pid in packet_ids:
        members(pid)
    return bytes([Opcode.STREAM, len(packet_ids), *packet_ids])


def pause_resume_stream(resume: bool) -> bytes:
    return bytes([Opcode.PAUSE_RESUME_STREAM, 1 if resume else 0])


def single(opcode: Opcode) -> bytes:
    """A command without arguments (Start, Safe, Full, Stop, Seek Dock, ...)."""
    if ARG_LENGTHS[opcode] != 0:
        raise ValueError(f"opcode {opcode!r} takes arguments")
    return bytes([opcode])


# ---- incremental parsers --------------------------------------------------------------

class CommandParser:
    """Splits the host-to-robot byte stream into ``(opcode, args)`` commands.

    Bytes that are not opcodes are skipped one at a time (counted in ``ignored_bytes``),
    as the robot does; each opcode consumes exactly its own argument length.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.ignored_bytes = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out: list[tuple[int, bytes]] = []
        while self._buf:
            opcode = self._buf[0]
            if opcode not in ARG_LENGTHS:
                del self._buf[0]
                self.ignored_bytes += 1
                continue
            need = argument_length(opcode, bytes(self._buf[1:3]))
            if need is None or len(self._buf) < 1 + need:
                break
            out.append((opcode, bytes(self._buf[1:1 + need])))
            del self._buf[:1 + need]
        return out


class StreamParser:
    """Finds stream frames for a known packet list in a noisy byte stream.

    A candidate frame starts at a 19 whose length byte matches the list; it is accepted
    only if its packet ids are the expected ones and its checksum is right.  Otherwise
    the 19 is dropped and the search restarts at the next byte (resynchronisation).

    Counters: ``bad_frames`` (right header and length, wrong ids or checksum),
    ``skipped_bytes`` (bytes thrown away while hunting for a header), ``resyncs``
    (times a good frame was found again after sync had been lost).
    """

    def __init__(self, packet_ids: Sequence[int]) -> None:
        if not packet_ids:
            raise ValueError("a stream needs at least one packet id")
        self.packet_ids = tuple(packet_ids)
        fmt = ">BB" + "".join("B" + _data_format([pid]) for pid in self.packet_ids) + "B"
        self._struct = struct.Struct(fmt)
        self._frame_len = self._struct.size
        self._body_len = self._frame_len - 3
        if self._body_len > 255:
            raise ValueError(f"stream frame too long ({self._body_len} bytes > 255)")
        # positions (in the unpacked tuple) of the id bytes and of each value
        self._id_slots: list[int] = []
        self._value_slots: list[tuple[int, int]] = []
        slot = 2
        for pid in self.packet_ids:
            self._id_slots.append(slot)
            slot += 1
            for m in members(pid):
                self._value_slots.append((m, slot))
                slot += 1
        self._buf = bytearray()
        self._in_sync = True
        self.bad_frames = 0
        self.skipped_bytes = 0
        self.resyncs = 0

    @property
    def frame_length(self) -> int:
        return self._frame_len

    def reset(self) -> None:
        """Forget buffered bytes (after a reconnect); counters are kept."""
        self._buf.clear()

    def _lose_sync(self, skipped: int) -> None:
        self.skipped_bytes += skipped
        self._in_sync = False

    def feed(self, data: bytes) -> list[dict[int, int]]:
        """Consume bytes; return the decoded frames completed by them, oldest first."""
        buf = self._buf
        buf += data
        out: list[dict[int, int]] = []
        while buf:
            start = buf.find(STREAM_HEADER)
            if start < 0:
                self._lose_sync(len(buf))
                buf.clear()
                break
            if start:
                self._lose_sync(start)
                del buf[:start]
            if len(buf) < 2:
                break
            if buf[1] != self._body_len:  # a 19 inside data or noise, not a header
                self._lose_sync(1)
                del buf[0]
                continue
            if len(buf) < self._frame_len:
                break
            frame = bytes(buf[:self._frame_len])
            fields = self._struct.unpack(frame)
            ids_ok = all(fields[s] == pid for s, pid in zip(self._id_slots, self.packet_ids))
            if not ids_ok or sum(frame) & 0xFF:
                self.bad_frames += 1
                self._lose_sync(1)
                del buf[0]
                continue
            del buf[:self._frame_len]
            if not self._in_sync:
                self.resyncs += 1
                self._in_sync = True
            out.append({pid: fields[slot] for pid, slot in self._value_slots})
        return out

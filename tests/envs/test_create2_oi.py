"""Create 2 Open Interface codec: checksums, packet layouts, command lengths, parsers."""

from __future__ import annotations

import math

import pytest

from rt_avg.envs.create2 import oi
from rt_avg.envs.create2.oi import Opcode


def test_checksum_matches_the_spec_example_frame() -> None:
    # OI spec example: stream of packets 29 and 13 -> [19][5][29][2][25][13][0][163]
    body = bytes([19, 5, 29, 2, 25, 13, 0])
    assert oi.checksum(body) == 163
    assert sum(body + bytes([163])) % 256 == 0


def test_encode_stream_frame_matches_hand_made_bytes() -> None:
    frame = oi.encode_stream_frame([29, 13], {29: 0x0219, 13: 0})
    assert frame == bytes([19, 5, 29, 2, 25, 13, 0, 163])


@pytest.mark.parametrize(("ids", "data", "expected"), [
    ([19, 20], b"\xff\xf6\x00\x5a", {19: -10, 20: 90}),          # s16 big-endian
    ([7], b"\x0b", {7: 11}),                                      # u8 bit field
    ([22], b"\x3a\x98", {22: 15000}),                             # u16
    ([24], b"\xfe", {24: -2}),                                    # s8
    ([43, 44], b"\x80\x00\x7f\xff", {43: -32768, 44: 32767}),     # wrapping encoders
    ([46], b"\x0f\xff", {46: 4095}),
])
def test_decode_packets_against_hand_made_bytes(ids, data, expected) -> None:
    assert oi.decode_packets(ids, data) == expected
    assert oi.encode_packets(ids, expected) == data


@pytest.mark.parametrize(("group", "size", "first", "last"), [
    (0, 26, 7, 26), (1, 10, 7, 16), (2, 6, 17, 20), (3, 10, 21, 26), (4, 14, 27, 34),
    (5, 12, 35, 42), (6, 52, 7, 42), (100, 80, 7, 58), (101, 28, 43, 58),
    (106, 12, 46, 51), (107, 9, 54, 58),
])
def test_group_packet_sizes_follow_the_spec(group, size, first, last) -> None:
    assert oi.packet_size(group) == size
    assert oi.members(group)[0] == first and oi.members(group)[-1] == last


def test_single_packet_sizes() -> None:
    two_byte = {19, 20, 22, 23, 25, 26, 27, 28, 29, 30, 31, 33, 39, 40, 41, 42, 43, 44,
                46, 47, 48, 49, 50, 51, 54, 55, 56, 57}
    for pid in range(7, 59):
        assert oi.packet_size(pid) == (2 if pid in two_byte else 1), pid


@pytest.mark.parametrize("bad", [102, 103, 104, 105, 59, 255])
def test_unknown_packet_ids_are_rejected(bad) -> None:
    with pytest.raises(ValueError, match="unknown sensor packet id"):
        oi.members(bad)
    with pytest.raises(ValueError):
        oi.stream([7, bad])


def test_values_saturate_to_their_wire_type() -> None:
    data = oi.encode_packets([19, 7], {19: 100_000, 7: -5})
    assert oi.decode_packets([19, 7], data) == {19: 32767, 7: 0}


def test_drive_direct_is_right_then_left_signed_big_endian() -> None:
    assert oi.drive_direct(left_mm_s=-100, right_mm_s=200) == bytes([145, 0x00, 0xC8, 0xFF, 0x9C])


def test_drive_direct_clips_to_500_and_stops_on_nan() -> None:
    assert oi.drive_direct(left_mm_s=9000, right_mm_s=-9000) == bytes([145, 0xFE, 0x0C, 0x01, 0xF4])
    assert oi.drive_direct(left_mm_s=math.nan, right_mm_s=math.inf)[1:] == bytes([0x01, 0xF4, 0, 0])
    assert oi.clip_wheel_speed(-170.4, 150) == -150
    assert oi.clip_wheel_speed(99.6) == 100


EXPECTED_ARG_LENGTHS = {
    7: 0, 128: 0, 129: 1, 130: 0, 131: 0, 132: 0, 133: 0, 134: 0, 135: 0, 136: 0, 137: 4,
    138: 1, 139: 3, 141: 1, 142: 1, 143: 0, 144: 3, 145: 4, 146: 4, 150: 1, 162: 2,
    163: 4, 164: 4, 165: 1, 167: 15, 168: 3, 173: 0,
}


@pytest.mark.parametrize(("opcode", "length"), sorted(EXPECTED_ARG_LENGTHS.items()))
def test_every_fixed_opcode_length(opcode, length) -> None:
    assert oi.argument_length(opcode, b"") == length


def test_variable_length_opcodes() -> None:
    assert oi.argument_length(Opcode.SONG, b"\x02") is None
    assert oi.argument_length(Opcode.SONG, b"\x02\x03") == 2 + 2 * 3
    assert oi.argument_length(Opcode.STREAM, b"") is None
    assert oi.argument_length(Opcode.STREAM, b"\x04") == 5
    assert oi.argument_length(Opcode.QUERY_LIST, b"\x02") == 3
    assert set(oi.ARG_LENGTHS) == set(EXPECTED_ARG_LENGTHS) | {140, 148, 149}


def _all_commands() -> list[tuple[int, bytes]]:
    # Arguments deliberately contain opcode-looking bytes (128, 173, 145, 7).
    cmds = [(op, bytes([128, 173, 145, 7, 131] * 4)[:n]) for op, n in EXPECTED_ARG_LENGTHS.items()]
    cmds.append((140, bytes([1, 3, 60, 32, 173, 16, 128, 8])))  # song: 3 notes
    cmds.append((148, bytes([2, 7, 19])))
    cmds.append((149, bytes([3, 7, 8, 106])))
    cmds.append((140, bytes([0, 0])))  # empty song
    return cmds


def test_command_parser_splits_every_opcode_with_its_own_length() -> None:
    cmds = _all_commands()
    wire = b"".join(bytes([op]) + args for op, args in cmds)
    assert oi.CommandParser().feed(wire) == cmds
    parser = oi.CommandParser()  # byte by byte, as a slow UART delivers them
    assert [c for i in range(len(wire)) for c in parser.feed(wire[i:i + 1])] == cmds


def test_command_parser_skips_bytes_that_are_not_opcodes() -> None:
    parser = oi.CommandParser()
    assert parser.feed(bytes([0, 255, 131, 1, 145, 0, 1, 0, 2])) == [(131, b""), (145, b"\x00\x01\x00\x02")]
    assert parser.ignored_bytes == 3


IDS = (7, 19, 20, 35, 106)


def _frame(distance: int) -> bytes:
    values = {pid: 0 for pid in oi.PACKETS}
    values.update({19: distance, 35: 2, 46: 100, 51: 4095})
    return oi.encode_stream_frame(IDS, values)


def test_stream_parser_decodes_frames_and_expands_groups() -> None:
    parser = oi.StreamParser(IDS)
    frames = parser.feed(_frame(5) + _frame(-3))
    assert [f[19] for f in frames] == [5, -3]
    assert frames[0][46] == 100 and frames[0][51] == 4095 and frames[0][35] == 2
    assert parser.frame_length == len(_frame(0))
    assert (parser.bad_frames, parser.skipped_bytes, parser.resyncs) == (0, 0, 0)


def test_stream_parser_resynchronises_after_corrupt_bytes() -> None:
    parser = oi.StreamParser(IDS)
    bad = bytearray(_frame(7))
    bad[-1] ^= 0xFF  # wrong checksum
    noise = bytes([19, 19, 200, 19, len(_frame(0)) - 3, 1, 2])  # fake headers
    wire = _frame(1) + noise + bytes(bad) + _frame(2) + b"\x13" + _frame(3)
    frames = [f for i in range(0, len(wire), 5) for f in parser.feed(wire[i:i + 5])]
    assert [f[19] for f in frames] == [1, 2, 3]
    assert parser.bad_frames >= 1
    assert parser.resyncs == 2
    assert parser.skipped_bytes > 0


def test_stream_parser_rejects_a_frame_with_the_wrong_ids() -> None:
    parser = oi.StreamParser(IDS)
    other = oi.encode_stream_frame((7, 19, 20, 36, 106), {pid: 0 for pid in oi.PACKETS})
    assert parser.feed(other) == []
    assert parser.bad_frames == 1
    assert [f[19] for f in parser.feed(_frame(9))] == [9]

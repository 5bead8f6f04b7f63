"""The Create 2 twin over a real pseudo-terminal, driven with raw OI bytes."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial

from rt_avg.envs.create2 import oi
from rt_avg.envs.create2.emulator import LEGACY_ANGLE_FACTOR, Emulator, TwinConfig
from rt_avg.envs.create2.oi import Mode
from rt_avg.envs.create2.sim import ArenaConfig

REPO = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], bool], timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


class Link:
    """A bare serial client: write commands, read answers."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.port = serial.Serial(emulator.port, 115200, timeout=0.2)
        self.sent = 0

    def send(self, data: bytes) -> None:
        self.port.write(data)
        self.sent += len(data)
        self.emulator.wait_rx(self.sent)  # executed by the twin

    def ask(self, data: bytes, size: int) -> bytes:
        self.port.reset_input_buffer()
        self.send(data)
        return self.port.read(size)

    def stream_for(self, seconds: float, ids: list[int]) -> bytes:
        """Lockstep: run ``seconds`` of robot time and return what the twin streamed (it has
        written every frame into the pty when ``advance`` returns)."""
        self.port.reset_input_buffer()
        frames = self.emulator.advance(seconds, rx_barrier=self.sent)
        return self.port.read(frames * oi.StreamParser(ids).frame_length)

    def mode(self) -> Mode | None:
        answer = self.ask(oi.sensors(35), 1)
        return Mode(answer[0]) if answer else None


@pytest.fixture
def twin() -> Iterator[Emulator]:
    emulator = Emulator(TwinConfig(arena=ArenaConfig(start_pose=(1000, 1000, 0))))
    yield emulator
    emulator.close()


@pytest.fixture
def link(twin: Emulator) -> Iterator[Link]:
    client = Link(twin)
    yield client
    client.port.close()


def test_port_is_a_symlink_to_a_pty(twin: Emulator) -> None:
    assert os.path.islink(twin.port)
    assert os.path.realpath(twin.port) == twin.pts_path and twin.pts_path.startswith("/dev/pts/")


def test_mode_transitions(link: Link) -> None:
    assert link.ask(oi.sensors(35), 1) == b""  # Off: only Start is heard
    link.send(oi.single(oi.Opcode.START))
    assert link.mode() == Mode.PASSIVE
    link.send(oi.single(oi.Opcode.SAFE))
    assert link.mode() == Mode.SAFE
    link.send(oi.single(oi.Opcode.FULL))
    assert link.mode() == Mode.FULL
    link.send(oi.single(oi.Opcode.START))
    assert link.mode() == Mode.PASSIVE
    link.send(oi.single(oi.Opcode.STOP))
    assert link.mode() is None and link.emulator.snapshot().mode == Mode.OFF
    link.send(oi.single(oi.Opcode.START) + oi.single(oi.Opcode.FULL))
    assert link.ask(bytes([oi.Opcode.RESET]), 64).startswith(b"bl-start")
    assert link.emulator.snapshot().mode == Mode.OFF


def test_passive_mode_ignores_drive_commands(link: Link) -> None:
    link.send(oi.single(oi.Opcode.START) + oi.drive_direct(left_mm_s=100, right_mm_s=100))
    state = link.emulator.snapshot()
    assert state.left_mm_s == state.right_mm_s == 0 and state.requested_left_mm_s == 0


def test_every_opcode_is_consumed_with_its_own_length(link: Link) -> None:
    link.send(oi.single(oi.Opcode.START) + oi.single(oi.Opcode.FULL))
    # Opcodes that do not change the mode, with arguments full of opcode-looking bytes.
    quiet = [129, 137, 138, 139, 141, 144, 145, 146, 150, 162, 163, 164, 165, 167, 168]
    filler = bytes([128, 173, 7, 131, 132, 143, 142, 35] * 2)
    wire = b"".join(bytes([op]) + filler[:oi.ARG_LENGTHS[op] or 0] for op in quiet)
    wire += bytes([140, 0, 3, 128, 10, 173, 10, 7, 10])  # Song 140: 2 + 2n
    wire += bytes([149, 2, 7, 35]) + bytes([150, 0])  # Query List (answers 2 bytes), pause
    answer = link.ask(wire + oi.sensors(35), 3)
    assert answer[-1] == Mode.FULL  # no byte was mistaken for Start/Stop/Safe
    seen = link.emulator.snapshot().opcodes_seen
    assert all(seen.get(op) for op in quiet + [140, 149])


@pytest.mark.parametrize("group", [0, 1, 2, 3, 4, 5, 6, 100, 101, 106, 107])
def test_sensors_answers_group_packets(link: Link, group: int) -> None:
    link.send(oi.single(oi.Opcode.START))
    size = oi.packet_size(group)
    data = link.ask(oi.sensors(group), size)
    assert len(data) == size and link.port.read(1) == b""
    values = oi.decode_packets([group], data)
    if 35 in values:
        assert values[35] == Mode.PASSIVE


def test_query_list_and_unknown_ids(link: Link) -> None:
    link.send(oi.single(oi.Opcode.START))
    data = link.ask(oi.query_list([7, 35, 106]), 20)
    assert len(data) == 1 + 1 + 12 and oi.decode_packets([7, 35, 106], data)[35] == Mode.PASSIVE
    assert link.ask(bytes([142, 104]), 4) == b""  # undefined group: no answer, still in sync
    assert link.mode() == Mode.PASSIVE


def test_stream_frames_every_15_ms_with_valid_checksums(link: Link) -> None:
    ids = [7, 19, 35, 106]
    link.send(oi.single(oi.Opcode.START) + oi.stream(ids))
    link.port.reset_input_buffer()
    time.sleep(0.3)
    parser = oi.StreamParser(ids)
    frames = parser.feed(link.port.read(link.port.in_waiting))
    assert 12 <= len(frames) <= 26 and parser.bad_frames == 0
    link.send(oi.pause_resume_stream(False))
    time.sleep(0.05)
    link.port.reset_input_buffer()
    time.sleep(0.1)
    assert link.port.in_waiting == 0
    link.send(oi.pause_resume_stream(True))
    time.sleep(0.1)
    assert parser.feed(link.port.read(link.port.in_waiting))


def test_drive_and_drive_variants(link: Link) -> None:
    link.send(oi.single(oi.Opcode.START) + oi.single(oi.Opcode.FULL))
    link.send(oi.drive_direct(left_mm_s=-120, right_mm_s=80))
    s = link.emulator.snapshot()
    assert (s.left_mm_s, s.right_mm_s, s.requested_left_mm_s, s.requested_right_mm_s) == (-120, 80, -120, 80)
    link.send(oi.drive(200, 1))  # turn in place counter-clockwise
    s = link.emulator.snapshot()
    assert (s.left_mm_s, s.right_mm_s) == (-200, 200)
    link.send(oi.drive(100, 32767))  # straight
    assert link.emulator.snapshot().left_mm_s == 100
    link.send(bytes([146, 0, 255, 0xFF, 0x01]))  # Drive PWM: right +255, left -255
    s = link.emulator.snapshot()
    assert (s.left_mm_s, s.right_mm_s) == (-500, 500)


def _safe_and_forward(link: Link) -> None:
    link.send(oi.single(oi.Opcode.START) + oi.single(oi.Opcode.SAFE)
              + oi.drive_direct(left_mm_s=150, right_mm_s=150))


def test_safe_mode_drops_to_passive_on_a_cliff_while_driving_forward() -> None:
    arena = ArenaConfig(start_pose=(1000, 1000, 0), cliffs=((1200, 0, 2500, 2000),))
    with Emulator(TwinConfig(arena=arena, clock="lockstep")) as twin:
        link = Link(twin)
        _safe_and_forward(link)
        twin.advance(1.0)
        s = twin.snapshot()
        assert s.mode == Mode.PASSIVE and s.left_mm_s == s.right_mm_s == 0
        assert s.x_mm < 1200  # stopped before the wheels went over the edge
        link.port.close()


def test_full_mode_does_not_stop_at_a_cliff() -> None:
    arena = ArenaConfig(start_pose=(1000, 1000, 0), cliffs=((1200, 0, 2500, 2000),))
    with Emulator(TwinConfig(arena=arena, clock="lockstep")) as twin:
        link = Link(twin)
        link.send(bytes([128, 132]) + oi.drive_direct(left_mm_s=150, right_mm_s=150))
        twin.advance(1.0)
        assert twin.snapshot().mode == Mode.FULL and twin.snapshot().left_mm_s == 150
        link.port.close()


def test_safe_mode_drops_to_passive_on_wheel_drop(link: Link) -> None:
    _safe_and_forward(link)
    link.emulator.set_lifted(True)
    wait_until(lambda: link.emulator.snapshot().mode == Mode.PASSIVE)
    assert link.emulator.snapshot().left_mm_s == 0


def test_safe_mode_drops_to_passive_on_the_charger() -> None:
    dock_x = 170 + 20
    arena = ArenaConfig(start_pose=(dock_x + 100, 1000, 180))
    with Emulator(TwinConfig(arena=arena, clock="lockstep")) as twin:
        link = Link(twin)
        _safe_and_forward(link)
        twin.advance(1.0)
        s = twin.snapshot()
        assert s.docked and s.mode == Mode.PASSIVE and s.left_mm_s == 0
        assert oi.decode_packets([34], link.ask(oi.sensors(34), 1))[34] == 2
        link.port.close()


def test_seek_dock_drives_to_the_dock_in_passive_mode() -> None:
    with Emulator(TwinConfig(arena=ArenaConfig(start_pose=(1200, 700, 90)), clock="lockstep")) as twin:
        link = Link(twin)
        link.send(bytes([128, 131, 143]))
        assert twin.snapshot().mode == Mode.PASSIVE
        twin.advance(20.0)
        assert twin.snapshot().docked
        link.port.close()


def test_lockstep_streams_are_identical_for_the_same_seed() -> None:
    def record(seed: int) -> bytes:
        with Emulator(TwinConfig(clock="lockstep", seed=seed)) as twin:
            link = Link(twin)
            link.send(bytes([128, 131]) + oi.stream([100]) + oi.drive_direct(left_mm_s=90, right_mm_s=120))
            data = link.stream_for(0.3, [100])
            link.port.close()
            return data

    first = record(3)
    assert len(first) == 20 * (3 + 1 + 80)
    assert first == record(3)
    assert first != record(4)


def test_drop_link_unplugs_and_replugs_at_the_same_path(twin: Emulator) -> None:
    old = twin.pts_path
    client = serial.Serial(twin.port, 115200, timeout=0.1)
    twin.drop_link(0.2)
    assert not os.path.lexists(twin.port)
    with pytest.raises(serial.SerialException):
        client.read(1)
        client.write(b"\x80")
    client.close()
    wait_until(lambda: os.path.exists(twin.port))
    assert twin.snapshot().link_up and os.path.realpath(twin.port) == twin.pts_path
    assert twin.pts_path != old or os.path.exists(old)


def test_inject_and_corrupt_reach_the_host(link: Link) -> None:
    link.send(bytes([128]) + oi.stream([7, 19]))
    link.emulator.corrupt_next_frames(2)
    link.emulator.inject_bytes(b"\x13\x13noise")
    time.sleep(0.15)
    parser = oi.StreamParser([7, 19])
    assert parser.feed(link.port.read(link.port.in_waiting))
    assert parser.bad_frames >= 2 and parser.skipped_bytes >= 7


def test_close_removes_the_symlink() -> None:
    twin = Emulator()
    path = twin.port
    twin.close()
    twin.close()
    assert not os.path.lexists(path)


def test_twin_config_validation() -> None:
    with pytest.raises(ValueError, match="clock"):
        TwinConfig(clock="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="time_scale"):
        TwinConfig(time_scale=0)
    with pytest.raises(RuntimeError, match="lockstep"):
        with Emulator() as twin:
            twin.advance(0.1)


def test_standalone_main_prints_its_port_and_stops_on_sigint(tmp_path: Path) -> None:
    link_path = tmp_path / "ttyCreate2"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from rt_avg.envs.create2.emulator import main; "
         "sys.exit(main(sys.argv[1:]))", "--link", str(link_path), "--time-scale", "2"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == str(link_path)
        with serial.Serial(str(link_path), 115200, timeout=0.5) as port:
            port.write(bytes([128]) + oi.sensors(35))
            assert port.read(1) == bytes([Mode.PASSIVE])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
        assert not os.path.lexists(link_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ------------------------------------------------- firmware: sleep, charging, odometry
#: the default arena's dock: where the robot's centre sits, facing the left wall
ON_THE_DOCK = (170.0 + 20.0, 1000.0, 180.0)


def docked_twin(battery_mah: float = 2500.0, **config: object) -> Emulator:
    arena = ArenaConfig(start_pose=ON_THE_DOCK, light_noise_std=0, battery_start_mah=battery_mah)
    return Emulator(TwinConfig(clock="lockstep", arena=arena, **config))  # type: ignore[arg-type]


@pytest.fixture
def on_dock() -> Iterator[Link]:
    """A lockstep twin on its dock, just told Start (Passive mode)."""
    with docked_twin() as twin:
        client = Link(twin)
        client.send(oi.single(oi.Opcode.START))
        assert twin.snapshot().docked
        yield client
        client.port.close()


def test_a_docked_robot_in_passive_mode_stops_answering_after_60_s(on_dock: Link) -> None:
    twin = on_dock.emulator
    twin.advance(59.5)
    on_dock.send(oi.stream([35]))  # not a mode command: the timer runs on
    assert twin.advance(0.4) > 0 and on_dock.mode() == Mode.PASSIVE
    twin.advance(0.2)
    assert twin.snapshot().asleep, "asleep after 60 s docked in Passive mode (SenseAct)"
    assert twin.advance(1.0) == 0  # the stream stopped
    on_dock.send(oi.single(oi.Opcode.START))
    assert on_dock.mode() is None  # and the serial line is not listened to
    assert twin.snapshot().mode == Mode.PASSIVE


def test_a_brc_pulse_wakes_a_docked_robot_for_300_ms_only(on_dock: Link) -> None:
    twin = on_dock.emulator
    twin.advance(61.0)
    assert twin.snapshot().asleep, "asleep after 61 s docked in Passive mode (SenseAct)"
    twin.set_brc(True)
    twin.set_brc(False)
    assert on_dock.mode() == Mode.PASSIVE  # awake for a moment
    twin.advance(0.3)
    assert twin.snapshot().asleep and on_dock.mode() is None
    # a pulse and then a mode command within those 300 ms wake it for good
    twin.set_brc(True)
    twin.set_brc(False)
    twin.advance(0.2)
    on_dock.send(oi.single(oi.Opcode.START))
    twin.advance(59.0)
    assert on_dock.mode() == Mode.PASSIVE and not twin.snapshot().asleep


def test_safe_on_the_dock_falls_back_to_passive_and_keeps_it_awake_and_charging() -> None:
    with docked_twin(battery_mah=1000.0) as twin:
        link = Link(twin)
        link.send(oi.single(oi.Opcode.START))
        for _ in range(3):  # SenseAct's charging wait: Safe every 50 s
            twin.advance(50.0)
            link.send(oi.single(oi.Opcode.SAFE))
            twin.advance(0.015)
            assert link.mode() == Mode.PASSIVE, "Safe on a powered charger reverts to Passive"
        twin.advance(1.0)
        state = twin.snapshot()
        assert not state.asleep and state.sim_time_s > 150.0
        values = oi.decode_packets([3], link.ask(oi.sensors(3), oi.packet_size(3)))
        assert values[21] == 2 and values[23] > 0 and values[25] > 1000 + 50


def test_the_dock_charges_in_passive_mode_only() -> None:
    """OI spec: the charger powers the robot in every mode but charges the battery only
    outside Safe and Full; packet 34 bit 1 is the home base; 21: 2 full, 3 trickle."""
    with docked_twin(battery_mah=1000.0) as twin:
        link = Link(twin)

        def charging() -> dict[int, int]:
            return oi.decode_packets([21, 23, 25, 34], link.ask(oi.query_list([21, 23, 25, 34]), 6))

        link.send(oi.single(oi.Opcode.START))
        twin.advance(10.0)
        passive = charging()
        assert passive[21] == 2 and passive[23] > 0 and passive[25] > 1000 and passive[34] == 2
        link.send(oi.single(oi.Opcode.FULL))  # Full ignores the charger: no reflex, no charge
        twin.advance(10.0)
        full = charging()
        assert full[21] == 0 and full[23] == 0 and full[25] == passive[25] and full[34] == 2
        link.send(oi.single(oi.Opcode.START))
        twin.set_battery(2696.0)
        twin.advance(0.03)
        assert charging()[21] == 3  # full battery: trickle


@pytest.mark.parametrize(("firmware", "distance_right", "angle_right"), [
    ("3.2.6", False, False), ("3.3.0", True, False), ("3.4.0", True, False), ("3.4.1", True, True)])
def test_distance_and_angle_packets_as_each_firmware_reports_them(
        firmware: str, distance_right: bool, angle_right: bool) -> None:
    """OI spec, Appendix B: distance fixed in 3.3.0, angle in 3.4.1 (before: degrees x
    0.324056); Reset prints the version."""
    arena = ArenaConfig(start_pose=(1000, 1000, 0), light_noise_std=0, dock_wall=None)
    with Emulator(TwinConfig(clock="lockstep", arena=arena, firmware=firmware)) as twin:
        link = Link(twin)
        assert f"r3_robot/tags/release-{firmware}".encode() in link.ask(bytes([7]), 200)
        link.send(bytes([128, 132]) + oi.drive_direct(left_mm_s=100, right_mm_s=100))
        twin.advance(1.5)
        distance = oi.decode_packets([19], link.ask(oi.sensors(19), 2))[19]
        assert distance == (150 if distance_right else 0)
        link.send(oi.drive_direct(left_mm_s=-100, right_mm_s=100))
        twin.advance(1.5)
        turned = math.degrees(2 * 100 / 235 * 1.5)  # ccw
        angle = oi.decode_packets([20], link.ask(oi.sensors(20), 2))[20]
        assert angle == int(turned if angle_right else turned * LEGACY_ANGLE_FACTOR)


def test_a_stream_frame_consumes_distance_like_a_query() -> None:
    """"since it was last requested": each stream frame reports the travel since the one
    before it, so the frames of a step add up to the step's travel (SenseAct's reward)."""
    arena = ArenaConfig(start_pose=(1000, 1000, 0), light_noise_std=0, dock_wall=None)
    with Emulator(TwinConfig(clock="lockstep", arena=arena)) as twin:
        link = Link(twin)
        link.send(bytes([128, 132]) + oi.stream([19]) + oi.drive_direct(left_mm_s=150, right_mm_s=150))
        frames = oi.StreamParser([19]).feed(link.stream_for(1.5, [19]))
        assert len(frames) == 100 and sum(f[19] for f in frames) == 225
        assert {f[19] for f in frames} == {2, 3}  # 2.25 mm a frame, the fractions carried on
        link.send(oi.pause_resume_stream(False))
        assert oi.decode_packets([19], link.ask(oi.sensors(19), 2))[19] == 0


def test_start_docked_puts_the_robot_on_its_dock_in_passive_mode() -> None:
    with Emulator(TwinConfig(clock="lockstep", start_docked=True, dock_sleep_after_s=5.0)) as twin:
        state = twin.snapshot()
        assert state.docked and state.mode == Mode.PASSIVE and not state.asleep
        twin.advance(5.1)
        assert twin.snapshot().asleep


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"dock_sleep_after_s": 0.0}, "dock_sleep_after_s must be > 0"),
    ({"sleep_after_s": -1.0}, "sleep_after_s must be > 0"),
    ({"brc_awake_s": -0.1}, "brc_awake_s must be >= 0"),
    ({"firmware": "3.4"}, "firmware must be a version 'X.Y.Z'"),
    ({"start_docked": True, "arena": ArenaConfig(dock_wall=None)}, "start_docked=True needs"),
])
def test_firmware_options_are_validated(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TwinConfig(**kwargs)

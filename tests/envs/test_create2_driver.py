"""Create 2 driver against the twin over a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import logging
import math
import os
import struct
import termios
import time
from collections.abc import Callable, Iterator

import pytest

from rt_avg.envs.create2 import oi
from rt_avg.envs.create2.driver import DEFAULT_STREAM_PACKETS, Create2Driver, Create2LinkError, DriverConfig
from rt_avg.envs.create2.emulator import Emulator, TwinConfig
from rt_avg.envs.create2.oi import Mode
from rt_avg.envs.create2.sim import ArenaConfig


def wait_until(predicate: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


@pytest.fixture
def twin() -> Iterator[Emulator]:
    emulator = Emulator(TwinConfig(arena=ArenaConfig(start_pose=(1000, 1000, 0), light_noise_std=0)))
    yield emulator
    emulator.close()


def make_driver(twin: Emulator, **overrides: object) -> Create2Driver:
    settings: dict[str, object] = {"port": twin.port, "reconnect_delay_s": 0.05, "mode_settle_s": 0.02}
    settings.update(overrides)
    return Create2Driver(DriverConfig(**settings))  # type: ignore[arg-type]


@pytest.fixture
def driver(twin: Emulator) -> Iterator[Create2Driver]:
    drv = make_driver(twin)
    drv.open()
    yield drv
    drv.close()


def settled(twin: Emulator, driver: Create2Driver) -> None:
    twin.wait_rx(driver.tx_bytes)


def test_startup_puts_the_robot_in_safe_mode_and_streams(twin: Emulator, driver: Create2Driver) -> None:
    settled(twin, driver)
    state = twin.snapshot()
    assert state.mode == Mode.SAFE and state.streaming and state.stream_ids == DEFAULT_STREAM_PACKETS
    first = driver.wait_for_frame(1, timeout_s=1.0)
    time.sleep(0.2)
    frames = driver.frames_since(first.seq)
    assert 8 <= len(frames) <= 20  # one every 15 ms
    assert [f.seq for f in frames] == list(range(first.seq + 1, first.seq + 1 + len(frames)))
    assert all(a.t_s <= b.t_s for a, b in zip(frames, frames[1:]))
    assert frames[-1][35] == Mode.SAFE
    assert driver.latest_frame() is frames[-1] or driver.latest_frame().seq > frames[-1].seq


def test_full_mode_and_brc_wake_on_a_pty(twin: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), make_driver(twin, oi_mode="full", brc_wake=True) as drv:
        settled(twin, drv)
        assert twin.snapshot().mode == Mode.FULL
    assert "BRC pulses are skipped" in caplog.text  # a pty has no RTS line


def test_drive_direct_reaches_the_wheels_and_is_clipped(twin: Emulator, driver: Create2Driver) -> None:
    assert driver.drive_direct(100, 50) == (100, 50)
    settled(twin, driver)
    assert (twin.snapshot().left_mm_s, twin.snapshot().right_mm_s) == (100, 50)
    assert driver.drive_direct(900, -900) == (500, -500)
    assert driver.drive_direct(math.nan, -math.inf) == (0, -500)
    settled(twin, driver)
    assert (twin.snapshot().requested_left_mm_s, twin.snapshot().requested_right_mm_s) == (0, -500)


def test_speed_limit_clips_before_the_wire(twin: Emulator) -> None:
    with make_driver(twin, speed_limit_mm_s=150) as drv:
        assert drv.drive_direct(-400, 151) == (-150, 150)
        settled(twin, drv)
        assert twin.snapshot().requested_left_mm_s == -150


def test_distance_totals_follow_the_motion(twin: Emulator, driver: Create2Driver) -> None:
    start = driver.wait_for_frame(1, timeout_s=1.0)
    x0 = twin.snapshot().x_mm
    driver.drive_direct(200, 200)
    time.sleep(0.4)
    driver.stop()
    time.sleep(0.1)
    moved = twin.snapshot().x_mm - x0
    assert moved > 50
    assert abs(driver.latest_frame().distance_total_mm - start.distance_total_mm - moved) <= 2


def test_corrupt_bytes_are_counted_and_the_stream_resyncs(twin: Emulator, driver: Create2Driver) -> None:
    driver.wait_for_frame(1, timeout_s=1.0)
    twin.corrupt_next_frames(3)
    twin.inject_bytes(b"\x13\x13\x05\x13junk\x13")
    seen = driver.frames_received
    driver.wait_for_frame(seen + 10, timeout_s=1.0)
    stats = driver.stats()
    assert stats.bad_frames >= 3 and stats.resyncs >= 1 and stats.skipped_bytes > 0
    assert stats.link_up and stats.reconnects == 0


def test_link_drop_reconnects_and_stops_the_wheels(twin: Emulator, driver: Create2Driver) -> None:
    driver.drive_direct(100, 100)
    settled(twin, driver)
    twin.drop_link(0.2)
    wait_until(lambda: driver.stats().reconnects == 1)
    settled(twin, driver)
    state = twin.snapshot()
    assert state.mode == Mode.SAFE and state.left_mm_s == state.right_mm_s == 0 and state.streaming
    seen = driver.frames_received
    driver.wait_for_frame(seen + 3, timeout_s=1.0)
    driver.drive_direct(60, 60)
    settled(twin, driver)
    assert twin.snapshot().left_mm_s == 60


def test_a_write_during_the_drop_waits_for_the_reconnect(twin: Emulator, driver: Create2Driver) -> None:
    settled(twin, driver)  # bytes still in the pty when it is unplugged are lost for good
    twin.drop_link(0.3)
    time.sleep(0.05)
    driver.drive_direct(80, 80)  # blocks until the reader has reconnected, then goes out
    settled(twin, driver)
    assert twin.snapshot().left_mm_s == 80 and driver.stats().reconnects == 1


def test_reconnect_gives_up_with_a_clear_error(twin: Emulator) -> None:
    with make_driver(twin, reconnect_attempts=2) as drv:
        settled(twin, drv)
        twin.drop_link(60.0)
        wait_until(lambda: not drv.stats().link_up)
        with pytest.raises(Create2LinkError, match=r"2 reconnect attempts failed"):
            drv.drive_direct(10, 10)
        with pytest.raises(Create2LinkError):
            drv.wait_for_frame(10**6, timeout_s=0.1)


def test_open_errors_are_clear(tmp_path) -> None:
    missing = Create2Driver(DriverConfig(port=str(tmp_path / "ttyUSB9")))
    with pytest.raises(Create2LinkError, match="cannot open .*dialout"):
        missing.open()
    master, slave = os.openpty()  # a port with nothing behind it
    try:
        silent = Create2Driver(DriverConfig(port=os.ttyname(slave), mode_settle_s=0.0))
        with pytest.raises(Create2LinkError, match="no answer from a Create 2"):
            silent.open()
    finally:
        os.close(master)
        os.close(slave)


def test_watchdog_stops_a_command_that_is_not_refreshed(twin: Emulator) -> None:
    with make_driver(twin, command_timeout_s=0.1) as drv:
        drv.drive_direct(100, 100)
        settled(twin, drv)
        assert twin.snapshot().left_mm_s == 100
        wait_until(lambda: drv.stats().watchdog_stops == 1)
        settled(twin, drv)
        assert twin.snapshot().left_mm_s == 0


def test_close_stops_wheels_pauses_stream_and_stops_the_oi(twin: Emulator) -> None:
    drv = make_driver(twin)
    drv.open()
    drv.drive_direct(120, 120)
    drv.close()
    drv.close()
    settled(twin, drv)
    state = twin.snapshot()
    assert state.left_mm_s == state.right_mm_s == 0 and state.requested_left_mm_s == 0
    assert state.mode in (Mode.OFF, Mode.PASSIVE) and not state.streaming
    with pytest.raises(Create2LinkError, match="not open"):
        drv.drive_direct(1, 1)


def test_an_exception_inside_the_driver_context_stops_the_wheels(twin: Emulator) -> None:
    with pytest.raises(ZeroDivisionError):
        with make_driver(twin) as drv:
            drv.drive_direct(150, 150)
            1 / 0  # noqa: B018
    settled(twin, drv)
    assert twin.snapshot().left_mm_s == 0 and twin.snapshot().mode == Mode.OFF


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"port": ""}, "port"),
    ({"oi_mode": "passive"}, "oi_mode"),
    ({"stream_packets": (7, 104)}, "unknown sensor packet id 104"),
    ({"speed_limit_mm_s": 600}, "speed_limit_mm_s"),
    ({"reconnect_attempts": -1}, "reconnect_attempts"),
    ({"command_timeout_s": 0}, "command_timeout_s"),
])
def test_driver_config_errors_name_the_field(kwargs, match) -> None:
    settings = {"port": "/dev/ttyUSB0", **kwargs}
    with pytest.raises(ValueError, match=match):
        DriverConfig(**settings)


# ------------------------------------------------------- RTS, the BRC line and wake-up
class RtsWiredToBrc:
    """iRobot's cable recipe wires BRC to the adapter's RTS (asserted RTS pulls BRC low).
    A pty has no modem lines, so this answers pyserial's modem-line ioctls itself, records
    every RTS change and passes it on to the twin's BRC pin; all other ioctls (and every
    byte) go to the real pty."""

    def __init__(self, twin: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rts: list[bool] = []  # True: asserted
        real_ioctl = fcntl.ioctl

        def ioctl(fd: int, request: int, arg: object = 0, *rest: object) -> object:
            if request in (termios.TIOCMBIS, termios.TIOCMBIC) and isinstance(arg, bytes):
                if struct.unpack("I", arg)[0] & termios.TIOCM_RTS:
                    self.rts.append(request == termios.TIOCMBIS)
                    twin.set_brc(request == termios.TIOCMBIS)
                return arg  # DTR: accepted and ignored
            return real_ioctl(fd, request, arg, *rest)

        monkeypatch.setattr(fcntl, "ioctl", ioctl)


def test_the_port_is_opened_with_rts_deasserted_also_on_reconnect(
        twin: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    wire = RtsWiredToBrc(twin, monkeypatch)
    with make_driver(twin) as drv:
        settled(twin, drv)
        twin.drop_link(0.1)
        wait_until(lambda: drv.stats().reconnects == 1)
        settled(twin, drv)
        assert twin.snapshot().mode == Mode.SAFE
    assert wire.rts == [False, False], (
        f"RTS writes {wire.rts} (True: asserted, which holds BRC low while the port is open)")
    assert twin.snapshot().brc_pulses_s == ()


def test_brc_wake_asserts_rts_once_for_the_pulse(twin: Emulator,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    wire = RtsWiredToBrc(twin, monkeypatch)
    with make_driver(twin, brc_wake=True) as drv:
        settled(twin, drv)
        assert twin.snapshot().mode == Mode.SAFE
    assert wire.rts == [False, False, True, False], f"RTS writes {wire.rts} (True: asserted)"
    pulses = twin.snapshot().brc_pulses_s
    assert len(pulses) == 1 and 0.9 <= pulses[0] <= 1.5  # the spec's 1 s example


def test_start_up_wakes_a_robot_asleep_on_its_dock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A BRC pulse wakes a robot asleep on its dock for about 300 ms only (SenseAct), so the
    start-up's Start must come inside that window, through the real RTS path."""
    config = TwinConfig(clock="realtime", time_scale=0.5, start_docked=True,
                        dock_sleep_after_s=0.5)  # robot seconds: 1 s of wall time
    with Emulator(config) as twin:
        wait_until(lambda: twin.snapshot().asleep)
        RtsWiredToBrc(twin, monkeypatch)
        with make_driver(twin, brc_wake=True, frame_timeout_s=None) as drv:
            drv.wait_for_frame(1, timeout_s=1.0)
            assert twin.snapshot().opcodes_seen[oi.Opcode.STREAM] == 1

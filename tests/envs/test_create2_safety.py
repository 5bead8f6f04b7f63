"""Create 2 safety: a silent robot is noticed, the wheels stop whatever dies, odometry that
does not depend on the firmware, a robot kept awake while it charges, resets that can be
cut short.  The twin speaks the Open Interface on a pseudo-terminal throughout."""

from __future__ import annotations

import _thread
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli
from rt_avg.envs.create2 import oi
from rt_avg.envs.create2.driver import (
    WAKE_PULSE_S,
    Create2Driver,
    Create2SilentError,
    DriverConfig,
    motion_between,
)
from rt_avg.envs.create2.emulator import Emulator, TwinConfig
from rt_avg.envs.create2.oi import Mode
from rt_avg.envs.create2.reset import KEEP_AWAKE_S
from rt_avg.envs.create2.sim import ArenaConfig
from rt_avg.envs.create2.task import CreateMoverEnv
from rt_avg.core import RealtimeTask, ResetInterrupted
from rt_avg.run.run_dir import read_episodes

FORWARD = np.array([150.0, 150.0], dtype=np.float32)
OPEN_ARENA = ArenaConfig(start_pose=(1250.0, 1000.0, 0.0), light_noise_std=0.0, dock_wall=None)
#: the default arena's dock: where the robot's centre sits, facing the left wall
ON_THE_DOCK = (170.0 + 20.0, 1000.0, 180.0)


def wait_until(predicate: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until ``predicate()`` held; fails after ``timeout_s``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.005)
    return time.monotonic() - start


def wheels_turning(twin: Emulator) -> bool:
    state = twin.snapshot()
    return state.left_mm_s != 0.0 or state.right_mm_s != 0.0


@pytest.fixture
def twin() -> Iterator[Emulator]:
    emulator = Emulator(TwinConfig(arena=OPEN_ARENA))
    yield emulator
    emulator.close()


def make_driver(twin: Emulator, **overrides: object) -> Create2Driver:
    settings: dict[str, object] = {"port": twin.port, "reconnect_delay_s": 0.05,
                                   "mode_settle_s": 0.02}
    settings.update(overrides)
    return Create2Driver(DriverConfig(**settings))  # type: ignore[arg-type]


# -------------------------------------------------------------- a silent robot
@pytest.mark.parametrize("silence", ["stream paused", "switched off"])
def test_a_silent_robot_stops_the_wheels_and_the_step(silence: str) -> None:
    with Emulator(TwinConfig(arena=OPEN_ARENA)) as twin:
        env = CreateMoverEnv(backend="hardware", port=twin.port, dt_s=0.05,
                             reset_config={"reverse_s": 0.15})
        try:
            env.reset()
            for _ in range(3):
                env.step(FORWARD)
            assert wheels_turning(twin)
            # a twin starved by a busy machine may already have been silent for a while: each
            # silence is counted, so count only the one made here
            silences_before = env.driver.stats().silences
            if silence == "stream paused":
                env.driver.send(oi.pause_resume_stream(False))  # the wheels keep turning
            else:
                twin.set_powered(False)
            steps = 0
            with pytest.raises(Create2SilentError, match="no sensor frame"):
                for _ in range(40):
                    env.step(FORWARD)
                    steps += 1
            # frame_timeout_s 0.5 s: at most 0.5 s of 50 ms steps ran on fresh-looking data
            # (paced steps: a busy machine makes them fewer, never more)
            assert steps <= 11
            twin.wait_rx(env.driver.tx_bytes)
            assert not wheels_turning(twin)
            assert env.driver.stats().silences == silences_before + 1
        finally:
            env.close()


def test_a_silent_lockstep_twin_is_noticed() -> None:
    with CreateMoverEnv(arena=OPEN_ARENA) as env:
        env.reset(seed=0)
        env.step(FORWARD)
        env.driver.send(oi.pause_resume_stream(False))
        with pytest.raises(Create2SilentError):
            for _ in range(10):
                env.step(FORWARD)
        env.twin.wait_rx(env.driver.tx_bytes)
        assert not wheels_turning(env.twin)


# -------------------------------------------------------------------- odometry
def test_distance_and_angle_come_from_the_encoders() -> None:
    """On firmware whose packets 19 and 20 are wrong, reward (from the encoders) and rotation
    stay right."""
    with Emulator(TwinConfig(arena=OPEN_ARENA, firmware="3.2.6")) as twin:
        env = CreateMoverEnv(backend="hardware", port=twin.port, dt_s=0.15,
                             reward_source="encoders",
                             reset_config={"reverse_s": 0.15, "unwind_deg": None})
        try:
            env.reset()
            start = twin.snapshot()
            _, reward, *_, info = env.step(FORWARD)
            # 150 mm/s for a 0.15 s step: 22.5 mm, give or take the wall clock's jitter
            assert 15.0 <= info["distance_mm"] <= 30.0
            assert reward == pytest.approx(0.15 * info["distance_mm"])
            r0 = env._reset_routine.rotation_deg()
            for _ in range(4):
                env.step(np.array([-100.0, 100.0], dtype=np.float32))  # counter-clockwise
            env.stop()
            twin.wait_rx(env.driver.tx_bytes)
            time.sleep(0.05)
            turned = twin.snapshot().heading_deg - start.heading_deg
            assert env._reset_routine.rotation_deg() - r0 == pytest.approx(turned, abs=3.0)
            assert turned > 20.0
        finally:
            env.close()


def test_encoder_counters_wrap_at_16_bits() -> None:
    ids = (43, 44)
    driver = Create2Driver(DriverConfig(port="/dev/null", stream_packets=ids))
    frames = [(32700, -32700), (-32736, 32664), (-32700, 32600)]  # across +32767 / -32768
    for left, right in frames:
        driver._ingest(oi.encode_stream_frame(ids, {43: left, 44: right}))
    first, *_, last = driver.frames_since(0)
    distance, angle = motion_between(first, last)
    dl, dr = 100 + 36, -172 - 64  # counts each wheel travelled, across the wrap
    assert distance == pytest.approx((dl + dr) / 2 / oi.COUNTS_PER_MM)
    assert angle == pytest.approx(np.degrees((dr - dl) / oi.COUNTS_PER_MM / 235.0))


# -------------------------------------------------------------------- BRC pin
def test_wake_pulse_is_outside_the_baud_change_window(twin: Emulator) -> None:
    driver = Create2Driver(DriverConfig(port=twin.port, brc_wake=True, mode_settle_s=0.02),
                           brc=twin.set_brc)
    driver.open()
    try:
        pulses = twin.snapshot().brc_pulses_s
        # the spec's baud-rate change: three pulses of 50-500 ms; its keep-awake example: 1 s
        assert len(pulses) == 1 and 0.9 <= pulses[0] <= 1.2
        assert WAKE_PULSE_S == 1.0
    finally:
        driver.close()


def test_an_idle_passive_robot_falls_asleep_and_a_brc_pulse_wakes_it() -> None:
    with Emulator(TwinConfig(arena=OPEN_ARENA, clock="lockstep")) as twin:
        twin._execute(oi.Opcode.START, b"")
        twin.advance(299.0)
        assert not twin.snapshot().asleep
        twin.advance(1.5)
        state = twin.snapshot()
        assert state.asleep and state.mode == Mode.OFF
        twin._execute(oi.Opcode.START, b"")  # the serial line is not listened to
        assert twin.snapshot().mode == Mode.OFF
        twin.set_brc(True)
        twin.set_brc(False)
        assert not twin.snapshot().asleep


def test_the_charging_wait_keeps_a_docked_robot_awake_without_brc() -> None:
    """A docked robot in Passive mode sleeps after 60 s and a BRC pulse wakes it for 300 ms
    only (SenseAct); the wait re-sends Safe every 50 s, as SenseAct's, and needs no BRC."""
    # 100 mAh at 1.1 A: 327 s of charging, five times the docked robot's sleep timer
    arena = {"start_pose": (1200.0, 700.0, 90.0), "battery_start_mah": 1500.0,
             "charge_rate_ma": 1100.0, "light_noise_std": 0.0}
    with CreateMoverEnv(arena=arena, reset_config={"battery_low_mah": 1500.0,
                                                   "battery_charged_mah": 1600.0}) as env:
        twin = env.twin
        assert twin is not None
        safe_before = twin.snapshot().opcodes_seen.get(oi.Opcode.SAFE, 0)
        _, info = env.reset(seed=0)
        state = twin.snapshot()
        assert info["charged"] and info["battery_mah"] >= 1590 and not state.asleep
        assert state.sim_time_s > 300.0
        assert state.brc_pulses_s == (), "the wait must not rely on BRC (the cable may lack it)"
        safe_sent = state.opcodes_seen.get(oi.Opcode.SAFE, 0) - safe_before
        assert safe_sent >= int(327.0 / KEEP_AWAKE_S), f"Safe sent {safe_sent} times"
        # then off the dock in Full mode (Safe falls back to Passive on the charger), and Safe
        assert info["undocked"] and not state.docked and state.mode == Mode.SAFE


def test_a_robot_asleep_on_its_dock_is_a_silent_robot() -> None:
    """Nothing keeps a robot that docked at the end of an episode awake until the next
    reset: if that takes more than 60 s, the reset reports a silent robot (no frame for
    frame_timeout_s), it does not wait for it."""
    arena = {"start_pose": (1200.0, 700.0, 90.0), "light_noise_std": 0.0}
    with CreateMoverEnv(arena=arena) as env:
        env.reset(seed=0)
        twin = env.twin
        assert twin is not None
        twin.set_pose(*ON_THE_DOCK)  # on the charger: Safe falls back to Passive ...
        twin.advance(61.0)  # ... and 60 s later the robot sleeps
        assert twin.snapshot().asleep
        with pytest.raises(Create2SilentError):
            env.reset()


# --------------------------------------------------------------- Drive radius
def test_drive_with_radius_0_does_not_kill_the_twin(twin: Emulator) -> None:
    driver = make_driver(twin)
    driver.open()
    try:
        cases = [((100, 0), (100.0, 100.0)),       # radius 0: not in the spec; straight
                 ((0, 0), (0.0, 0.0)),             # speed 0 stops (SenseAct's stop)
                 ((100, 0x7FFF), (100.0, 100.0)),  # straight
                 ((100, -0x8000), (100.0, 100.0)),
                 ((100, -1), (100.0, -100.0)),     # 0xFFFF: clockwise in place
                 ((100, 1), (-100.0, 100.0)),      # counter-clockwise in place
                 ((0, 1), (0.0, 0.0))]
        for (velocity, radius), (left, right) in cases:
            driver.send(oi.drive(velocity, radius))
            twin.wait_rx(driver.tx_bytes)
            state = twin.snapshot()
            assert (state.left_mm_s, state.right_mm_s) == (left, right), (velocity, radius)
        seq = driver.frames_received
        driver.wait_for_frame(seq + 3, timeout_s=1.0)  # the twin still serves
    finally:
        driver.close()


# ----------------------------------------------------- the driving process dies
_DRIVING_PROCESS = textwrap.dedent("""
    import sys, time
    from rt_avg.envs.create2.driver import Create2Driver, DriverConfig
    driver = Create2Driver(DriverConfig(port=sys.argv[1], guard=True, command_timeout_s=None,
                                        guard_freeze_s=0.4, mode_settle_s=0.02))
    driver.open()
    driver.drive_direct(150, 150)
    print("driving", flush=True)
    time.sleep(60)
""")


@pytest.fixture
def driving_process(twin: Emulator) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen([sys.executable, "-c", _DRIVING_PROCESS, twin.port],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "driving\n"
        wait_until(lambda: wheels_turning(twin), 2.0)
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait()


def test_wheels_stop_when_the_driving_process_is_killed(twin: Emulator,
                                                       driving_process: subprocess.Popen) -> None:
    os.kill(driving_process.pid, signal.SIGKILL)
    # the guard sees the pipe close at once, opens the port and writes the stop
    assert wait_until(lambda: not wheels_turning(twin), 1.0) < 1.0
    wait_until(lambda: twin.snapshot().mode == Mode.OFF, 1.0)  # and signed off


def test_wheels_stop_when_the_driving_process_freezes(twin: Emulator,
                                                     driving_process: subprocess.Popen) -> None:
    os.kill(driving_process.pid, signal.SIGSTOP)
    # no heartbeat for guard_freeze_s = 0.4 s (checked every 0.1 s)
    assert wait_until(lambda: not wheels_turning(twin), 1.5) < 1.5


# ---------------------------------------------------------------------- resets
def test_is_a_realtime_task() -> None:
    with CreateMoverEnv() as env:
        assert isinstance(env, RealtimeTask)


def charging_env() -> CreateMoverEnv:
    """A robot that must charge from far away, on the wall clock: a long reset."""
    arena = {"start_pose": (1250.0, 1000.0, 0.0), "battery_start_mah": 1000.0,
             "light_noise_std": 0.0}
    return CreateMoverEnv(arena=arena, twin_clock="realtime", time_scale=2.0,
                          reset_config={"battery_charged_mah": 2600.0})


@pytest.fixture
def python_sigint():
    """Ctrl-C raises KeyboardInterrupt, whatever handler an earlier test (Ray, a runner's
    stop request) left installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("how", ["stop", "ctrl-c"])
def test_a_charging_wait_can_be_cut_short(how: str, python_sigint: None) -> None:
    with charging_env() as env:
        twin = env.twin
        assert twin is not None
        interrupt = env.stop if how == "stop" else _thread.interrupt_main
        threading.Timer(1.0, interrupt).start()
        start = time.monotonic()
        with pytest.raises(ResetInterrupted if how == "stop" else KeyboardInterrupt):
            env.reset(seed=0)
        assert time.monotonic() - start < 2.0  # the charge itself would take an hour
        twin.wait_rx(env.driver.tx_bytes)
        time.sleep(0.1)
        assert not wheels_turning(twin)  # the seek for the dock ended too
        assert twin.snapshot().mode == Mode.SAFE


def test_a_back_off_can_be_cut_short() -> None:
    with CreateMoverEnv(arena=OPEN_ARENA, twin_clock="realtime",
                        reset_config={"reverse_s": 5.0}) as env:
        threading.Timer(0.5, env.stop).start()
        with pytest.raises(ResetInterrupted):
            env.reset()
        assert env.twin is not None
        env.twin.wait_rx(env.driver.tx_bytes)
        assert not wheels_turning(env.twin)
        time.sleep(0.3)  # and nothing drives again
        assert not wheels_turning(env.twin)


@pytest.mark.slow
@pytest.mark.ray
def test_an_async_run_passes_through_a_charging_wait(tmp_path: Path) -> None:
    """The charging soak, short: the battery starts below the low mark, so the first reset
    seeks the dock and charges (about 100 s of robot time, 60 s of it asleep-prone on the
    dock), and the run goes on learning afterwards."""
    run_dir = tmp_path / "run"
    res = run_cli("train", "--config", "create2_mover", "--mode", "async", "--steps", "300",
                  "--quiet", "--run-dir", str(run_dir),
                  "--set", "env.kwargs.max_episode_steps=100",
                  "--set", "env.kwargs.arena={battery_start_mah: 1490, battery_carries_over: true}",
                  "--set", "env.kwargs.reset_config={battery_low_mah: 1500, battery_charged_mah: 1530}",
                  "--set", "agent.hidden_sizes=[64,64]")
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("create2: charged to") == 1, res.stderr
    assert "Create2SilentError" not in res.stderr and "no sensor frame" not in res.stderr
    episodes = read_episodes(run_dir)
    assert len(episodes) >= 3 and episodes[-1]["step"] <= 300

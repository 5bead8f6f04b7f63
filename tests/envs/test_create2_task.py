"""Create-Mover task on the twin: conformance, reward, termination, clipping, resets."""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import rt_avg.envs  # noqa: F401  (registers the ids)
from rt_avg.envs.create2.driver import SensorFrame
from rt_avg.envs.create2.emulator import Emulator, TwinConfig
from rt_avg.envs.create2.oi import Mode
from rt_avg.envs.create2.sim import ROBOT_RADIUS_MM
from rt_avg.envs.create2.task import (CreateMoverEnv, mover_events,
                                      mover_observation, step_distances_mm)

sys.path.append(str(Path(__file__).resolve().parents[1]))  # tests/ for the shared mixin
from conformance import EnvConformance  # noqa: E402

W, H = 2500.0, 2000.0
FORWARD = np.array([150.0, 150.0], dtype=np.float32)


def make(**kwargs: object) -> CreateMoverEnv:
    arena = {"start_pose": (1250.0, 1000.0, 0.0), "light_noise_std": 0.0}
    arena.update(kwargs.pop("arena", {}))  # type: ignore[arg-type]
    return CreateMoverEnv(arena=arena, **kwargs)  # type: ignore[arg-type]


class TestCreateMoverConformance(EnvConformance):
    def make_env(self) -> gym.Env:
        return gym.make("rt_avg/Create2-Mover-v0")


def test_spaces() -> None:
    with make() as env:
        assert env.action_space == gym.spaces.Box(-150, 150, (2,), np.float32)
        low = np.array([SENSEACT_FLOOR] * 6 + [-1.0, -1.0], np.float32)
        assert env.observation_space == gym.spaces.Box(low, 1.0, (8,), np.float32)
    with make(clip_light_bumps=True) as env:
        assert env.observation_space == gym.spaces.Box(-1, 1, (8,), np.float32)


# ---- SenseAct's definitions, written out from its source (kindredresearch/SenseAct at
# 505ebe6), independent of the project code, on hand-made sensor frames.
def senseact_light_bump(x: float) -> float:
    """create2_observation.py: Create2LightBumpDim (1/sqrt(max(1, x - 4.2)), range from the
    packet range [20, 4095]) through normalized_handler ((v - lo) / (hi - lo) * 2 - 1)."""
    s = 1.0 / np.sqrt(max(1.0, x - 4.2))
    s_lo, s_hi = 1.0 / np.sqrt(20 - 4.2), 1.0 / np.sqrt(4095 - 4.2)
    return (s - s_lo) / (s_hi - s_lo) * 2.0 - 1.0


def senseact_prev_action(a: float) -> float:
    """Create2PrevActionDim: drive_direct's range [-150, 150] through normalized_handler."""
    return (a - -150.0) / (150.0 - -150.0) * 2.0 - 1.0


SENSEACT_FLOOR = senseact_light_bump(0.0)


def frame(seq: int, **packets: int) -> SensorFrame:
    values = {7: 0, 9: 0, 10: 0, 11: 0, 12: 0, 19: 0, 34: 0,
              46: 0, 47: 0, 48: 0, 49: 0, 50: 0, 51: 0}
    values.update({int(k[1:]): v for k, v in packets.items()})  # p46=... -> packet 46
    return SensorFrame(seq=seq, t_s=0.015 * seq, values=values, left_counts=0, right_counts=0)


def test_observation_of_hand_made_frames_follows_senseact() -> None:
    signals = {"p46": 0, "p47": 5, "p48": 20, "p49": 100, "p50": 1500, "p51": 4095}
    obs = mover_observation(frame(1, **signals), np.array([150.0, -75.0]))
    expected = [senseact_light_bump(x) for x in signals.values()]
    expected += [senseact_prev_action(150.0), senseact_prev_action(-75.0)]
    np.testing.assert_allclose(obs, expected, rtol=1e-6)
    # the same numbers worked out once by hand: nothing below 20 is clipped to -1
    np.testing.assert_allclose(obs, [-7.3441143, -7.3441143, -1.0, 0.2664851, 0.9133586, 1.0,
                                     1.0, -0.5], rtol=1e-6)
    assert obs.dtype == np.float32
    clipped = mover_observation(frame(1, **signals), np.zeros(2), clip_light_bumps=True)
    np.testing.assert_allclose(clipped[:3], -1.0)
    np.testing.assert_allclose(clipped[3:6], obs[3:6])


def test_reward_of_hand_made_frames_is_0_15_times_the_distance_packets() -> None:
    start = frame(10)
    step = [frame(11 + i, p19=d) for i, d in enumerate([2, 3, 2, 2, 3, 2, 2, 3, 2, -1])]
    packet_mm, _ = step_distances_mm(start, step)
    # create2_mover_env.py _calc_reward: 0.15 * sum of 'distance' over the step's packets
    assert packet_mm == 2 + 3 + 2 + 2 + 3 + 2 + 2 + 3 + 2 - 1
    assert 0.15 * packet_mm == pytest.approx(3.0)


@pytest.mark.parametrize(("packets", "ends"), [
    ({}, None),
    ({"p7": 0b0001}, "bump"),        # bump right
    ({"p7": 0b0010}, "bump"),        # bump left
    ({"p7": 0b0100}, "wheel_drop"),  # bw >> 2
    ({"p10": 1}, "cliff"),           # cliff front left
    ({"p34": 2}, "docked"),          # charging sources == 2: the home base
    ({"p34": 1}, None),              # internal charger only
])
def test_episode_end_of_hand_made_frames_follows_senseact(packets, ends) -> None:
    # any frame of the step for bumps, drops and cliffs; the last frame for the dock
    frames = [frame(1, **packets), frame(2), frame(3, **{k: v for k, v in packets.items()
                                                          if k == "p34"})]
    events = mover_events(frames)
    assert [name for name, hit in events.items() if hit] == ([ends] if ends else [])


def test_docked_is_read_from_the_last_frame_only() -> None:
    assert not mover_events([frame(1, p34=2), frame(2)])["docked"]


def test_default_episode_is_senseacts_90_s() -> None:
    with make() as env:
        assert env.max_episode_steps == int(90 / 0.15) == 600


def test_commands_are_whole_mm_s_toward_zero_as_senseact() -> None:
    with make() as env:
        env.reset(seed=0)
        obs, *_ = env.step(np.array([100.9, -100.9], dtype=np.float32))
        state = env.twin.snapshot()
        assert (state.requested_left_mm_s, state.requested_right_mm_s) == (100, -100)
        np.testing.assert_allclose(obs[6:], [senseact_prev_action(100), senseact_prev_action(-100)],
                                   rtol=1e-6)


def test_twin_reward_is_the_distance_packet_and_matches_the_encoders() -> None:
    for source in ("distance_packet", "encoders"):
        with make(reward_source=source) as env:
            env.reset(seed=0)
            for _ in range(5):
                _, reward, *_, info = env.step(FORWARD)
                distance = info["distance_packet_mm" if source == "distance_packet"
                                else "encoder_distance_mm"]
                assert reward == pytest.approx(0.15 * distance)
                assert abs(info["distance_packet_mm"] - info["encoder_distance_mm"]) <= 1.0


def test_far_walls_give_light_bumps_below_minus_one() -> None:
    with make() as env:
        obs, _ = env.reset(seed=0)
        assert obs[:6].min() < -1.0 and env.observation_space.contains(obs)


def test_reward_is_0_15_per_mm_driven() -> None:
    with make() as env:
        env.reset(seed=0)
        twin = env.twin
        assert twin is not None
        x0 = twin.snapshot().x_mm
        total, distance = 0.0, 0
        for _ in range(10):
            obs, reward, terminated, truncated, info = env.step(FORWARD)
            assert reward == pytest.approx(0.15 * info["distance_mm"])
            assert abs(reward - 0.15 * 150 * 0.15) <= 0.15 + 1e-9  # 22.5 mm, whole mm per frame
            assert info["frames"] == 10 and not (terminated or truncated)
            total += reward
            distance += info["distance_mm"]
        moved = twin.snapshot().x_mm - x0
        assert moved == pytest.approx(225.0, abs=1e-6)  # 10 steps x 0.15 s x 150 mm/s
        assert abs(distance - moved) <= 1 and total == pytest.approx(0.15 * distance)
        np.testing.assert_allclose(obs[6:], [1.0, 1.0])  # previous action / 150


def test_reversing_is_penalised() -> None:
    with make() as env:
        env.reset(seed=0)
        _, reward, *_ = env.step(-FORWARD)
        assert reward == pytest.approx(-0.15 * 22.5, abs=0.15)


def test_bump_terminates_and_stops_the_wheels() -> None:
    # Facing the right wall; after the 225 mm reverse of reset it is 655 mm away.
    with make(arena={"start_pose": (W - 600.0, H / 2, 0.0)}) as env:
        obs, _ = env.reset(seed=0)
        centre = [obs[2]]
        for _ in range(40):
            obs, _, terminated, truncated, info = env.step(FORWARD)
            centre.append(obs[2])
            if terminated:
                break
        assert centre[0] <= -1.0 and np.all(np.diff(centre[-10:]) > 0)  # the wall comes closer
        steps = len(centre) - 1  # 655 mm at 22.5 mm a step
        assert terminated and not truncated and info["bump"] and steps in (29, 30)
        assert obs[2] > 0.5 and obs[3] > 0.5  # centre light bumps see the wall
        env.twin.wait_rx(env.driver.tx_bytes)
        state = env.twin.snapshot()
        assert state.left_mm_s == state.right_mm_s == 0
        assert state.x_mm == pytest.approx(W - ROBOT_RADIUS_MM)
        with pytest.raises(RuntimeError, match="reset"):
            env.step(FORWARD)
        env.reset()  # backs away from the wall
        _, _, terminated, _, _ = env.step(np.zeros(2, np.float32))
        assert not terminated


def test_cliff_terminates() -> None:
    with make(arena={"cliffs": ((1500.0, 0.0, 2500.0, 2000.0),)}) as env:
        env.reset(seed=0)
        for _ in range(60):
            *_, terminated, _, info = env.step(FORWARD)
            if terminated:
                break
        assert terminated and info["cliff"] and not info["wheel_drop"]
        assert env.twin.snapshot().mode == Mode.PASSIVE  # Safe mode's own reflex
        env.reset()
        assert env.twin.snapshot().mode == Mode.SAFE


def test_truncation_at_the_step_limit() -> None:
    with make(max_episode_steps=3) as env:
        env.reset(seed=0)
        flags = [env.step(np.zeros(2, np.float32))[3] for _ in range(3)]
        assert flags == [False, False, True]


def test_out_of_bounds_commands_are_clipped_before_the_wire() -> None:
    with make() as env:
        env.reset(seed=0)
        obs, *_ = env.step(np.array([1000.0, -1000.0], dtype=np.float32))
        state = env.twin.snapshot()
        assert (state.requested_left_mm_s, state.requested_right_mm_s) == (150, -150)
        np.testing.assert_allclose(obs[6:], [1.0, -1.0])
        env.step(np.array([np.nan, np.inf]))
        state = env.twin.snapshot()
        assert (state.requested_left_mm_s, state.requested_right_mm_s) == (0, 150)
        with pytest.raises(ValueError, match="action"):
            env.step(np.zeros(3))


def test_stop_commands_zero_velocity() -> None:
    with make() as env:
        env.reset(seed=0)
        env.step(FORWARD)
        env.stop()
        env.twin.wait_rx(env.driver.tx_bytes)
        assert env.twin.snapshot().left_mm_s == 0


def test_an_error_during_a_step_stops_the_wheels(monkeypatch: pytest.MonkeyPatch) -> None:
    with make() as env:
        env.reset(seed=0)
        env.step(FORWARD)

        def broken() -> None:
            raise OSError("simulated failure")

        monkeypatch.setattr(env._clock, "wait_step", broken)
        with pytest.raises(OSError, match="simulated"):
            env.step(FORWARD)
        env.twin.wait_rx(env.driver.tx_bytes)
        assert env.twin.snapshot().left_mm_s == 0


def test_close_stops_everything_and_is_idempotent() -> None:
    env = make()
    env.reset(seed=0)
    env.step(FORWARD)
    twin, driver = env.twin, env.driver
    env.close()
    env.close()
    assert not driver.stats().link_up
    state = twin.snapshot()
    assert state.left_mm_s == 0 and state.mode == Mode.OFF and not state.streaming
    with pytest.raises(RuntimeError, match="closed"):
        env.reset()


def test_reset_backs_off_the_dock() -> None:
    dock = (ROBOT_RADIUS_MM + 20.0, H / 2, 180.0)  # on the left-wall dock, facing it
    with make(arena={"start_pose": dock}) as env:
        _, info = env.reset(seed=0)
        assert info["undocked"] and not env.twin.snapshot().docked
        assert env.twin.snapshot().x_mm == pytest.approx(dock[0] + 300 + 225, abs=1)


def test_reset_unwinds_the_cable_after_720_degrees() -> None:
    with make() as env:
        env.reset(seed=0)
        spin = np.array([-150.0, 150.0], dtype=np.float32)  # ccw in place, ~73 deg/s
        for _ in range(70):
            *_, info = env.step(spin)
        assert info["rotation_deg"] >= 720
        _, info = env.reset()
        assert info["unwound"] and abs(info["rotation_deg"]) <= 40


def test_reset_recharges_a_low_battery_at_the_dock() -> None:
    arena = {"start_pose": (1200.0, 700.0, 90.0), "battery_start_mah": 1000.0,
             "charge_rate_ma": 400_000.0}
    with make(arena=arena, reset_config={"battery_charged_mah": 2000.0}) as env:
        _, info = env.reset(seed=0)
        assert info["charged"] and info["undocked"] and info["battery_mah"] >= 1990
        assert env.twin.snapshot().mode == Mode.SAFE


def test_charging_times_out_with_a_clear_error() -> None:
    arena = {"dock_wall": None, "battery_start_mah": 1000.0}
    with make(arena=arena, reset_config={"charge_timeout_s": 3.0}) as env:
        with pytest.raises(TimeoutError, match="did not reach 2600 mAh within 3 s"):
            env.reset(seed=0)


def test_same_seed_same_observations_and_rewards() -> None:
    def rollout() -> list[tuple[np.ndarray, float]]:
        with CreateMoverEnv() as env:
            env.action_space.seed(1)
            out = [(env.reset(seed=11)[0], 0.0)]
            for _ in range(30):
                obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
                out.append((obs, reward))
                if terminated or truncated:
                    out.append((env.reset()[0], 0.0))
            return out

    a, b = rollout(), rollout()
    assert len(a) == len(b)
    for (oa, ra), (ob, rb) in zip(a, b):
        np.testing.assert_array_equal(oa, ob)
        assert ra == rb


def test_realtime_twin_runs_on_the_wall_clock() -> None:
    with make(twin_clock="realtime", time_scale=4.0, reset_config={"reverse_s": 0.3}) as env:
        env.reset(seed=0)
        frames, total = 0, 0.0
        for _ in range(6):
            obs, reward, *_, info = env.step(FORWARD)
            frames, total = frames + info["frames"], total + reward
        assert env.observation_space.contains(obs)
        # ~10 frames a step; wide bounds because a loaded machine makes real time jittery
        assert 30 <= frames <= 90 and total > 0


def test_hardware_backend_talks_to_a_standalone_twin() -> None:
    with Emulator(TwinConfig(time_scale=5.0)) as twin:
        env = CreateMoverEnv(backend="hardware", port=twin.port, dt_s=0.15,
                             reset_config={"reverse_s": 0.15})
        try:
            env.reset()
            *_, info = env.step(FORWARD)
            assert info["frames"] >= 5
        finally:
            env.close()
        twin.wait_rx(env.driver.tx_bytes)
        state = twin.snapshot()
        assert state.mode == Mode.OFF and state.left_mm_s == 0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"backend": "sim"}, r"backend must be one of \('twin', 'hardware'\)"),
    ({"backend": "hardware"}, "port must be the robot's serial device"),
    ({"port": "/dev/ttyUSB0"}, "port is only used with backend='hardware'"),
    ({"dt_s": 0.0}, r"dt_s: got 0\.0, allowed range is \[0\.015, 10\]"),
    ({"dt_s": "fast"}, "dt_s: got 'fast', expected a finite number"),
    ({"max_episode_steps": 0}, "max_episode_steps must be an int >= 1"),
    ({"max_episode_steps": 2.5}, "max_episode_steps"),
    ({"brc_wake": "yes"}, "brc_wake must be True or False"),
    ({"reward_source": "odometry"}, r"reward_source must be one of \('distance_packet', 'encoders'\)"),
    ({"clip_light_bumps": 1}, "clip_light_bumps must be True or False"),
    ({"oi_mode": "passive"}, r"oi_mode must be one of \('safe', 'full'\)"),
    ({"twin_clock": "fast"}, "twin_clock must be one of"),
    ({"time_scale": 0}, r"time_scale: got 0, allowed range is \[0\.01, 1000\]"),
    ({"arena": {"size": 3}}, r"unknown arena option\(s\) \['size'\]"),
    ({"arena": {"width_mm": 10}}, "width_mm"),
    ({"reset_config": {"reverse_s": -1}}, "reset_config reverse_s must be >= 0"),
    ({"reset_config": {"unwind": 1}}, "unknown reset_config option"),
    ({"backend": "hardware", "port": "/dev/ttyUSB0", "time_scale": 2.0}, "only apply to backend='twin'"),
])
def test_invalid_arguments_raise_clear_value_errors(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        CreateMoverEnv(**kwargs)


def test_validation_happens_before_any_port_is_opened(tmp_path: Path) -> None:
    # A bad dt_s is reported, not the missing device.
    with pytest.raises(ValueError, match="dt_s"):
        CreateMoverEnv(backend="hardware", port=str(tmp_path / "ttyUSB0"), dt_s=-1.0)

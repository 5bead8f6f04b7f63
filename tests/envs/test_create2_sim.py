"""Create 2 twin physics: kinematics, encoders, odometry, walls, cliffs, dock, battery."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from rt_avg.envs.create2 import oi
from rt_avg.envs.create2.sim import ROBOT_RADIUS_MM, ArenaConfig, Create2Sim

ARENA = ArenaConfig(width_mm=3000, height_mm=2000, start_pose=(1500, 1000, 0), light_noise_std=0)


def run(sim: Create2Sim, left: float, right: float, seconds: float, dt: float = 0.015) -> None:
    sim.set_wheels(left, right)
    for _ in range(round(seconds / dt)):
        sim.step(dt)


def test_straight_drive_moves_encodes_and_accumulates_distance() -> None:
    sim = Create2Sim(ARENA)
    run(sim, 200, 200, 1.5)
    assert sim.x == pytest.approx(1800, abs=1e-6) and sim.y == pytest.approx(1000)
    v = sim.read([19, 20, 43, 44])
    assert v[19] in (299, 300) and v[20] == 0
    expected_counts = math.floor(300 * 508.8 / (math.pi * 72))
    assert abs(v[43] - expected_counts) <= 1 and abs(v[44] - expected_counts) <= 1
    assert sim.read([19])[19] in (0, 1)  # distance is consumed by reading it


def test_turn_in_place_reports_angle_in_degrees() -> None:
    sim = Create2Sim(ARENA)
    run(sim, -100, 100, 1.5)  # ccw at 2 * 100 / 235 rad/s
    expected = math.degrees(2 * 100 / 235 * 1.5)
    assert abs(sim.read([20])[20] - expected) <= 1
    assert sim.x == pytest.approx(1500) and sim.y == pytest.approx(1000)


def test_encoders_wrap_at_16_bits() -> None:
    sim = Create2Sim(ArenaConfig(width_mm=50_000, height_mm=2000, start_pose=(200, 1000, 0)))
    run(sim, 500, 500, 40.0, dt=0.5)  # 20 m = 45 000 counts: past 32767
    counts = math.floor(20_000 * oi.COUNTS_PER_MM)
    assert sim.read([43])[43] == (counts + 32768) % 65536 - 32768 < 0


def test_bump_and_light_bumps_near_a_wall() -> None:
    sim = Create2Sim(ARENA)
    sim.set_pose(3000 - ROBOT_RADIUS_MM - 300, 1000, 0)  # facing the right wall, 300 mm off
    far = sim.read([48, 49])
    run(sim, 150, 150, 1.8)  # 270 mm: 30 mm from the wall
    near = sim.read([7, 45, 48, 49])
    assert near[48] > far[48] and near[49] > 1000 and near[45] & 0b001100
    assert near[7] & 0b11 == 0
    run(sim, 150, 150, 0.5)  # into the wall: held there, both bumpers pressed
    assert sim.x == pytest.approx(3000 - ROBOT_RADIUS_MM)
    assert sim.read([7])[7] & 0b11 == 0b11


def test_side_contact_presses_one_bumper() -> None:
    sim = Create2Sim(ARENA)
    sim.set_pose(1500, 2000 - ROBOT_RADIUS_MM, 30)  # wall to the left of the heading
    assert sim.read([7])[7] & 0b11 == 0b10  # bit 1: left bumper


def test_cliff_then_wheel_drop_at_a_drop_off() -> None:
    arena = ArenaConfig(start_pose=(1000, 1000, 0), cliffs=((1300, 0, 2500, 2000),))
    sim = Create2Sim(arena)
    run(sim, 150, 150, 1.2)  # front cliff sensors (155 mm ahead) pass x = 1300 first
    v = sim.read([7, 10, 11, 29])
    assert v[10] == v[11] == 1 and v[29] < 200 and v[7] == 0
    run(sim, 150, 150, 1.5)
    assert sim.read([7])[7] & 0b1100 == 0b1100
    x = sim.x
    run(sim, 150, 150, 0.3)
    assert sim.x == x  # a dropped wheel stops the body


def test_dock_charges_and_seek_dock_finds_it() -> None:
    arena = ArenaConfig(start_pose=(1500, 600, 90), battery_start_mah=1000, light_noise_std=0)
    sim = Create2Sim(arena)
    sim.seeking_dock = True
    run(sim, 0, 0, 30.0)
    assert sim.docked and not sim.seeking_dock
    v = sim.read([21, 23, 25, 34])
    assert v[34] == 2 and v[21] == 2 and v[23] > 0
    assert v[25] > 1000


def test_dock_ir_beacons_are_seen_in_front_of_the_dock() -> None:
    sim = Create2Sim(ArenaConfig(start_pose=(500, 1000, 180)))
    assert sim.read([17])[17] in (172, 173)  # red + green buoys (+ force field)
    sim.set_pose(2300, 200, 0)
    assert sim.read([17])[17] == 0


def test_lifted_robot_reports_wheel_drops_and_does_not_move() -> None:
    sim = Create2Sim(ARENA)
    sim.lifted = True
    run(sim, 100, 100, 0.3)
    assert sim.x == pytest.approx(1500)
    assert sim.read([7])[7] == 0b1100


def test_same_seed_same_noise() -> None:
    noisy = ArenaConfig()
    a, b, c = Create2Sim(noisy, seed=4), Create2Sim(noisy, seed=4), Create2Sim(noisy, seed=5)
    for sim in (a, b, c):
        run(sim, 100, 90, 0.3)
    assert a.read([100]) == b.read([100])
    assert (a.x, a.y) != (c.x, c.y)  # the seed also draws the start pose


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"width_mm": 100}, "width_mm"),
    ({"dock_wall": "middle"}, "dock_wall"),
    ({"cliffs": ((10, 10, 5, 20),)}, "cliffs"),
    ({"start_pose": (0, 0, 0)}, "start_pose"),
    ({"battery_start_mah": 5000}, "battery_start_mah"),
    ({"drain_scale": 0.0}, "drain_scale"),
])
def test_arena_config_errors_name_the_field(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        ArenaConfig(**kwargs)


def test_arena_from_mapping_rejects_unknown_keys() -> None:
    assert ArenaConfig.from_mapping({"width_mm": 1000}).width_mm == 1000
    with pytest.raises(ValueError, match=r"unknown arena option\(s\) \['size'\]"):
        ArenaConfig.from_mapping({"size": 3})


def test_distance_is_capped_at_16_bits_when_not_read_often_enough() -> None:
    arena = ArenaConfig(width_mm=50_000, height_mm=2000, start_pose=(500, 1000, 0),
                        light_noise_std=0, dock_wall=None)
    sim = Create2Sim(arena)
    run(sim, 500, 500, 70.0)  # 35 m without a read
    assert sim.read([19])[19] == 32767  # the spec: "capped at its minimum or maximum"
    assert sim.read([19])[19] == 0  # and the excess is gone


def test_drain_scale_and_a_battery_that_carries_over_seeded_resets() -> None:
    arena = ArenaConfig(start_pose=(1500, 1000, 0), light_noise_std=0, dock_wall=None)
    normal, fast = Create2Sim(arena), Create2Sim(replace(arena, drain_scale=5.0))
    for sim in (normal, fast):
        run(sim, 150, 150, 10.0)
    used = arena.battery_start_mah - normal.battery_mah
    assert used > 1.0 and arena.battery_start_mah - fast.battery_mah == pytest.approx(5 * used)
    fast.reset_world(1)
    assert fast.battery_mah == arena.battery_start_mah  # by default a seeded reset restores it
    carried = Create2Sim(replace(arena, battery_carries_over=True))
    run(carried, 150, 150, 10.0)
    carried.reset_world(1)
    assert carried.battery_mah == pytest.approx(normal.battery_mah)

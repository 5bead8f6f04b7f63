"""2-D differential-drive simulation of a Create 2 in a walled rectangular arena.

Physics only: pose, wheels, encoders, odometry accumulators, contact with walls,
drop-offs (cliffs), a dock with charging contacts and IR beacons, and the battery.
The OI state (mode, requested velocities, streams) lives in ``emulator``.

Frame: arena corner at (0, 0), x to the right, y up, heading counter-clockwise from +x.
Everything is deterministic given the seed; sensor noise comes from one seeded generator.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rt_avg.envs.create2 import oi
from rt_avg.envs.create2.settings import from_mapping

ROBOT_RADIUS_MM = 170.0
WHEEL_OFFSET_MM = oi.WHEEL_BASE_MM / 2.0
#: bearings (deg, ccw from heading) of light-bump sensors 46..51 and cliff sensors 9..12
LIGHT_BUMP_BEARINGS_DEG = (65.0, 38.0, 12.0, -12.0, -38.0, -65.0)
CLIFF_BEARINGS_DEG = (62.0, 17.0, -17.0, -62.0)
CLIFF_SENSOR_RADIUS_MM = 155.0
LIGHT_BUMP_THRESHOLD = 150  # signal above which packet 45 sets the sensor's bit
DOCK_DEPTH_MM = 20.0  # the robot's edge sits this far from the wall when docked
DOCK_TOLERANCE_MM = 30.0
_CONTACT_EPS_MM = 0.5
_SIGNAL_D0_MM = 40.0  # light-bump falloff: 4095 * d0^2 / (d + d0)^2

Wall = Literal["left", "right", "bottom", "top"]


@dataclass(frozen=True)
class ArenaConfig:
    """The twin's world.  Lengths in mm, angles in degrees.

    ``cliffs`` are drop-off rectangles ``(x0, y0, x1, y1)`` inside the arena;
    ``start_pose`` ``(x, y, heading_deg)`` fixes where a seeded reset puts the robot
    (``None``: a pose drawn from the seed, clear of walls, dock and drop-offs).
    """

    width_mm: float = 2500.0
    height_mm: float = 2000.0
    dock_wall: Wall | None = "left"
    dock_offset_mm: float | None = None  # along the wall; None = middle
    cliffs: tuple[tuple[float, float, float, float], ...] = ()
    start_pose: tuple[float, float, float] | None = None
    battery_capacity_mah: float = 2696.0
    battery_start_mah: float = 2500.0
    charge_rate_ma: float = 1500.0
    drain_scale: float = 1.0  # x the discharge current off the dock (drain a battery on purpose)
    #: a seeded world reset keeps the battery's charge, as a real robot's carries over
    #: between episodes, so a long run drains it and passes through charging waits; off by
    #: default, where reset(seed) restores ``battery_start_mah`` and is a function of the seed
    battery_carries_over: bool = False
    light_noise_std: float = 2.0

    def __post_init__(self) -> None:
        if not (800.0 <= self.width_mm <= 50_000.0 and 800.0 <= self.height_mm <= 50_000.0):
            raise ValueError("arena width_mm and height_mm must be in [800, 50000] mm; "
                             f"got {self.width_mm} x {self.height_mm}")
        if self.dock_wall not in (None, "left", "right", "bottom", "top"):
            raise ValueError("arena dock_wall must be one of None, 'left', 'right', 'bottom', "
                             f"'top'; got {self.dock_wall!r}")
        object.__setattr__(self, "cliffs", tuple(tuple(float(v) for v in c) for c in self.cliffs))
        for c in self.cliffs:
            if len(c) != 4 or not (c[0] < c[2] and c[1] < c[3]):
                raise ValueError(f"arena cliffs must be (x0, y0, x1, y1) with x0 < x1, y0 < y1; got {c}")
        if self.start_pose is not None:
            if len(self.start_pose) != 3:
                raise ValueError(f"arena start_pose must be (x_mm, y_mm, heading_deg); got {self.start_pose}")
            object.__setattr__(self, "start_pose", tuple(float(v) for v in self.start_pose))
            x, y, _ = self.start_pose
            r = ROBOT_RADIUS_MM
            if not (r <= x <= self.width_mm - r and r <= y <= self.height_mm - r):
                raise ValueError(f"arena start_pose {self.start_pose} puts the robot "
                                 f"(radius {r} mm) outside the {self.width_mm} x {self.height_mm} arena")
        if not 0.0 < self.battery_capacity_mah <= 65535.0:
            raise ValueError("arena battery_capacity_mah must be in (0, 65535]; "
                             f"got {self.battery_capacity_mah}")
        if not 0.0 <= self.battery_start_mah <= self.battery_capacity_mah:
            raise ValueError("arena battery_start_mah must be in [0, battery_capacity_mah]; "
                             f"got {self.battery_start_mah}")
        if self.charge_rate_ma <= 0.0:
            raise ValueError(f"arena charge_rate_ma must be > 0; got {self.charge_rate_ma}")
        if not 0.0 < self.drain_scale <= 1000.0:
            raise ValueError(f"arena drain_scale must be in (0, 1000]; got {self.drain_scale}")
        if self.light_noise_std < 0.0:
            raise ValueError(f"arena light_noise_std must be >= 0; got {self.light_noise_std}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ArenaConfig:
        """Build from a plain mapping (YAML), naming unknown keys in the error."""
        return from_mapping(cls, values, "arena")

    def dock_pose(self) -> tuple[float, float, float] | None:
        """Where the robot's centre sits when docked, and the dock's inward facing (rad)."""
        if self.dock_wall is None:
            return None
        along = self.dock_offset_mm
        inset = ROBOT_RADIUS_MM + DOCK_DEPTH_MM
        if self.dock_wall in ("left", "right"):
            y = self.height_mm / 2 if along is None else along
            return (inset, y, 0.0) if self.dock_wall == "left" else (self.width_mm - inset, y, math.pi)
        x = self.width_mm / 2 if along is None else along
        if self.dock_wall == "bottom":
            return x, inset, math.pi / 2
        return x, self.height_mm - inset, -math.pi / 2


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _in_rects(x: float, y: float, rects: Iterable[tuple[float, float, float, float]]) -> bool:
    return any(x0 <= x <= x1 and y0 <= y <= y1 for x0, y0, x1, y1 in rects)


class Create2Sim:
    """The robot's body in the arena; ``step`` advances it by one tick."""

    def __init__(self, arena: ArenaConfig, seed: int = 0) -> None:
        self.arena = arena
        self._dock = arena.dock_pose()
        self.battery_mah = float(arena.battery_start_mah)
        self.reset_world(seed)

    # ---- state --------------------------------------------------------------------
    def reset_world(self, seed: int) -> None:
        """Reseed the noise and put the robot at its start pose, wheels stopped; the battery
        back at ``battery_start_mah`` unless ``arena.battery_carries_over``."""
        self._rng = np.random.default_rng(seed)
        self.x, self.y, self.theta = self._start_pose()
        self.left_mm_s = self.right_mm_s = 0.0
        if not self.arena.battery_carries_over:
            self.battery_mah = float(self.arena.battery_start_mah)
        self.lifted = False
        self.seeking_dock = False
        #: the OI lets the dock charge the battery (Off and Passive); the emulator clears it in
        #: Safe and Full, where "the charger will power Roomba ... but it will not charge"
        self.charger_enabled = True
        self.t_s = 0.0
        self._distance_acc_mm = 0.0
        self._angle_acc_deg = 0.0
        self._enc_left = self._enc_right = 0.0
        self._moved_mm = 0.0
        self._current_ma = 0.0
        self._values: dict[int, int] = {}
        self._refresh_sensors()

    def _start_pose(self) -> tuple[float, float, float]:
        a = self.arena
        if a.start_pose is not None:
            x, y, h = a.start_pose
            return x, y, math.radians(h)
        margin = ROBOT_RADIUS_MM + 250.0
        for _ in range(1000):
            x = float(self._rng.uniform(margin, a.width_mm - margin))
            y = float(self._rng.uniform(margin, a.height_mm - margin))
            clear_of_dock = self._dock is None or math.hypot(x - self._dock[0], y - self._dock[1]) > 600.0
            grown = [(x0 - 400, y0 - 400, x1 + 400, y1 + 400) for x0, y0, x1, y1 in a.cliffs]
            if clear_of_dock and not _in_rects(x, y, grown):
                return x, y, float(self._rng.uniform(-math.pi, math.pi))
        return a.width_mm / 2, a.height_mm / 2, 0.0

    def set_wheels(self, left_mm_s: float, right_mm_s: float) -> None:
        self.left_mm_s, self.right_mm_s = float(left_mm_s), float(right_mm_s)

    def set_pose(self, x_mm: float, y_mm: float, heading_deg: float) -> None:
        self.x, self.y, self.theta = float(x_mm), float(y_mm), math.radians(heading_deg)
        self._refresh_sensors()

    @property
    def docked(self) -> bool:
        d = self._dock
        return d is not None and math.hypot(self.x - d[0], self.y - d[1]) <= DOCK_TOLERANCE_MM

    def _body_point(self, bearing_rad: float, radius_mm: float) -> tuple[float, float]:
        a = self.theta + bearing_rad
        return self.x + radius_mm * math.cos(a), self.y + radius_mm * math.sin(a)

    def wheel_drops(self) -> tuple[bool, bool]:
        """(right dropped, left dropped): lifted, or a wheel over a drop-off."""
        if self.lifted:
            return True, True
        right = self._body_point(-math.pi / 2, WHEEL_OFFSET_MM)
        left = self._body_point(math.pi / 2, WHEEL_OFFSET_MM)
        return _in_rects(*right, self.arena.cliffs), _in_rects(*left, self.arena.cliffs)

    def cliff_detected(self) -> bool:
        """Any of the four cliff sensors sees a drop-off (this tick)."""
        return any(self._values[c] for c in oi.CLIFF_FLAGS)

    # ---- dynamics -----------------------------------------------------------------
    def step(self, dt_s: float) -> None:
        """Advance one tick: dock seeking, motion with wall contact, encoders, battery."""
        if self.seeking_dock:
            self._seek_dock_control()
        vl, vr = self.left_mm_s, self.right_mm_s
        dl, dr = vl * dt_s, vr * dt_s
        # Encoders and odometry follow the wheels, which slip when the body is blocked.
        self._enc_left += dl * oi.COUNTS_PER_MM
        self._enc_right += dr * oi.COUNTS_PER_MM
        self._distance_acc_mm += (dl + dr) / 2.0
        self._angle_acc_deg += math.degrees((dr - dl) / oi.WHEEL_BASE_MM)
        x0, y0 = self.x, self.y
        if not any(self.wheel_drops()):
            v, w = (vl + vr) / 2.0, (vr - vl) / oi.WHEEL_BASE_MM
            if abs(w) < 1e-9:
                self.x += v * dt_s * math.cos(self.theta)
                self.y += v * dt_s * math.sin(self.theta)
            else:
                th1 = self.theta + w * dt_s
                self.x += v / w * (math.sin(th1) - math.sin(self.theta))
                self.y -= v / w * (math.cos(th1) - math.cos(self.theta))
            self.theta = _wrap(self.theta + w * dt_s)
            r = ROBOT_RADIUS_MM
            self.x = min(self.arena.width_mm - r, max(r, self.x))
            self.y = min(self.arena.height_mm - r, max(r, self.y))
        self._moved_mm = math.hypot(self.x - x0, self.y - y0)
        self._update_battery(dt_s)
        self.t_s += dt_s
        self._refresh_sensors()

    def _seek_dock_control(self) -> None:
        if self._dock is None or self.docked:
            self.seeking_dock = False
            self.set_wheels(0.0, 0.0)
            return
        tx, ty, _ = self._dock
        err = _wrap(math.atan2(ty - self.y, tx - self.x) - self.theta)
        if abs(err) > 0.1:
            turn = math.copysign(80.0, err)
            self.set_wheels(-turn, turn)
        else:
            v = min(150.0, 20.0 + 2.0 * math.hypot(tx - self.x, ty - self.y))
            self.set_wheels(v - 100.0 * err, v + 100.0 * err)

    def _update_battery(self, dt_s: float) -> None:
        """Charge on the dock when the OI allows it, else drain.  The currents are guesses:
        the spec gives no figures (``charge_rate_ma`` while charging, 50 mA trickle when
        full, 0 on the dock in Safe/Full where the charger powers the robot, and 150 mA +
        1.2 mA per mm/s of wheel speed, x ``drain_scale``, off the dock)."""
        cap = self.arena.battery_capacity_mah
        if self.docked and self.charger_enabled:
            self._current_ma = self.arena.charge_rate_ma if self.battery_mah < cap else 50.0
        elif self.docked:
            self._current_ma = 0.0
        else:
            wheels = abs(self.left_mm_s) + abs(self.right_mm_s)
            self._current_ma = -(150.0 + 1.2 * wheels) * self.arena.drain_scale
        self.battery_mah = min(cap, max(0.0, self.battery_mah + self._current_ma * dt_s / 3600.0))

    def charging_state(self) -> int:
        """Packet 21: 0 not charging, 2 full charging, 3 trickle charging (the spec's codes;
        1 reconditioning, 4 waiting and 5 fault are not modelled)."""
        if not (self.docked and self.charger_enabled):
            return 0
        return 3 if self.battery_mah >= self.arena.battery_capacity_mah else 2

    # ---- sensors ------------------------------------------------------------------
    def _ray_to_wall(self, bearing_rad: float) -> tuple[float, float]:
        """Distance (mm) from a bumper sensor to the wall along its ray, and |cos| of the
        angle between the ray and that wall's normal."""
        ox, oy = self._body_point(bearing_rad, ROBOT_RADIUS_MM)
        a = self.theta + bearing_rad
        cx, cy = math.cos(a), math.sin(a)
        best, cos_inc = math.inf, 1.0
        if abs(cx) > 1e-9:
            t = ((self.arena.width_mm if cx > 0 else 0.0) - ox) / cx
            best, cos_inc = t, abs(cx)
        if abs(cy) > 1e-9:
            t = ((self.arena.height_mm if cy > 0 else 0.0) - oy) / cy
            if t < best:
                best, cos_inc = t, abs(cy)
        return max(0.0, best), cos_inc

    def _light_bump_signal(self, bearing_rad: float) -> int:
        d, cos_inc = self._ray_to_wall(bearing_rad)
        s = 4095.0 * _SIGNAL_D0_MM**2 / (d + _SIGNAL_D0_MM) ** 2 * (0.3 + 0.7 * cos_inc)
        s += 3.0 + self._rng.normal(0.0, self.arena.light_noise_std)
        return int(min(4095.0, max(0.0, round(s))))

    def _bumps(self) -> tuple[bool, bool]:
        """(right, left) bumper switches from contact with a wall in the front half."""
        r, a = ROBOT_RADIUS_MM + _CONTACT_EPS_MM, self.arena
        contacts = []
        if self.x <= r:
            contacts.append(math.pi)
        if self.x >= a.width_mm - r:
            contacts.append(0.0)
        if self.y <= r:
            contacts.append(-math.pi / 2)
        if self.y >= a.height_mm - r:
            contacts.append(math.pi / 2)
        right = left = False
        for direction in contacts:
            rel = _wrap(direction - self.theta)
            if abs(rel) > math.radians(90):
                continue  # the bumper covers the front half only
            left |= rel > -math.radians(15)
            right |= rel < math.radians(15)
        return right, left

    def _dock_ir(self) -> int:
        """IR character seen from the dock: 160 + 8 red buoy + 4 green buoy + 1 force field."""
        if self._dock is None:
            return 0
        dx, dy, facing = self._dock
        d = math.hypot(self.x - dx, self.y - dy)
        rel = _wrap(math.atan2(self.y - dy, self.x - dx) - facing) if d > 1e-6 else 0.0
        if d > 1500.0 or abs(rel) > math.radians(80):
            return 0
        red, green = rel <= math.radians(10), rel >= math.radians(-10)
        return 160 + 8 * red + 4 * green + 1 * (d < 600.0)

    def _refresh_sensors(self) -> None:
        """Compute every physical packet for the current tick (noise drawn once per tick)."""
        rng, a = self._rng, self.arena
        lb = [self._light_bump_signal(math.radians(b)) for b in LIGHT_BUMP_BEARINGS_DEG]
        cliffs = [_in_rects(*self._body_point(math.radians(b), CLIFF_SENSOR_RADIUS_MM), a.cliffs)
                  for b in CLIFF_BEARINGS_DEG]
        cliff_signals = [int(max(0, round((30.0 if c else 2600.0) + rng.normal(0.0, 10.0))))
                         for c in cliffs]
        bump_r, bump_l = self._bumps()
        drop_r, drop_l = self.wheel_drops()
        docked = self.docked
        ir = self._dock_ir()
        v: dict[int, int] = {pid: 0 for pid in oi.PACKETS}
        v[7] = bump_r | bump_l << 1 | drop_r << 2 | drop_l << 3
        v[8] = int(lb[5] > LIGHT_BUMP_THRESHOLD)
        v.update(zip(oi.CLIFF_FLAGS, (int(c) for c in cliffs)))
        v[17] = v[52] = v[53] = ir
        v[21] = self.charging_state()
        v[22] = int(13000 + 3000 * self.battery_mah / a.battery_capacity_mah + (500 if docked else 0))
        v[23] = int(round(self._current_ma))
        v[24] = 25
        v[25] = int(self.battery_mah)
        v[26] = int(a.battery_capacity_mah)
        v[27] = min(1023, lb[5] // 4)
        v.update(zip((28, 29, 30, 31), cliff_signals))
        v[34] = 2 if docked else 0  # bit 1: home base
        v[43] = _wrap_s16(math.floor(self._enc_left))
        v[44] = _wrap_s16(math.floor(self._enc_right))
        v[45] = sum(1 << i for i, s in enumerate(lb) if s > LIGHT_BUMP_THRESHOLD)
        v.update(zip(oi.LIGHT_BUMP_SIGNALS, lb))
        v[54] = int(abs(self.left_mm_s) * 0.6)
        v[55] = int(abs(self.right_mm_s) * 0.6)
        v[58] = int(self._moved_mm > 0.1)
        self._values = v

    def read(self, packet_ids: Iterable[int], angle_scale: float = 1.0) -> dict[int, int]:
        """Values of the single packets in ``packet_ids`` (groups expanded).

        Distance (19) and angle (20) are the travel "since it was last requested" (OI spec):
        reading one returns the whole millimetres / degrees accumulated and keeps the
        fraction for the next read (a guess: the spec says nothing about fractions), and a
        value beyond the 16-bit range "is capped at its minimum or maximum" (the excess is
        lost).  ``angle_scale`` is what the firmware reports per degree (1 when correct).
        """
        singles = {m for pid in packet_ids for m in oi.members(pid)}
        out = {pid: self._values[pid] for pid in singles if pid in self._values}
        if oi.DISTANCE in singles:
            out[oi.DISTANCE], self._distance_acc_mm = _take_whole(self._distance_acc_mm, 1.0)
        if oi.ANGLE in singles:
            out[oi.ANGLE], self._angle_acc_deg = _take_whole(self._angle_acc_deg, angle_scale)
        return out


def _take_whole(accumulated: float, scale: float) -> tuple[int, float]:
    """(the whole units of ``accumulated * scale``, capped to 16 bits; what is left over)."""
    whole = int(accumulated * scale)  # toward zero
    return max(-32768, min(32767, whole)), accumulated - whole / scale


def _wrap_s16(value: int) -> int:
    return (int(value) + 32768) % 65536 - 32768

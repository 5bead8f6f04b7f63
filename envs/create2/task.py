"""Create-Mover: drive forward, avoid walls (SenseAct's Create2MoverEnv, as a Gymnasium env).

The defaults follow SenseAct's ``create2_mover_env.py`` and its example
``examples/advanced/create2_mover.py`` field by field (docs/robots.md has the table):

* Action: (left, right) wheel speeds in mm/s, Box [-150, 150]^2; out-of-range or
  non-finite actions are clipped (NaN -> 0) before anything reaches the wire.
* Observation (8): the six light-bump signals (packets 46-51) as ``s = 1/sqrt(max(1, x - 4.2))``
  scaled linearly so that x = 20 maps to -1 and x = 4095 to +1.  As in SenseAct, signals
  below 20 are not clipped: they reach :data:`LIGHT_BUMP_FLOOR` (about -7.34) at x <= 5.2.
  ``clip_light_bumps=True`` clips the signal to [20, 4095] (observations in [-1, 1]).
  Then the previous wheel command / 150 (0 after a reset).
* Reward: 0.15 x the distance (mm) driven during the step, the sum of the distance packet
  (19) over the step's stream frames, as SenseAct.  ``reward_source="encoders"`` takes the
  distance from the wheel encoders (packets 43, 44) instead: the distance packet reads
  wrong on firmware before 3.3.0.
* ``terminated`` on a bump, a wheel drop or a cliff in any frame of the step, or when the
  last frame's charging sources read exactly 2 (home base) as in SenseAct; ``truncated``
  after ``max_episode_steps`` (600: SenseAct's 90 s episodes of 150 ms).  The wheels are
  stopped at episode end.

Backends: ``"hardware"`` opens ``port``; ``"twin"`` starts an ``Emulator`` on a pty and
connects to it the same way.  ``twin_clock="lockstep"`` (default) advances the twin
exactly ``dt_s`` per step, so equal seeds and actions give equal observations;
``"realtime"`` runs it on the wall clock x ``time_scale``.  On the twin, ``reset(seed=s)``
restarts the twin's world from ``s`` (start pose, battery, sensor noise) before the
reset sequence; ``reset()`` without a seed continues from where the robot is.

Stopping: ``stop()`` (any thread) commands 0/0 and cuts a running reset short; an exception
or Ctrl-C in ``step``/``reset`` commands 0/0 before it propagates; a robot that sends no
frame for ``frame_timeout_s`` makes ``step`` raise ``Create2SilentError`` (wheels stopped);
with ``guard`` (default on hardware) a guard process stops the wheels if this process dies.
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections.abc import Mapping
from typing import Any, Callable, Literal

import gymnasium as gym
import numpy as np

from rt_avg.core.config import check_range
from rt_avg.envs.create2 import oi
from rt_avg.envs.create2.clock import LockstepClock, StepClock, WallClock
from rt_avg.envs.create2.driver import (DEFAULT_STREAM_PACKETS, Create2Driver, DriverConfig,
                                        SensorFrame, motion_between)
from rt_avg.envs.create2.emulator import TICK_S, Emulator, TwinConfig
from rt_avg.envs.create2.reset import ResetConfig, ResetRoutine
from rt_avg.envs.create2.sim import ArenaConfig

log = logging.getLogger(__name__)

ACTION_LIMIT_MM_S = 150.0
REWARD_PER_MM = 0.15
#: SenseAct's episode: 90 s of 150 ms steps (examples/advanced/create2_mover.py)
EPISODE_STEPS = 600
_LB_BETA = 4.2
_LB_LOW, _LB_HIGH = 20.0, 4095.0
_S_LOW, _S_HIGH = 1.0 / math.sqrt(_LB_LOW - _LB_BETA), 1.0 / math.sqrt(_LB_HIGH - _LB_BETA)
#: the lowest light-bump feature (signal <= 5.2, where SenseAct's max(1, x - 4.2) floors)
LIGHT_BUMP_FLOOR = 2.0 * (1.0 - _S_LOW) / (_S_HIGH - _S_LOW) - 1.0
#: the stream carries the distance and angle packets too (SenseAct's reward reads 19)
STREAM_PACKETS = tuple(sorted({*DEFAULT_STREAM_PACKETS, oi.DISTANCE, oi.ANGLE}))
RewardSource = Literal["distance_packet", "encoders"]


def light_bump_features(signals: np.ndarray, clip: bool = False) -> np.ndarray:
    """Light-bump signals (0-4095) -> features: ``1/sqrt(max(1, x - 4.2))`` scaled so that
    20 -> -1 and 4095 -> +1 (SenseAct's ``Create2LightBumpDim``); below 20 the feature goes
    on down to :data:`LIGHT_BUMP_FLOOR`.  ``clip`` first clips x to [20, 4095]."""
    x = np.asarray(signals, dtype=np.float64)
    if clip:
        x = np.clip(x, _LB_LOW, _LB_HIGH)
    s = 1.0 / np.sqrt(np.maximum(1.0, x - _LB_BETA))
    return 2.0 * (s - _S_LOW) / (_S_HIGH - _S_LOW) - 1.0


def mover_observation(frame: SensorFrame, prev_action: np.ndarray,
                      clip_light_bumps: bool = False) -> np.ndarray:
    """The task's observation (float32, 8): :func:`light_bump_features` of packets 46-51 in
    ``frame``, then ``prev_action`` (mm/s) / 150."""
    signals = np.array([frame[p] for p in oi.LIGHT_BUMP_SIGNALS], dtype=np.float64)
    obs = np.concatenate([light_bump_features(signals, clip=clip_light_bumps),
                          np.asarray(prev_action, dtype=np.float64) / ACTION_LIMIT_MM_S])
    low = -1.0 if clip_light_bumps else LIGHT_BUMP_FLOOR
    return np.concatenate([np.clip(obs[:6], low, 1.0), np.clip(obs[6:], -1.0, 1.0)]).astype(np.float32)


def step_distances_mm(start: SensorFrame, frames: list[SensorFrame]) -> tuple[float, float]:
    """(distance packet, encoders): mm driven from ``start`` to the last of ``frames`` (the
    step's frames, in order), as the sum of the frames' distance packets (19: each holds
    the travel since the frame before it) and from the encoder counts."""
    packet_mm = float(sum(f[oi.DISTANCE] for f in frames))
    return packet_mm, motion_between(start, frames[-1])[0] if frames else 0.0


def _check_choice(name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")


def _settings(name: str, value: Any, cls: type) -> Any:
    """``cls()`` for None, ``cls.from_mapping`` for a mapping (from YAML), or ``value``."""
    if value is None:
        return cls()
    if isinstance(value, Mapping):
        return cls.from_mapping(value)
    if not isinstance(value, cls):
        raise ValueError(f"{name} must be a {cls.__name__}, a mapping or None; got {value!r}")
    return value


class CreateMoverEnv(gym.Env[np.ndarray, np.ndarray]):
    """Create-Mover task on a Create 2 or its twin; see the module docstring."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        *,
        backend: Literal["twin", "hardware"] = "twin",
        port: str | None = None,
        dt_s: float = 0.15,
        max_episode_steps: int = EPISODE_STEPS,
        reward_source: RewardSource = "distance_packet",
        clip_light_bumps: bool = False,
        brc_wake: bool = False,
        oi_mode: Literal["safe", "full"] = "safe",
        twin_clock: Literal["lockstep", "realtime"] = "lockstep",
        time_scale: float = 1.0,
        arena: ArenaConfig | Mapping[str, Any] | None = None,
        reset_config: ResetConfig | Mapping[str, Any] | None = None,
        frame_timeout_s: float = 0.5,
        guard: bool | None = None,
    ) -> None:
        # Validate everything before touching a port or starting a twin.
        _check_choice("backend", backend, ("twin", "hardware"))
        if backend == "hardware":
            if not isinstance(port, str) or not port:
                raise ValueError("port must be the robot's serial device (e.g. '/dev/ttyUSB0') "
                                 f"when backend='hardware'; got {port!r}")
        elif port is not None:
            raise ValueError("port is only used with backend='hardware' (the twin makes its own "
                             f"pseudo-terminal); got port={port!r}")
        self.dt_s = float(check_range("dt_s", dt_s, TICK_S, 10.0))
        if isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int) \
                or max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be an int >= 1; got {max_episode_steps!r}")
        _check_choice("reward_source", reward_source, ("distance_packet", "encoders"))
        if not isinstance(clip_light_bumps, bool):
            raise ValueError(f"clip_light_bumps must be True or False; got {clip_light_bumps!r}")
        if not isinstance(brc_wake, bool):
            raise ValueError(f"brc_wake must be True or False; got {brc_wake!r}")
        _check_choice("oi_mode", oi_mode, ("safe", "full"))
        _check_choice("twin_clock", twin_clock, ("lockstep", "realtime"))
        scale = float(check_range("time_scale", time_scale, 0.01, 1000.0))
        if backend == "hardware" and (scale != 1.0 or arena is not None):
            raise ValueError("time_scale and arena only apply to backend='twin'; got "
                             f"time_scale={time_scale!r}, arena={arena!r}")
        arena = _settings("arena", arena, ArenaConfig)
        reset_config = _settings("reset_config", reset_config, ResetConfig)
        frame_timeout_s = float(check_range("frame_timeout_s", frame_timeout_s, 0.05, 10.0))
        if guard is None:
            guard = backend == "hardware"  # the in-process twin dies with the process anyway
        if not isinstance(guard, bool):
            raise ValueError(f"guard must be True, False or None; got {guard!r}")

        self.backend, self.max_episode_steps, self.oi_mode = backend, max_episode_steps, oi_mode
        self.reward_source: RewardSource = reward_source
        self.clip_light_bumps = clip_light_bumps
        self.action_space = gym.spaces.Box(-ACTION_LIMIT_MM_S, ACTION_LIMIT_MM_S, (2,), np.float32)
        low = np.full(8, -1.0, dtype=np.float32)
        if not clip_light_bumps:
            low[:6] = np.float32(LIGHT_BUMP_FLOOR)  # mover_observation clips to the float32
        self.observation_space = gym.spaces.Box(low, 1.0, (8,), np.float32)

        lockstep = backend == "twin" and twin_clock == "lockstep"
        self._emulator: Emulator | None = None
        if backend == "twin":
            self._emulator = Emulator(TwinConfig(clock=twin_clock, time_scale=scale, arena=arena))
            port = self._emulator.port
        assert port is not None  # checked above for hardware; the twin's otherwise
        # A stalled learner must not leave the robot driving; lockstep time only moves
        # on request, so no watchdog there (it would make runs depend on wall time).
        watchdog_s = None if lockstep else max(0.5, 4.0 * self.dt_s / scale)
        # wall-clock silence: at least ten stream frames, whatever the twin's time scale
        silence_s = None if lockstep else max(frame_timeout_s, 10 * TICK_S / scale)
        try:
            self._driver = Create2Driver(DriverConfig(
                port=port, oi_mode=oi_mode, brc_wake=brc_wake, speed_limit_mm_s=ACTION_LIMIT_MM_S,
                stream_packets=STREAM_PACKETS,
                command_timeout_s=watchdog_s, frame_timeout_s=silence_s, guard=guard),
                brc=None if self._emulator is None else self._emulator.set_brc)
        except BaseException:
            if self._emulator is not None:
                self._emulator.close()
            raise
        self._finalizer = weakref.finalize(self, _shutdown, self._driver, self._emulator)
        try:
            self._driver.open()
        except BaseException:
            self._finalizer()
            raise
        self._clock: StepClock = (
            LockstepClock(self._emulator, self._driver, self.dt_s, frame_timeout_s=frame_timeout_s)
            if lockstep and self._emulator is not None else WallClock(self.dt_s, scale))
        self._cycle_waiter: Callable[[], None] | None = None
        self._reset_routine = ResetRoutine(self._driver, self._clock, reset_config, oi_mode,
                                           refresh_s=self.dt_s)
        self._reset_lock = threading.Lock()
        self._resetting = False
        self._prev_action = np.zeros(2, dtype=np.float32)
        self._steps = 0
        self._last_seq = 0
        self._last_frame: SensorFrame | None = None
        self._ready = False

    # ---- accessors ----------------------------------------------------------------
    @property
    def twin(self) -> Emulator | None:
        """The twin (backend='twin'), for tools and tests; ``None`` on hardware."""
        return self._emulator

    @property
    def driver(self) -> Create2Driver:
        return self._driver

    # ---- Gymnasium API ------------------------------------------------------------
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._require_open()
        if seed is not None and self._emulator is not None:
            self._emulator.reset_world(seed)
            self._driver.restart_odometry()  # the twin's world restarted its counters
            self._reset_routine.forget_rotation()
        with self._reset_lock:
            self._resetting = True
        try:
            report = self._reset_routine.run()
            frame = self._driver.fresh_frame()
        except BaseException:
            self._emergency_stop()
            raise
        finally:
            with self._reset_lock:
                self._resetting = False
        self._last_seq, self._last_frame = frame.seq, frame
        self._prev_action = np.zeros(2, dtype=np.float32)
        self._steps = 0
        self._ready = True
        self._clock.start_steps()
        info = dict(report, battery_mah=frame[25], rotation_deg=self._reset_routine.rotation_deg())
        return self._observe(frame), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._require_open()
        if not self._ready:
            raise RuntimeError("call reset() before step() (and after an episode ended)")
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (2,):
            raise ValueError(f"action must be (left, right) wheel speeds in mm/s; got shape "
                             f"{np.shape(action)}")
        a = np.clip(np.nan_to_num(a, nan=0.0, posinf=ACTION_LIMIT_MM_S, neginf=-ACTION_LIMIT_MM_S),
                    -ACTION_LIMIT_MM_S, ACTION_LIMIT_MM_S)
        a = np.trunc(a)  # SenseAct sends action.astype('i'): whole mm/s, toward zero
        try:
            left, right = self._driver.drive_direct(float(a[0]), float(a[1]))
            if self._cycle_waiter is not None:
                self._cycle_waiter()  # a real-time runner keeps the cycle
            else:
                self._clock.wait_step()
            self._driver.check_alive()  # a silent robot: never act on a stale frame
            frames = self._driver.frames_since(self._last_seq)
            latest = frames[-1] if frames else self._driver.latest_frame()
            assert latest is not None
            assert self._last_frame is not None  # set by reset
            packet_mm, encoder_mm = step_distances_mm(self._last_frame, frames)
            distance_mm = packet_mm if self.reward_source == "distance_packet" else encoder_mm
            self._last_seq, self._last_frame = latest.seq, latest
            events = mover_events(frames or [latest])
            self._steps += 1
            terminated = any(events.values())
            truncated = not terminated and self._steps >= self.max_episode_steps
            if terminated or truncated:
                self._driver.stop()
                self._ready = False
        except BaseException:
            self._emergency_stop()
            raise
        self._prev_action = np.array([left, right], dtype=np.float32)
        stats = self._driver.stats()
        info = {
            "distance_mm": float(distance_mm),
            "distance_packet_mm": packet_mm,
            "encoder_distance_mm": float(encoder_mm),
            "frames": len(frames),
            **events,
            "oi_mode": int(latest[35]),
            "battery_mah": int(latest[25]),
            "rotation_deg": self._reset_routine.rotation_deg(),
            "overruns": self._clock.overruns,
            "bad_frames": stats.bad_frames,
            "reconnects": stats.reconnects,
        }
        return self._observe(latest), REWARD_PER_MM * float(distance_mm), terminated, truncated, info

    def set_cycle_waiter(self, waiter: Callable[[], None] | None) -> bool:
        """Real-time runners: ``waiter()`` replaces the task's own wait between sending the
        wheel command and reading the sensors, so the runner owns the control period.
        Returns True when this backend will call it (hardware or a wall-clock twin); the
        lockstep twin advances simulated time itself."""
        self._cycle_waiter = None if isinstance(self._clock, LockstepClock) else waiter
        return self._cycle_waiter is not None

    def stop(self) -> None:
        """Command zero wheel speed now (the episode continues); a reset in progress is cut
        short and raises :class:`~rt_avg.core.ResetInterrupted`.  Any thread."""
        self._require_open()
        with self._reset_lock:
            if self._resetting:
                self._reset_routine.interrupt()
        self._driver.stop()

    def close(self) -> None:
        """Wheels 0/0, pause the stream, Stop, close the port, stop the twin; idempotent."""
        self._ready = False
        self._finalizer()

    # ---- helpers ------------------------------------------------------------------
    def _observe(self, frame: SensorFrame) -> np.ndarray:
        return mover_observation(frame, self._prev_action, self.clip_light_bumps)

    def _require_open(self) -> None:
        if not self._finalizer.alive:
            raise RuntimeError("this CreateMoverEnv is closed")

    def _emergency_stop(self) -> None:
        self._ready = False
        try:
            self._driver.stop()
        except Exception as exc:  # noqa: BLE001 - the original error matters more
            log.error("create2: could not stop the wheels after an error: %s", exc)


def mover_events(frames: list[SensorFrame]) -> dict[str, bool]:
    """Episode-ending events: bumps, wheel drops and cliffs in any frame of the step; docked
    when the last frame's charging sources (packet 34) read exactly 2, the home base alone
    (SenseAct ``create2_mover_env.py`` ``_calc_reward``)."""
    return {
        "bump": any(f[7] & 0b0011 for f in frames),
        "wheel_drop": any(f[7] & 0b1100 for f in frames),
        "cliff": any(f[c] for f in frames for c in oi.CLIFF_FLAGS),
        "docked": frames[-1][34] == 2,
    }


def _shutdown(driver: Create2Driver, emulator: Emulator | None) -> None:
    """Close order matters: the driver stops the robot, then the twin goes away."""
    try:
        driver.close()
    finally:
        if emulator is not None:
            try:  # let the twin execute the final stop before it goes away
                emulator.wait_rx(driver.tx_bytes, timeout_s=1.0)
            except TimeoutError:
                pass
            emulator.close()

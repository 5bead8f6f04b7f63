"""UR-Reacher (SenseAct, Mahmood et al. 2018) as a Gymnasium environment.

Reach a random target with the UR5's fingertip by commanding joint speeds.

* ``n_joints=2`` is UR-Reacher-2: shoulder lift (joint 1) and elbow (joint 2) move, the
  other joints hold the home pose, and fingertip and target are compared in the task
  frame's y-z plane.  ``n_joints`` 1..6 moves the joints in
  :data:`rt_avg.envs.ur5.workspace.MOVING_JOINTS`; from 3 joints on the comparison is in x-y-z.
* observation (float32): joint angles (n, rad), joint speeds / speed_max (n), fingertip
  minus target (2 or 3, m), previous action / speed_max (n, in [-1, 1]).  As in SenseAct the
  previous action after a reset is drawn uniformly from the action box
  (``reset_prev_action="zero"`` makes it 0: the arm is then truly at rest).
* action (float32, rad/s): joint speeds, clipped to +-speed_max, sent with speedj at
  ``accel_max``.
* reward: ``(-d + exp(-d^2 / 0.01)) * dt_s / 0.008`` with d the fingertip-target distance in m
  (largest, 1 * dt_s / 0.008, on target).
* episodes last ``episode_s`` (100 steps of 40 ms); they are truncated, never terminated.
* safety (SenseAct's ``_handle_bounds_speedj``): when the fingertip leaves the box, the
  action is replaced by a speed of norm min(0.1, speed_max) rad/s toward the joint angles
  that put the fingertip on the nearest point of the box shrunk by 1 mm (computed once per
  excursion), at acceleration clip(max|qd| * v0 / 0.05, 2, 5) rad/s^2 (v0: max|qd| when
  the excursion began); when only a joint leaves its limits, that joint's command becomes
  max|action| toward the limit, the others keep the action.  The episode goes on and
  ``info`` counts the overrides.  SenseAct tests the controller's target angles; this
  task tests the measured ones (the driver's state has no target angles).

What ``step`` does:

* ``backend="twin"``: send the command, advance the twin by ``dt_s`` (5 controller periods
  of 8 ms for 40 ms), read the state.  Deterministic for a seed.
* ``backend="hardware"``: send the command (the driver's control thread re-sends it every
  8 ms), read the latest state, return at once.  Pacing at ``dt_s`` is the runner's job, so
  the state returned reflects the previous action; the observation carries that action.
  ``actuation_delay_s=dt_s`` gives the twin the same one-step lag.

``reset``: stop, moveJ to the home pose taking ``reset_move_s`` (SenseAct's 2 s; or at
``reset_speed`` when given), wait until at rest, draw a new target, then the previous
action.  The first ``reset``
connects (no connection is made in the constructor).  ``stop()`` from another thread (a
runner shutting down) or Ctrl-C cuts a reset short: the arm is stopped and the reset raises
(:class:`~rt_avg.core.ResetInterrupted` for ``stop()``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import re
import threading
from typing import Any, Callable, Literal

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from rt_avg.core.config import check_range
from rt_avg.envs.ur5.driver import DriverStats, JointState, SteppedDriver, URDriver
from rt_avg.envs.ur5.kinematics import fingertip_task
from rt_avg.envs.ur5.rtde_driver import RTDEDriver
from rt_avg.envs.ur5.safety import ProtectiveStopPolicy
from rt_avg.envs.ur5.twin import TwinConfig
from rt_avg.envs.ur5.twin_driver import TwinDriver
from rt_avg.envs.ur5.workspace import MOVING_JOINTS, Workspace, target_axes

Backend = Literal["twin", "hardware", "wire"]

REWARD_DT_S = 0.008       # SenseAct's reward scale: per 8 ms of the original task
PRECISION_SCALE_M2 = 0.01  # exp(-d^2 / 0.01)
RETURN_SPEED = 0.1        # rad/s, norm of the override command (SenseAct)
#: SenseAct's box-override acceleration: enough to stop within this many rad ...
BOUNDARY_OVERSHOOT_RAD = 0.05
#: ... clipped to this range (rad/s^2)
BOUNDARY_ACCEL = (2.0, 5.0)
RESET_MOVE_S = 2.0        # SenseAct's movej_t: the move home takes 2 s
MIN_RESET_SPEED = 0.1     # rad/s: see move_speed
UR_MAX_JOINT_SPEED = 3.14  # rad/s: ur_rtde's absolute limit for speeds
UR_MAX_ACCEL = 5.0        # rad/s^2: ur_rtde's absolute limit for accelerations
TWIN_PSTOP_MARGIN_M = 0.1  # the twin's protective-stop limits: the workspace widened by these
TWIN_PSTOP_MARGIN_RAD = math.radians(10.0)
_INSIDE_MARGIN_M = 0.001
_INSIDE_MARGIN_RAD = 0.001
_DIFF_BOUND_M = 2.0
#: the hardware config's host until the user sets the robot's address
HOST_PLACEHOLDER = "<robot-ip>"
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def check_host(host: Any) -> str:
    """The robot's address: an IP address or a host name; ValueError naming ``host``."""
    if host == HOST_PLACEHOLDER:
        raise ValueError(f"host is still the placeholder {HOST_PLACEHOLDER!r}: set the robot's "
                         "IP address (pendant: Settings > System > Network), e.g. "
                         "--set env.kwargs.host=192.168.1.10")
    if not isinstance(host, str) or not host.strip():
        raise ValueError(f"host must be the robot's IP address or host name, got {host!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.match(host):
            raise ValueError(f"host must be the robot's IP address (e.g. 192.168.1.10) or a "
                             f"host name, got {host!r}") from None
    return host


def reach_reward(distance_m: float, dt_s: float) -> float:
    """SenseAct's "precision" reward for one step of ``dt_s`` seconds."""
    return (-distance_m + math.exp(-distance_m ** 2 / PRECISION_SCALE_M2)) * dt_s / REWARD_DT_S


def move_speed(q_from: NDArray[np.float64], q_to: NDArray[np.float64], duration_s: float,
               accel: float) -> float:
    """Joint speed (rad/s) for which a trapezoidal move of the leading joint at ``accel``
    takes ``duration_s``: SenseAct's moveJ gives a time (``movej_t``), ur_rtde's moveJ a
    speed.  Too far to make it in time: the fastest move at ``accel`` (a triangle).  Never
    below :data:`MIN_RESET_SPEED`: the driver's at-rest test (0.01 rad/s) cannot tell a
    slower move from a standstill, so a short move ends sooner than ``duration_s``."""
    distance = float(np.max(np.abs(np.asarray(q_to) - np.asarray(q_from))))
    # distance = v * (T - v / a)  =>  v = a * (T - sqrt(T^2 - 4 D / a)) / 2
    disc = duration_s ** 2 - 4.0 * distance / accel
    v = accel * (duration_s - math.sqrt(disc)) / 2.0 if disc >= 0.0 else math.sqrt(distance * accel)
    return min(UR_MAX_JOINT_SPEED, max(MIN_RESET_SPEED, v))


def _whole_multiple(value: float, unit: float) -> bool:
    ratio = value / unit
    return abs(ratio - round(ratio)) < 1e-6 and round(ratio) >= 1


class URReacherEnv(gym.Env[NDArray[np.float32], NDArray[np.float32]]):
    """UR5 reacher on the twin or on a real arm (see the module docstring).

    Args:
        backend: "twin" (simulated, deterministic), "hardware" (a UR5 over RTDE) or "wire"
            (the hardware code and the real ur_rtde against a UR5 twin on the wire, started
            for the env: :mod:`rt_avg.envs.ur5.wire_driver`; real time).
        host: the robot's IP address; required for "hardware", ignored by "twin".
        n_joints: 1..6 moving joints (2: UR-Reacher-2).
        dt_s: action period (s); for the twin a whole number of ``twin_period_s``.
        episode_s: episode length (s); a whole number of ``dt_s``.
        speed_max: joint speed limit (rad/s), in (0, 3.14].
        accel_max: speedj acceleration (rad/s^2, leading axis), in (0, 5].
        actuation_delay_s, sensor_noise, twin_period_s: twin options
            (see :class:`rt_avg.envs.ur5.twin.TwinConfig`).
        control_period_s: hardware control period (0.008 CB3, 0.002 e-Series).
        watchdog_s: a command older than this stops the arm; must exceed ``dt_s``.
        controller_watchdog_s: the controller stops the program and the arm when the driver
            has sent nothing for this long (the driver's process died, hung, or lost the
            link); see :class:`~rt_avg.envs.ur5.rtde_driver.RTDEDriver`.
        twin_server: with ``backend="hardware"``, the socket path of a UR5 twin server
            (``python -m rt_avg.envs.ur5.twin_server``) to drive instead of a robot: the
            hardware driver runs unchanged against it.
        reset_move_s: the move home takes this long (s; SenseAct's ``movej_t`` 2 s): its
            speed is chosen from the distance and ``reset_accel``.  Default 2 s unless
            ``reset_speed`` is given.
        reset_speed: move home at this joint speed (rad/s) instead.
        reset_accel: moveJ acceleration (rad/s^2) for ``reset``.
        reset_prev_action: "random" (SenseAct: the first observation's previous action is
            drawn uniformly from the action box) or "zero".
        workspace: safety box, joint limits and home pose (default: SenseAct's).
        pstop_policy: protective-stop unlock delay and give-up limits.
        driver: use this driver instead of building one (tests, custom setups); if it is
            a SteppedDriver the env advances it by ``dt_s`` every step.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    @staticmethod
    def check_kwargs(kwargs: dict[str, Any]) -> None:
        """The checks that need no robot, run before any process starts (ValueError)."""
        if kwargs.get("host") is not None:
            check_host(kwargs["host"])

    def __init__(self, backend: Backend = "twin", host: str | None = None, n_joints: int = 2,
                 dt_s: float = 0.04, episode_s: float = 4.0, speed_max: float = 0.3,
                 accel_max: float = 1.4, actuation_delay_s: float = 0.0, sensor_noise: float = 0.0,
                 twin_period_s: float = 0.008, control_period_s: float = 0.008,
                 watchdog_s: float = 0.5, controller_watchdog_s: float = 0.1,
                 reset_speed: float | None = None, reset_accel: float = 1.4,
                 reset_move_s: float | None = None,
                 reset_prev_action: Literal["random", "zero"] = "random",
                 workspace: Workspace | None = None, pstop_policy: ProtectiveStopPolicy | None = None,
                 driver: URDriver | None = None, twin_server: str | None = None,
                 render_mode: str | None = None) -> None:
        # ---- validation first: nothing below may touch a robot before it passes
        if backend not in ("twin", "hardware", "wire"):
            raise ValueError(f"backend must be 'twin', 'hardware' or 'wire', got {backend!r}")
        if host is not None:
            host = check_host(host)
        if backend == "hardware" and host is None and driver is None:
            raise ValueError("host is required for backend='hardware' (the robot's IP address)")
        if twin_server is not None and (backend != "hardware" or not isinstance(twin_server, str)
                                        or not twin_server):
            raise ValueError("twin_server must be a twin server's socket path and needs "
                             f"backend='hardware', got {twin_server!r}")
        if isinstance(n_joints, bool) or not isinstance(n_joints, int) or n_joints not in MOVING_JOINTS:
            raise ValueError(f"n_joints must be an int in 1..6, got {n_joints!r}")
        dt_s = float(check_range("dt_s", dt_s, 0.002, 1.0))
        episode_s = float(check_range("episode_s", episode_s, 0.0, 86400.0, lo_open=True))
        if not _whole_multiple(episode_s, dt_s):
            raise ValueError(f"episode_s must be a whole number (>= 1) of dt_s={dt_s:g}, got {episode_s:g}")
        speed_max = float(check_range("speed_max", speed_max, 0.0, UR_MAX_JOINT_SPEED, lo_open=True))
        accel_max = float(check_range("accel_max", accel_max, 0.0, UR_MAX_ACCEL, lo_open=True))
        actuation_delay_s = float(check_range("actuation_delay_s", actuation_delay_s, 0.0, 1.0))
        sensor_noise = float(check_range("sensor_noise", sensor_noise, 0.0, 0.1))
        twin_period_s = float(check_range("twin_period_s", twin_period_s, 0.002, 0.1))
        control_period_s = float(check_range("control_period_s", control_period_s, 0.002, 0.1))
        watchdog_s = float(check_range("watchdog_s", watchdog_s, 0.0, 10.0, lo_open=True))
        controller_watchdog_s = float(check_range("controller_watchdog_s", controller_watchdog_s,
                                             0.0, 10.0, lo_open=True))
        if reset_speed is not None and reset_move_s is not None:
            raise ValueError("give reset_speed (rad/s) or reset_move_s (s), not both; got "
                             f"reset_speed={reset_speed!r}, reset_move_s={reset_move_s!r}")
        if reset_speed is not None:
            reset_speed = float(check_range("reset_speed", reset_speed, 0.0, UR_MAX_JOINT_SPEED,
                                       lo_open=True))
        elif reset_move_s is not None:
            reset_move_s = float(check_range("reset_move_s", reset_move_s, 0.0, 60.0, lo_open=True))
        else:
            reset_move_s = RESET_MOVE_S
        if reset_prev_action not in ("random", "zero"):
            raise ValueError(f"reset_prev_action must be 'random' or 'zero', got {reset_prev_action!r}")
        reset_accel = float(check_range("reset_accel", reset_accel, 0.0, UR_MAX_ACCEL, lo_open=True))
        if backend == "twin" and driver is None and not _whole_multiple(dt_s, twin_period_s):
            raise ValueError(f"dt_s must be a whole number of twin_period_s={twin_period_s:g} s "
                             f"for backend='twin', got {dt_s:g}")
        if control_period_s > dt_s:
            raise ValueError(f"control_period_s must be <= dt_s={dt_s:g}, got {control_period_s:g}")
        if watchdog_s <= dt_s:
            raise ValueError(f"watchdog_s must be > dt_s={dt_s:g} (else it stops the arm between "
                             f"steps), got {watchdog_s:g}")
        period_s = twin_period_s if backend == "twin" else control_period_s
        if controller_watchdog_s < 3 * period_s:
            raise ValueError(f"controller_watchdog_s must be >= 3 control periods "
                             f"({3 * period_s:g} s), got {controller_watchdog_s:g}")
        if workspace is not None and not isinstance(workspace, Workspace):
            raise ValueError(f"workspace must be a Workspace or None, got {type(workspace).__name__}")
        if pstop_policy is not None and not isinstance(pstop_policy, ProtectiveStopPolicy):
            raise ValueError("pstop_policy must be a ProtectiveStopPolicy or None")
        if driver is not None and not isinstance(driver, URDriver):
            raise ValueError("driver must implement envs.ur5.driver.URDriver")
        if render_mode is not None:
            raise ValueError(f"render_mode must be None (no rendering), got {render_mode!r}")

        self.backend: Backend = backend
        self.n_joints = n_joints
        self.dt_s = dt_s
        self.episode_steps = int(round(episode_s / dt_s))
        self.speed_max = speed_max
        self.accel_max = accel_max
        self.reset_speed = reset_speed
        self.reset_move_s = reset_move_s
        self.reset_accel = reset_accel
        self.reset_prev_action = reset_prev_action
        self.workspace = workspace or Workspace()
        self.render_mode = render_mode
        self._joints = MOVING_JOINTS[n_joints]
        self._axes = target_axes(n_joints)

        if driver is not None:
            self._driver: URDriver = driver
        elif backend == "twin":
            self._driver = TwinDriver(
                TwinConfig(period_s=twin_period_s, actuation_delay_s=actuation_delay_s,
                           sensor_noise=sensor_noise,
                           pstop_limits=self.workspace.expanded(TWIN_PSTOP_MARGIN_M,
                                                                TWIN_PSTOP_MARGIN_RAD)),
                self.workspace, pstop_policy, watchdog_s=watchdog_s,
                controller_watchdog_s=controller_watchdog_s)
        elif backend == "wire":
            from rt_avg.envs.ur5.wire_driver import WireTwinDriver

            self._driver = WireTwinDriver(control_period_s=control_period_s, watchdog_s=watchdog_s,
                                          controller_watchdog_s=controller_watchdog_s,
                                          pstop_policy=pstop_policy)
        else:
            assert host is not None
            factories: dict[str, Any] = {}
            if twin_server is not None:
                from rt_avg.envs.ur5.twin_server import RemoteController

                remote = RemoteController(twin_server)
                factories = {"control_factory": remote.RTDEControlInterface,
                             "receive_factory": remote.RTDEReceiveInterface,
                             "dashboard_factory": remote.DashboardClient}
            self._driver = RTDEDriver(host, control_period_s=control_period_s,
                                      watchdog_s=watchdog_s,
                                      controller_watchdog_s=controller_watchdog_s,
                                      pstop_policy=pstop_policy, **factories)
        self._stepped = isinstance(self._driver, SteppedDriver)
        self._cycle_waiter: Callable[[], None] | None = None
        self._reset_lock = threading.Lock()
        self._resetting = False
        self._abort = threading.Event()  # set by stop() while a reset runs

        n, m = n_joints, len(self._axes)
        qd_bound = UR_MAX_JOINT_SPEED / speed_max
        low = np.concatenate([np.full(n, -2 * np.pi), np.full(n, -qd_bound),
                              np.full(m, -_DIFF_BOUND_M), -np.ones(n)])
        self._obs_low, self._obs_high = low.astype(np.float32), -low.astype(np.float32)
        self.observation_space = gym.spaces.Box(self._obs_low, self._obs_high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-speed_max, speed_max, shape=(n,), dtype=np.float32)

        self._connected = False
        self._closed = False
        self._in_episode = False
        self._step_count = 0
        self._target = np.zeros(m)
        self._prev_action = np.zeros(n)
        self._return_q: NDArray[np.float64] | None = None  # box override's goal (moving joints)
        self._boundary_speed = 0.0  # max |qd| when the fingertip left the box
        self._overrides = {"box": 0, "joints": 0}
        self._stats_at_reset = DriverStats()
        self._t0_s = 0.0

    # ------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Stop, move home, settle, draw a target.  ``options={"target_m": xyz_or_yz}`` sets
        the target (task frame, the compared axes) instead of drawing one."""
        if self._closed:
            raise RuntimeError("URReacherEnv: reset() after close()")
        super().reset(seed=seed)
        if seed is not None and hasattr(self._driver, "seed"):
            self._driver.seed(int(self.np_random.integers(2**63 - 1)))
        if not self._connected:
            self._driver.connect()
            self._connected = True
        with self._reset_lock:
            self._resetting = True
            self._abort.clear()
        try:
            self._driver.stop()
            home = self.workspace.home_q_rad
            speed = self.reset_speed if self.reset_speed is not None else move_speed(
                self._driver.read_state().q, home, self.reset_move_s or RESET_MOVE_S,
                self.reset_accel)
            self._driver.move_home(home, speed, self.reset_accel, abort=self._abort)
        except BaseException:
            self._in_episode = False
            with contextlib.suppress(Exception):  # the reason the reset ended matters more
                self._driver.stop()  # Ctrl-C, stop() or a fault: never leave the arm moving
            raise
        finally:
            with self._reset_lock:
                self._resetting = False
        self._target = self._choose_target(options)
        # SenseAct draws the previous action after the target (reacher_env.py _reset_)
        self._prev_action = (self.np_random.uniform(-self.speed_max, self.speed_max, self.n_joints)
                             if self.reset_prev_action == "random" else np.zeros(self.n_joints))
        self._return_q = None
        self._overrides = {"box": 0, "joints": 0}
        self._stats_at_reset = DriverStats(**self._driver.stats.as_dict())
        self._step_count = 0
        self._in_episode = True
        state = self._driver.read_state()
        self._t0_s = state.timestamp_s
        obs, distance = self._observe(state)
        return obs, self._info(state, distance, "")

    def step(self, action: NDArray[np.float32]) -> tuple[NDArray[np.float32], float, bool, bool,
                                                             dict[str, Any]]:
        if not self._in_episode:
            raise RuntimeError("URReacherEnv: call reset() before step() (and after an episode ends)")
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (self.n_joints,) or not np.all(np.isfinite(a)):
            raise ValueError(f"action must be {self.n_joints} finite joint speeds, got {action!r}")
        a = np.clip(a, -self.speed_max, self.speed_max)

        state = self._driver.read_state()
        command = np.zeros(6)
        override, accel = "", self.accel_max
        if not state.protective_stop:
            command[list(self._joints)], accel, override = self._safe_command(state, a)
            if override:
                self._overrides[override] += 1
        self._driver.command_speed(command, accel)
        if self._stepped:
            self._driver.advance(self.dt_s)  # type: ignore[attr-defined]
        elif self._cycle_waiter is not None:
            self._cycle_waiter()  # the runner waits for the cycle boundary here
        state = self._driver.read_state()

        if not state.protective_stop:  # SenseAct keeps the last action through a stop
            self._prev_action = a
        self._step_count += 1
        obs, distance = self._observe(state)
        reward = reach_reward(distance, self.dt_s)
        truncated = self._step_count >= self.episode_steps
        if truncated:
            self._in_episode = False
            self._driver.stop()  # the next reset moves home; do not drift meanwhile
        return obs, reward, False, truncated, self._info(state, distance, override)

    def set_cycle_waiter(self, waiter: Callable[[], None] | None) -> bool:
        """Real-time runners: ``waiter()`` is called between sending a command and reading the
        state, so the observation is read at the end of the control cycle, not the moment the
        command left.  Returns True when this backend will call it (hardware); the stepped
        twin advances its own clock instead."""
        self._cycle_waiter = None if self._stepped else waiter
        return self._cycle_waiter is not None

    def stop(self) -> None:
        """Command zero velocity now (speedStop); a reset in progress (move home) is cut
        short and raises :class:`~rt_avg.core.ResetInterrupted`.  Idempotent, any thread; a no-op before
        connecting."""
        with self._reset_lock:
            if self._resetting:
                self._abort.set()
        if self._connected and not self._closed:
            self._driver.stop()

    def close(self) -> None:
        """Stop the arm and release the driver.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._in_episode = False
        if self._connected:
            try:
                self._driver.stop()
            finally:
                self._driver.close()

    # ------------------------------------------------------------ accessors
    @property
    def driver(self) -> URDriver:
        return self._driver

    @property
    def target_m(self) -> NDArray[np.float64]:
        """The current target (task frame, compared axes)."""
        return self._target.copy()

    # ------------------------------------------------------------- internal
    def _choose_target(self, options: dict[str, Any] | None) -> NDArray[np.float64]:
        if options and "target_m" in options:
            target = np.asarray(options["target_m"], dtype=np.float64)
            if target.shape != (len(self._axes),) or not np.all(np.isfinite(target)):
                raise ValueError(f"options['target_m'] must be {len(self._axes)} finite numbers "
                                 f"(task-frame axes {self._axes}), got {options['target_m']!r}")
            return target
        ws, idx = self.workspace, list(self._joints)
        q = ws.home_q_rad.copy()
        for _ in range(100_000):
            q[idx] = self.np_random.uniform(ws.angles_low_rad[idx], ws.angles_high_rad[idx])
            if ws.box_inside(q, margin_m=_INSIDE_MARGIN_M):
                return fingertip_task(q)[list(self._axes)]
        raise RuntimeError("no target found: the joint limits hardly reach into the safety box")

    def _safe_command(self, state: JointState, a: NDArray[np.float64]
                      ) -> tuple[NDArray[np.float64], float, str]:
        """(moving-joint speeds, acceleration, override reason) for the action ``a``:
        SenseAct's ``_handle_bounds_speedj`` (see the module docstring)."""
        ws, idx, q = self.workspace, list(self._joints), state.q
        if ws.box_inside(q):
            self._return_q = None
        else:
            if self._return_q is None:  # once per excursion, as SenseAct
                self._return_q = ws.return_point(q, self._joints, _INSIDE_MARGIN_M)
                self._boundary_speed = float(np.max(np.abs(state.qd)))
            direction = self._return_q - q[idx]
            norm = float(np.linalg.norm(direction))
            speed = direction / norm * min(RETURN_SPEED, self.speed_max) if norm > 0 \
                else np.zeros(len(idx))
            accel = float(np.max(np.abs(state.qd))) * self._boundary_speed / BOUNDARY_OVERSHOOT_RAD
            return speed, float(np.clip(accel, *BOUNDARY_ACCEL)), "box"
        if ws.joints_inside(q, self._joints):
            return a, self.accel_max, ""
        current = q[idx]
        inside = np.clip(current, ws.angles_low_rad[idx] + _INSIDE_MARGIN_RAD,
                         ws.angles_high_rad[idx] - _INSIDE_MARGIN_RAD)
        out = inside != current
        speed = a.copy()
        speed[out] = np.sign(inside - current)[out] * float(np.max(np.abs(a)))
        return speed, self.accel_max, "joints"

    def _observe(self, state: JointState) -> tuple[NDArray[np.float32], float]:
        idx = list(self._joints)
        diff = fingertip_task(state.q)[list(self._axes)] - self._target
        obs = np.concatenate([state.q[idx], state.qd[idx] / self.speed_max, diff,
                              self._prev_action / self.speed_max])
        obs = np.clip(obs, self._obs_low, self._obs_high).astype(np.float32)
        return obs, float(np.linalg.norm(diff))

    def _info(self, state: JointState, distance: float, override: str) -> dict[str, Any]:
        stats, base = self._driver.stats, self._stats_at_reset
        return {
            "distance_m": distance,
            "fingertip_m": fingertip_task(state.q),
            "target_m": self._target.copy(),
            "override": override,
            "overrides_box": self._overrides["box"],
            "overrides_joints": self._overrides["joints"],
            "protective_stop": state.protective_stop,
            "protective_stops": stats.protective_stops - base.protective_stops,
            "watchdog_stops": stats.watchdog_stops - base.watchdog_stops,
            "connected": state.connected,
            # rounded so that float noise of the absolute clock does not show between episodes
            "elapsed_s": round(state.timestamp_s - self._t0_s, 6),
            "episode_step": self._step_count,
        }

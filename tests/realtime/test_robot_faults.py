"""Faults in async runs on both robot twins: the robot is at rest within a stated time.

The twins live in this test process, apart from the run, as the robots are apart from the
workstation: the Create 2 twin speaks the Open Interface on a pseudo-terminal, the UR5 twin
is the wire twin in a child process (the run's driver talks to it through the real ur_rtde),
and its controller honours the RTDE watchdog the driver arms.  The run is the real command line (Ray, the env and learner
actors, the hardware code paths of both tasks).  Faults: Ctrl-C on the command line, the
learner's process killed, an exception raised in ``step``, the serial/RTDE link dropped,
the env's process killed.  Each test measures, from the fault, how long until the twin's
joint or wheel speeds are zero, and compares it with the bound docs/robots.md states.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT
from rt_avg.envs.create2.emulator import Emulator, TwinConfig
from rt_avg.envs.create2.oi import Opcode
from rt_avg.envs.create2.sim import ArenaConfig
from rt_avg.envs.ur5.wire.process import TwinProcess

pytestmark = [pytest.mark.ray, pytest.mark.slow]

FAULT_SITE = Path(__file__).parent / "step_fault"
COMMON = ["--set", "agent.hidden_sizes=[32,32]", "--set", "run.checkpoint_every=100000",
          "--set", "realtime.watchdog_s=30.0"]

# Bounds (s) from the fault to a robot at rest, as docs/robots.md states them; each allows
# SLACK_S for this process to notice on a loaded machine.
SLACK_S = 0.25
UR5_WATCHDOG_S = 1.0 + 0.03 + SLACK_S  # controller watchdog (1 s in ur5_reacher2) + the ramp
RUNNER_STOP_S = 1.5                    # the runner notices (<= one cycle, 0.25 s poll) + ramp
LEARNER_DEATH_S = 3.0                  # Ray reports the dead actor, the driver stops the env
CREATE2_GUARD_S = 1.0 + SLACK_S        # the guard process opens the port and writes the stop
CREATE2_RELINK_S = 0.5 + 2.5           # the cable is back after 0.5 s; the reconnect's start-up


@dataclass
class Robot:
    """One twin and what a run needs to drive it."""

    name: str
    args: list[str]
    speeds: Callable[[], np.ndarray]
    in_episode: Callable[[], bool]  # stepping, not in a reset
    drop_link: Callable[[], None]
    restore_link: Callable[[], None]  # so the run can end without waiting out its reconnect


@pytest.fixture
def create2() -> Iterator[Robot]:
    arena = ArenaConfig(width_mm=6000.0, height_mm=6000.0, dock_wall=None,
                        start_pose=(3000.0, 3000.0, 0.0))
    twin = Emulator(TwinConfig(clock="realtime", arena=arena))

    def speeds() -> np.ndarray:
        s = twin.snapshot()
        return np.array([s.left_mm_s, s.right_mm_s])

    def in_episode() -> bool:  # a reset enters Safe mode; none within the last 0.3 s
        before = twin.snapshot().opcodes_seen.get(Opcode.SAFE, 0)
        time.sleep(0.3)
        return twin.snapshot().opcodes_seen.get(Opcode.SAFE, 0) == before

    args = ["--config", "create2_mover", "--set", "env.kwargs.backend=hardware",
            "--set", f"env.kwargs.port={twin.port}", "--set", "realtime.dt_s=0.15",
            "--set", "env.kwargs.reset_config={reverse_s: 0.15}"]
    yield Robot("create2", args, speeds, in_episode, lambda: twin.drop_link(0.5),
                lambda: None)  # the cable comes back by itself after 0.5 s
    twin.close()


@pytest.fixture
def ur5() -> Iterator[Robot]:
    twin = TwinProcess()  # the wire twin: the run drives it through the real ur_rtde

    def speeds() -> np.ndarray:
        return np.asarray(twin.snapshot()["qd"])

    def in_episode() -> bool:  # speedJ in the command register: not a move home
        return twin.snapshot()["command"] == 9

    args = ["--config", "ur5_reacher2", "--set", "env.kwargs.backend=hardware",
            "--set", f"env.kwargs.host={twin.host}",
            "--set", "env.kwargs.reset_speed=1.0", "--set", "env.kwargs.reset_accel=5.0",
            "--set", "realtime.dt_s=0.04"]
    yield Robot("ur5", args, speeds, in_episode, lambda: twin.silence(None),
                lambda: twin.answer(None))
    twin.close()


class Run:
    """``rt-avg train --mode async`` on a twin, in its own process."""

    def __init__(self, robot: Robot, tmp_path: Path) -> None:
        self.robot, self.dir = robot, tmp_path / "run"
        self.trigger = tmp_path / "fault-in-step"
        env = dict(os.environ, RT_AVG_TEST_STEP_FAULT=str(self.trigger),
                   PYTHONPATH=os.pathsep.join([str(FAULT_SITE), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rt_avg.cli", "train", "--mode", "async", "--steps",
             "10000000", "--run-dir", str(self.dir), "--quiet", *COMMON, *robot.args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_moving(self, timeout_s: float = 120.0) -> None:
        """Until the robot moves in the middle of an episode (not in a reset)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.communicate())
            if np.any(np.abs(self.robot.speeds()) > 1e-3) and self.robot.in_episode():
                return
            time.sleep(0.02)
        raise AssertionError("the robot never moved")

    def pid(self, role: str) -> int:
        return json.loads((self.dir / "actors.json").read_text())[role]["pid"]

    def seconds_until_at_rest(self, fault: Callable[[], None], limit_s: float) -> float:
        fault()
        start = time.monotonic()
        while np.any(self.robot.speeds() != 0.0):
            elapsed = time.monotonic() - start
            assert elapsed < limit_s, f"{self.robot.name} still moving {elapsed:.2f} s after the fault"
            time.sleep(0.002)
        elapsed = time.monotonic() - start
        print(f"{self.robot.name}: at rest {elapsed:.3f} s after the fault (bound {limit_s} s)")
        return elapsed

    def stays_at_rest(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            assert not np.any(self.robot.speeds() != 0.0), f"{self.robot.name} moved again"
            time.sleep(0.01)

    def finish(self, timeout_s: float = 120.0, interrupt: bool = True) -> tuple[int, str]:
        """The run's exit code and stderr; ``interrupt``: Ctrl-C it first if it still runs
        (otherwise it must end by itself, as after a fault that stops the run)."""
        if interrupt and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err


@pytest.fixture(params=["create2", "ur5"])
def robot(request: pytest.FixtureRequest) -> Robot:
    return request.getfixturevalue(request.param)


@pytest.fixture
def run(robot: Robot, tmp_path: Path) -> Iterator[Run]:
    r = Run(robot, tmp_path)
    try:
        r.wait_moving()
        yield r
    finally:
        r.finish()


def test_ctrl_c(run: Run) -> None:
    run.seconds_until_at_rest(lambda: run.proc.send_signal(signal.SIGINT), RUNNER_STOP_S)
    code, err = run.finish()
    assert code == 130 and "Traceback" not in err
    run.stays_at_rest(0.2)


def test_learner_killed(run: Run) -> None:
    run.seconds_until_at_rest(lambda: os.kill(run.pid("learner"), signal.SIGKILL),
                              LEARNER_DEATH_S)
    code, err = run.finish(interrupt=False)
    assert code == 1 and "learner actor died" in err
    run.stays_at_rest(0.2)


def test_exception_in_step(run: Run) -> None:
    run.seconds_until_at_rest(run.trigger.touch, RUNNER_STOP_S)
    code, err = run.finish(interrupt=False)
    assert code == 1 and "injected fault in step" in err
    run.stays_at_rest(0.2)


def test_link_dropped(run: Run) -> None:
    # UR5: no kick reaches the controller, its watchdog stops the arm.  Create 2: the OI has
    # no timeout, so the wheels turn until the cable is back (0.5 s) and the driver's
    # reconnect runs the start-up again, which stops them.
    limit = UR5_WATCHDOG_S if run.robot.name == "ur5" else CREATE2_RELINK_S
    run.seconds_until_at_rest(run.robot.drop_link, limit)
    run.robot.restore_link()


def test_env_process_killed(run: Run) -> None:
    # UR5: the controller watchdog.  Create 2: the guard process.
    limit = UR5_WATCHDOG_S if run.robot.name == "ur5" else CREATE2_GUARD_S
    run.seconds_until_at_rest(lambda: os.kill(run.pid("env"), signal.SIGKILL), limit)
    run.stays_at_rest(0.5)
    code, err = run.finish(interrupt=False)
    assert code == 1 and "env actor died" in err

"""Checks on a real UR5.  Off by default (``-m 'not hardware'`` in pyproject addopts).

Run them with the arm powered on, brakes released, in Remote Control, the workspace clear
around the home pose (docs/ur5.md), and a hand on the emergency stop::

    UR5_HOST=192.168.1.10 python -m pytest tests/envs/test_ur5_hardware.py -m hardware -v

They move the arm: to the home pose (moveJ at 0.5 rad/s) and then by small speeds
(<= 0.1 rad/s) on the shoulder and elbow.
"""

import os
import time

import numpy as np
import pytest

from rt_avg.envs.ur5.rtde_driver import RTDEDriver
from rt_avg.envs.ur5.safety import SafetyMode
from rt_avg.envs.ur5.task import URReacherEnv
from rt_avg.envs.ur5.workspace import Workspace

pytestmark = pytest.mark.hardware

HOST = os.environ.get("UR5_HOST")
needs_host = pytest.mark.skipif(not HOST, reason="set UR5_HOST to the robot's IP address")


@pytest.fixture
def driver():
    pytest.importorskip("rtde_control")
    d = RTDEDriver(HOST)
    d.connect()
    yield d
    d.close()


@needs_host
def test_connect_and_read(driver):
    state = driver.read_state()
    assert state.q.shape == (6,) and np.all(np.isfinite(state.q))
    assert state.connected
    assert state.safety_mode in (SafetyMode.NORMAL, SafetyMode.REDUCED)
    time.sleep(0.1)
    assert driver.read_state().timestamp_s > state.timestamp_s  # packets keep coming
    assert driver.stats.periods > 5


@needs_host
def test_watchdog_stops_a_stale_command(driver):
    driver.move_home(Workspace().home_q_rad, 0.5, 1.4)
    driver.command_speed([0, 0, 0.05, 0, 0, 0], 1.4)
    time.sleep(0.3)
    assert abs(driver.read_state().qd[2] - 0.05) < 0.01
    time.sleep(0.6)  # no new command: the watchdog (0.5 s) sends speedStop
    assert driver.stats.watchdog_stops == 1
    assert np.all(np.abs(driver.read_state().qd) < 0.01)


@needs_host
def test_reacher_episode_in_real_time():
    pytest.importorskip("rtde_control")
    env = URReacherEnv(backend="hardware", host=HOST, episode_s=2.0)
    try:
        obs, _ = env.reset(seed=0)
        period = env.dt_s
        next_tick = time.monotonic()
        for i in range(env.episode_steps):
            action = 0.1 * np.array([np.sin(i / 8), np.cos(i / 8)], np.float32)
            obs, reward, terminated, truncated, info = env.step(action)
            assert env.observation_space.contains(obs) and np.isfinite(reward)
            assert not info["protective_stop"] and info["connected"]
            next_tick += period
            time.sleep(max(0.0, next_tick - time.monotonic()))
        assert truncated and not terminated
        assert env.driver.stats.overruns < env.driver.stats.periods * 0.05
    finally:
        env.close()

"""The hardware driver on the ur_rtde stand-in in simulated time, for the UR5 tests."""

import pytest

from rt_avg.envs.ur5.clock import SimClock
from rt_avg.envs.ur5.rtde_driver import RTDEDriver
from rt_avg.envs.ur5.standin import TwinController

HOST = "10.0.0.2"
PERIOD = 0.008


WALL_CLOCK_WATCHDOGS_S = 2.0
"""The driver's and the controller's watchdogs in tests on the wall clock: a busy machine can
hold the loop longer than a real controller's 0.1 s, which would stop the program for a cause
the test is not about.  The watchdogs themselves are tested on a SimClock."""


def make(controller: TwinController, **kwargs) -> RTDEDriver:
    kwargs.setdefault("run_loop", False)
    if not isinstance(controller.clock, SimClock):
        kwargs.setdefault("watchdog_s", WALL_CLOCK_WATCHDOGS_S)
        kwargs.setdefault("controller_watchdog_s", WALL_CLOCK_WATCHDOGS_S)
    return RTDEDriver(HOST, control_factory=controller.RTDEControlInterface,
                      receive_factory=controller.RTDEReceiveInterface,
                      dashboard_factory=controller.DashboardClient, clock=controller.clock,
                      **kwargs)


def run(driver: RTDEDriver, clock: SimClock, seconds: float) -> None:
    """Drive the control loop by hand, one period at a time."""
    for _ in range(int(round(seconds / PERIOD))):
        driver.tick()
        clock.advance(PERIOD)


@pytest.fixture
def sim():
    clock = SimClock()
    controller = TwinController(host=HOST, clock=clock)
    driver = make(controller)
    driver.connect()
    yield controller, clock, driver
    driver.close()

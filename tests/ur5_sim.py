"""The hardware driver on the ur_rtde stand-in in simulated time, for the UR5 tests."""

import pytest

from rt_avg.envs.ur5.clock import SimClock
from rt_avg.envs.ur5.rtde_driver import RTDEDriver
from rt_avg.envs.ur5.standin import TwinController

HOST = "10.0.0.2"
PERIOD = 0.008


def make(controller: TwinController, **kwargs) -> RTDEDriver:
    kwargs.setdefault("run_loop", False)
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

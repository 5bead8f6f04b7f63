"""The twin behind the driver interface, on simulated time (deterministic stepped mode).

:class:`TwinDriver` *is* the hardware driver (:class:`~rt_avg.envs.ur5.rtde_driver.RTDEDriver`)
talking to the ur_rtde stand-in (:class:`~rt_avg.envs.ur5.standin.TwinController`) on a
simulated clock, without its background thread: :meth:`TwinDriver.advance` runs the driver's
own control period once per controller period and lets the clock move on.  So every twin
run executes the supervision that runs on the arm (controller watchdog, protective-stop
unlocks and the restart of the control script, stale-command stops, lost-link handling,
moves home by speedJ), and the twin honours the controller watchdog as the controller does.

Nothing happens between calls: time moves only in :meth:`TwinDriver.advance` and in the
blocking :meth:`~rt_avg.envs.ur5.rtde_driver.RTDEDriver.move_home`.  Same seed, same calls:
same states.
"""

from __future__ import annotations

from rt_avg.envs.ur5.clock import SimClock
from rt_avg.envs.ur5.rtde_driver import RTDEDriver
from rt_avg.envs.ur5.safety import ProtectiveStopPolicy
from rt_avg.envs.ur5.standin import TwinController
from rt_avg.envs.ur5.twin import TwinConfig, URTwin
from rt_avg.envs.ur5.workspace import Workspace

#: the stand-in controller's address (any string: nothing goes on the network)
TWIN_HOST = "ur5-twin"


class TwinDriver(RTDEDriver):
    """A :class:`~rt_avg.envs.ur5.driver.SteppedDriver`: the hardware driver over the twin."""

    def __init__(self, config: TwinConfig | None = None, workspace: Workspace | None = None,
                 pstop_policy: ProtectiveStopPolicy | None = None, watchdog_s: float = 0.5,
                 stop_accel: float = 2.0, seed: int | None = None,
                 controller_watchdog_s: float = 0.1) -> None:
        twin = URTwin(config, workspace, seed=seed)
        period = twin.config.period_s
        self.clock = SimClock()
        self.controller = TwinController(host=TWIN_HOST, twin=twin, clock=self.clock,
                                         default_frequency_hz=1.0 / period)
        super().__init__(
            TWIN_HOST, control_period_s=period, watchdog_s=watchdog_s,
            controller_watchdog_s=controller_watchdog_s, stop_accel=stop_accel,
            pstop_policy=pstop_policy, control_factory=self.controller.RTDEControlInterface,
            receive_factory=self.controller.RTDEReceiveInterface,
            dashboard_factory=self.controller.DashboardClient, clock=self.clock, run_loop=False)

    @property
    def twin(self) -> URTwin:
        return self.controller.twin

    def seed(self, seed: int | None) -> None:
        """Reseed the sensor noise (the task does this on ``reset(seed=...)``)."""
        self.twin.seed(seed)

    def advance(self, dt_s: float) -> None:
        """Let ``dt_s`` of simulated time pass, one control period at a time."""
        self._check()
        for _ in range(int(round(dt_s / self.control_period_s))):
            self.period()
            self.clock.advance(self.control_period_s)
        with self._io_lock:  # the reading at the end of the step, as the next packet brings it
            self._sample(self.clock.monotonic())

"""The ``wire`` backend: the hardware driver and the real ur_rtde library against a UR5
controller twin on the wire (:mod:`rt_avg.envs.ur5.wire`), started for this driver.

:class:`WireTwinDriver` *is* :class:`~rt_avg.envs.ur5.rtde_driver.RTDEDriver` with
ur_rtde's own classes: ``connect`` starts a twin in a child process on a fresh loopback
address (ur_rtde's constructors hold the GIL while they connect, so the twin cannot share
this interpreter) and connects to it over RTDE, the dashboard and the script port as to a
robot; ``close`` disconnects and stops the twin.  It runs on the wall clock: a task on it
must be paced in real time (``realtime.dt_s``), like one on the arm.

To drive a twin that outlives the run (as a robot does, e.g. to see what the arm does when
the run's process dies), start it apart with ``rt-avg twin ur5`` and use
``backend: hardware`` with ``host`` set to the address it prints.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from rt_avg.envs.ur5.rtde_driver import RTDEDriver
from rt_avg.envs.ur5.wire.process import TwinProcess, free_loopback_host

log = logging.getLogger(__name__)


class WireTwinDriver(RTDEDriver):
    """RTDEDriver (ur_rtde's classes) on a wire twin of its own.

    Args:
        twin_args: extra options of ``rt-avg twin ur5`` (e.g. ``["--start-delay", "0.5"]``).
        **kwargs: RTDEDriver's (not ``host``, the twin's address; not the factories).
    """

    def __init__(self, twin_args: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(free_loopback_host(), **kwargs)
        self._twin_args = list(twin_args or [])
        self.twin: TwinProcess | None = None

    def connect(self) -> None:
        """Start the twin (if not yet), then connect to it with ur_rtde."""
        if self.twin is None and not self._closed:
            self.twin = TwinProcess(host=self.host, args=self._twin_args)
            log.info("UR5 wire twin at %s", self.host)
        try:
            super().connect()
        except BaseException:
            self._stop_twin()
            raise

    def close(self) -> None:
        """Brake, stop the script, disconnect, then stop the twin.  Idempotent."""
        try:
            super().close()
        finally:
            self._stop_twin()

    def _stop_twin(self) -> None:
        twin, self.twin = self.twin, None
        if twin is not None:
            with contextlib.suppress(Exception):  # closing: nothing more to do about it
                twin.close()

"""A UR controller twin on the wire: the unmodified ur_rtde library talks to it over RTDE,
the dashboard server and the script port, and it runs ur_rtde's control script from the
registers on a kinematic UR5 (:class:`~rt_avg.envs.ur5.twin.URTwin`).

* ``rtde_protocol``: RTDE messages, recipes and the controller's variable table.
* ``program``: ur_rtde's control script (command handshake, threads, blocking commands).
* ``controller``: registers, program start/stop, RTDE watchdogs, robot and safety modes.
* ``rtde_session``, ``dashboard``, ``script_port``: the three kinds of connection.
* ``links``: connections and the faults on them (silence, delay, close).
* ``events``: the event log tests wait on.
* ``server``: :class:`WireTwin`, the servers and the clock in a thread.
* ``process``: :class:`TwinProcess`, the twin in a child process with a control socket.
* ``cli``: ``rt-avg twin ur5``.
"""

from rt_avg.envs.ur5.wire.controller import ControllerConfig
from rt_avg.envs.ur5.wire.process import TwinProcess, free_loopback_host
from rt_avg.envs.ur5.wire.server import WireTwin, WireTwinConfig

__all__ = ["ControllerConfig", "TwinProcess", "WireTwin", "WireTwinConfig", "free_loopback_host"]

"""UR5 arm: drivers (hardware over RTDE, and a kinematic twin) and the UR-Reacher task.

Layers:

* ``kinematics``, ``workspace``: UR5 DH forward kinematics, safety box, joint limits, home.
* ``driver``: the driver interface (``URDriver``), ``JointState`` and the errors.
* ``rtde_driver``: the hardware driver (ur_rtde, imported lazily).
* ``twin``: the twin arm and its controller (program, RTDE watchdog, protective stops).
* ``standin``: ur_rtde look-alike classes backed by the twin, to run ``RTDEDriver`` unchanged.
* ``twin_driver``: the twin backend: ``RTDEDriver`` on the stand-in, stepped in simulated time.
* ``twin_server``: the stand-in served over a socket, so the twin outlives the driver's process.
* ``task``: ``URReacherEnv``, registered as ``rt_avg/UR5-Reacher-v0``.
"""

from rt_avg.envs.ur5.driver import (
    DriverStats,
    JointState,
    ProtectiveStopLimitError,
    SteppedDriver,
    URConnectionError,
    URDriver,
    URError,
    URMotionError,
    URProgramStoppedError,
    URSafetyError,
)
from rt_avg.envs.ur5.safety import ProtectiveStopPolicy, SafetyMode
from rt_avg.envs.ur5.task import URReacherEnv, reach_reward
from rt_avg.envs.ur5.twin import TwinConfig, URTwin
from rt_avg.envs.ur5.twin_driver import TwinDriver
from rt_avg.envs.ur5.workspace import Workspace

__all__ = [
    "DriverStats", "JointState", "ProtectiveStopLimitError", "ProtectiveStopPolicy", "SafetyMode",
    "SteppedDriver", "TwinConfig", "TwinDriver", "URConnectionError", "URDriver", "URError",
    "URMotionError", "URProgramStoppedError", "URReacherEnv", "URSafetyError", "URTwin",
    "Workspace", "reach_reward",
]

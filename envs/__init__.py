"""Robot tasks for rt-avg, registered with Gymnasium on import.

Each robot has a driver layer (talks to the device or to its twin) and a task layer
(a ``gymnasium.Env``).  The ``backend`` keyword chooses hardware or twin; the task code
is the same for both.
"""

from gymnasium.envs.registration import register, registry

UR5_REACHER_ID = "rt_avg/UR5-Reacher-v0"
CREATE2_MOVER_ID = "rt_avg/Create2-Mover-v0"


def _register() -> None:
    if UR5_REACHER_ID not in registry:
        register(id=UR5_REACHER_ID, entry_point="rt_avg.envs.ur5.task:URReacherEnv")
    if CREATE2_MOVER_ID not in registry:
        register(id=CREATE2_MOVER_ID, entry_point="rt_avg.envs.create2.task:CreateMoverEnv")


_register()

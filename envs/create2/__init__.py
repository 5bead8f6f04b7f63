"""iRobot Create 2: Open Interface codec (``oi``), serial driver (``driver``), twin
(``sim`` + ``emulator``) and the Create-Mover task (``task``).

The task is registered as ``rt_avg/Create2-Mover-v0`` by ``envs``; import submodules
directly (``from rt_avg.envs.create2.task import CreateMoverEnv``) so that importing the codec
does not pull in Gymnasium.
"""

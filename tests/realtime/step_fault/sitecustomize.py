"""Test-only fault injection, loaded by every Python process whose PYTHONPATH holds this
folder (the CLI, Ray's workers): once the file named by ``RT_AVG_TEST_STEP_FAULT`` exists,
the robot tasks' ``step`` raises, as a bug in ``step`` would.  Nothing else changes, and
nothing is imported before the task modules themselves are."""

import importlib.abc
import os
import sys

_TRIGGER = os.environ.get("RT_AVG_TEST_STEP_FAULT")
_TARGETS = {"rt_avg.envs.ur5.task": "URReacherEnv", "rt_avg.envs.create2.task": "CreateMoverEnv"}


def _patch(module, class_name):
    cls = getattr(module, class_name)
    step = cls.step

    def faulty_step(self, action):
        if os.path.exists(_TRIGGER):
            raise RuntimeError("injected fault in step")
        return step(self, action)

    cls.step = faulty_step


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in _TARGETS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _patch(module, _TARGETS[name])

        spec.loader.exec_module = exec_and_patch
        return spec


if _TRIGGER:
    sys.meta_path.insert(0, _PatchOnImport())

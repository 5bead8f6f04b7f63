"""Shared test set-up: headless MuJoCo, small Ray, offline wandb, tests/ importable."""

import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# This session's own shared-memory namespace (each pytest-xdist worker has its own): another
# rt-avg run on the machine never cleans up the segments a test is about to look for.
os.environ.setdefault("RT_AVG_SHM_PREFIX", f"rtavgtest{os.getpid()}")
sys.path.insert(0, str(Path(__file__).parent))

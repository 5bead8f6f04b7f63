"""Small helpers shared by tests (configs for quick runs, subprocess CLI calls)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rt_avg.config import Config

ROOT = Path(__file__).resolve().parents[1]


def quick_config(steps: int = 1500, seed: int = 0, **sections) -> Config:
    """InvertedPendulum with the default agent: quick to run, learns in a few 10k steps."""
    base = Config().replace(run={"steps": steps, "seed": seed, "checkpoint_every": 10**9,
                                 "metrics_every": 200})
    return base.replace(**sections) if sections else base


def run_cli(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "rt_avg.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=kw.pop("cwd", ROOT), env=env, **kw)

"""Atomic checkpoints: ``checkpoints/step_<N>.pt`` written via a temporary file + rename."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

_NAME = re.compile(r"step_(\d+)\.pt$")


@dataclass
class Checkpoint:
    """What a run needs to continue exactly: the learner's and the env loop's state."""

    step: int  # env steps taken
    wall_time_s: float  # training time so far (a resumed run continues the clock)
    algo: str  # cfg.agent.algo that wrote it
    learner: dict[str, Any]  # Learner.state_dict()
    env_loop: dict[str, Any]  # EnvLoop.state_dict(), the acting side's state included

    @property
    def acting_state(self) -> dict[str, Any]:
        """The acting side's state (``Acting.state_dict``): normaliser, noise, version."""
        return self.env_loop["policy"]


def save_checkpoint(directory: Path, ckpt: Checkpoint, keep: int = 3) -> Path:
    """Write ``ckpt`` atomically (a crash never leaves a half-written file) and keep only
    the newest ``keep`` checkpoints."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"step_{ckpt.step:010d}.pt"
    tmp = directory / f".{path.name}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save(dataclasses.asdict(ckpt), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    for old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def list_checkpoints(directory: Path) -> list[Path]:
    """Checkpoint files, oldest first."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.search(p.name)]
    return sorted(found, key=lambda p: int(_NAME.search(p.name).group(1)))


def latest_checkpoint(directory: Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1] if found else None


def load_checkpoint(path: Path) -> Checkpoint:
    # Our own files hold numpy arrays and RNG state dicts, not only tensors.
    return Checkpoint(**torch.load(path, map_location="cpu", weights_only=False))

"""What a training run returns, whatever runner ran it (no torch: the real-time driver
process uses it without learning or acting)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    episodes: int
    interrupted: bool
    wall_s: float
    reason: str | None = None

"""What a training run returns, whatever runner ran it (no torch: the real-time driver
process uses it without learning or acting)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    episodes: int
    interrupted: bool
    wall_s: float
    reason: str | None = None
    """What stopped it early (a signal's name), if something did."""
    timing: dict[str, Any] | None = None
    """The real-time modes' timing summary (timing.json), None inline."""

    @property
    def summary(self) -> dict[str, Any]:
        """The run at a glance: steps, episodes, mean return of the first and the last ten
        episodes (of the whole run directory), wall time, and the timing summary."""
        from rt_avg.run.run_dir import read_episodes

        returns = [e["return"] for e in read_episodes(self.run_dir)]
        first, last = returns[:10], returns[-10:]
        return {"run_dir": str(self.run_dir), "steps": self.steps, "episodes": self.episodes,
                "return_first10": sum(first) / len(first) if first else None,
                "return_last10": sum(last) / len(last) if last else None,
                "wall_s": self.wall_s, "interrupted": self.interrupted, "timing": self.timing}

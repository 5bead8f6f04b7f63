"""Experiment tracking hooks.  The run directory is always the record; a tracker (Weights &
Biases) mirrors it and must never stop a run: implementations swallow and report their own
failures.  Only the logging process (the inline runner or the LoggerActor) owns a tracker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from rt_avg.core.config import Config


class Tracker(Protocol):
    def log_episode(self, step: int, episode: int, ret: float, length: int) -> None: ...

    def log_metrics(self, step: int, row: dict[str, Any]) -> None:
        """Learner metrics (keys ``losses/...``) and timing (``timing/...``)."""

    def log_timing(self, summary: dict[str, Any]) -> None:
        """The run's timing summary (timing.json) once it is known."""

    def finish(self, run_dir: Path) -> None:
        """Upload end-of-run artefacts (learning-curve figure) and close."""


class NullTracker:
    """Tracking switched off."""

    def log_episode(self, step: int, episode: int, ret: float, length: int) -> None:
        pass

    def log_metrics(self, step: int, row: dict[str, Any]) -> None:
        pass

    def log_timing(self, summary: dict[str, Any]) -> None:
        pass

    def finish(self, run_dir: Path) -> None:
        pass


def make_tracker(cfg: Config, run_dir: Path) -> Tracker:
    """The tracker ``cfg.tracking`` asks for (NullTracker unless wandb is on)."""
    if not cfg.tracking.wandb or cfg.tracking.mode == "disabled":
        return NullTracker()
    from rt_avg.run.tracking.wandb_tracker import WandbTracker  # imported only when asked for

    return WandbTracker(cfg, run_dir)

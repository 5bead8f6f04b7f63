"""The lossless path from the env and learner workers to the logger.

Everything that must not be lost (episodes, metrics, timing, state snapshots, events) goes
through a ``Sink``; the latest-value channels carry only what may be overwritten.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Sink(Protocol):
    def episode(self, step: int, episode: int, ret: float, length: int) -> None: ...

    def metrics(self, row: dict[str, Any]) -> None: ...

    def timing(self, role: str, chunk: dict[str, np.ndarray]) -> None: ...

    def snapshot(self, role: str, step: int, state: dict[str, Any]) -> None:
        """Latest resumable state of a role (``env`` or ``learner``) for checkpoints."""

    def event(self, kind: str, message: str, step: int) -> None:
        """Something a user should see (a stall, a fault), kept in ``events.jsonl``."""

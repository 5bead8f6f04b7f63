"""Mapping the actor's [-1, 1] output to the environment's action bounds."""

from __future__ import annotations

import numpy as np


class ActionMap:
    """``clip`` (published default): clip to [low, high]; ``rescale``: affine map of [-1, 1]."""

    def __init__(self, low: np.ndarray, high: np.ndarray, mode: str = "clip") -> None:
        if mode not in ("clip", "rescale"):
            raise ValueError(f"action_mode: got {mode!r}, expected 'clip' or 'rescale'")
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        if not (np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high))):
            raise ValueError("action space: bounds must be finite for a continuous-control task")
        self.mode = mode
        self._half = (self.high - self.low) / 2.0
        self._mid = (self.high + self.low) / 2.0

    def __call__(self, squashed: np.ndarray) -> np.ndarray:
        if self.mode == "clip":
            return np.clip(squashed, self.low, self.high)
        return self._mid + self._half * np.clip(squashed, -1.0, 1.0)

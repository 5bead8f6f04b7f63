"""Windowed learner metrics: means over ``metrics_every`` updates, plus update timing."""

from __future__ import annotations

from typing import Any

import numpy as np


def percentiles_us(samples_ns: np.ndarray | list[int], prefix: str) -> dict[str, float]:
    """p50/p95/p99/max of nanosecond samples, in microseconds, keyed ``<prefix>_us_p50``..."""
    a = np.asarray(samples_ns, dtype=np.float64) / 1e3
    if a.size == 0:
        return {}
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {f"{prefix}_us_p50": float(p50), f"{prefix}_us_p95": float(p95),
            f"{prefix}_us_p99": float(p99), f"{prefix}_us_max": float(a.max())}


class MetricsWindow:
    """Accumulates per-update metrics (``Learner.update``'s dict); :meth:`flush` returns one
    metrics row of their means plus update-time percentiles."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._count = 0
        self._update_ns: list[int] = []

    def add(self, metrics: dict[str, float], update_ns: int) -> None:
        for k, v in metrics.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._count += 1
        self._update_ns.append(update_ns)

    def __len__(self) -> int:
        return self._count

    def flush(self, **extra: Any) -> dict[str, Any]:
        row: dict[str, Any] = dict(extra)
        if self._count:
            row.update({k: v / self._count for k, v in self._sums.items()})
            row.update({f"timing/{k}": v
                        for k, v in percentiles_us(self._update_ns, "update").items()})
        self._sums, self._count, self._update_ns = {}, 0, []
        return row

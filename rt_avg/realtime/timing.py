"""Per-step timing arrays and the ``timing.json`` summary.

Env side, per step: action latency (observation in -> action out), cycle time (start to
start; NaN for the first cycle of an episode, which follows a reset), overrun flag, policy staleness (env steps between the step whose update produced
the acting weights and now).  Learner side, per update: update time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ENV_FIELDS = {"action_latency_us": np.float32, "cycle_ms": np.float32,
              "overrun": np.bool_, "staleness_steps": np.int32}
LEARNER_FIELDS = {"update_us": np.float32}


class TimingBuffer:
    """Append-only columns, handed out in chunks (``take``) for the lossless log path."""

    def __init__(self, fields: dict[str, Any], chunk: int = 2000) -> None:
        self.fields = fields
        self.chunk = chunk
        self._cols = {k: np.empty(chunk, dtype=t) for k, t in fields.items()}
        self._n = 0

    def add(self, **values: Any) -> bool:
        """Record one row; True when a chunk is full and should be taken."""
        for k, v in values.items():
            self._cols[k][self._n] = v
        self._n += 1
        return self._n >= self.chunk

    def take(self) -> dict[str, np.ndarray]:
        out = {k: c[:self._n].copy() for k, c in self._cols.items()}
        self._n = 0
        return out


def _stats(a: np.ndarray) -> dict[str, float]:
    a = a[~np.isnan(a)] if a.dtype.kind == "f" else a
    if a.size == 0:
        return {}
    p50, p95, p99 = np.percentile(a.astype(np.float64), [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(a.max()),
            "mean": float(a.mean())}


def summarize(env: dict[str, np.ndarray], learner: dict[str, np.ndarray], *, dt_s: float,
              mode: str, wall_s: float, env_steps: int, updates: int, skipped: int,
              stalls: int, start_step: int = 0, start_updates: int = 0) -> dict[str, Any]:
    """The timing.json content.

    ``env_steps`` and ``updates`` are the run's totals; ``wall_s`` is this process's part
    of it, which began at ``start_step`` and ``start_updates`` (a resumed run): the rates
    and the learned fraction are of that part, whose arrays these are."""
    cycle = env.get("cycle_ms", np.empty(0))  # NaN where a cycle has no predecessor
    steps_here, updates_here = env_steps - start_step, updates - start_updates
    out: dict[str, Any] = {
        "mode": mode, "dt_ms": dt_s * 1e3, "env_steps": env_steps, "updates": updates,
        "start_step": start_step, "wall_s": wall_s,
        "env_steps_per_s": steps_here / wall_s if wall_s > 0 else 0.0,
        "updates_per_s": updates_here / wall_s if wall_s > 0 else 0.0,
        "learned_fraction": updates_here / steps_here if steps_here > 0 else 0.0,
        "skipped_transitions": skipped, "stalls": stalls,
        "overruns": int(env.get("overrun", np.empty(0, bool)).sum()),
        "action_latency_us": _stats(env.get("action_latency_us", np.empty(0))),
        "cycle_ms": _stats(cycle),
        "jitter_ms": _stats(np.abs(cycle - dt_s * 1e3)) if dt_s > 0 else {},
        "staleness_steps": _stats(env.get("staleness_steps", np.empty(0))),
        "update_us": _stats(learner.get("update_us", np.empty(0))),
    }
    return out


def concat(chunks: list[dict[str, np.ndarray]], fields: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: (np.concatenate([c[k] for c in chunks]) if chunks else np.empty(0, dtype=t))
            for k, t in fields.items()}

"""Learning tests' runs: train inline until a return threshold is reached, or to the budget."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from rt_avg.core.config import Config
from rt_avg.run.inline import train_inline
from rt_avg.run.run_dir import read_episodes
from rt_avg.run.shutdown import StopRequest

WINDOW = 20  # episodes in the "last" and "first" means


def returns_until(cfg: Config, run_path: Path, threshold: float) -> tuple[float, float]:
    """Train ``cfg`` (its ``run.steps`` is the budget) and stop as soon as the mean return of
    the last WINDOW episodes reaches ``threshold``; returns (first-WINDOW mean, last-WINDOW
    mean at the end).  A run that never reaches the threshold goes to its budget, so a
    learner that does not learn still fails the test; one that does ends early."""
    stop = StopRequest()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.5):
            returns = _returns(run_path)
            if len(returns) >= 2 * WINDOW and np.mean(returns[-WINDOW:]) >= threshold:
                stop.set("threshold reached")
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        train_inline(cfg, run_path, stop=stop, progress=False)
    finally:
        done.set()
        watcher.join()
    returns = _returns(run_path)
    return float(np.mean(returns[:WINDOW])), float(np.mean(returns[-WINDOW:]))


def _returns(run_path: Path) -> list[float]:
    if not (run_path / "episodes.csv").exists():
        return []
    return [e["return"] for e in read_episodes(run_path)]

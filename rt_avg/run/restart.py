"""Starting a run again in its own directory (``rt-avg train --run-dir RUN --restart``).

A run that stopped before its first checkpoint (killed, or a fault in its first steps)
cannot be continued: there is no state to continue from.  ``--restart`` starts it again
from step 0 in the same directory: the first attempt's config and logs are replaced.  A
directory with any checkpoint is never restarted (that would discard what the run
learned; ``--resume`` continues it), nor one that another process is writing.
"""

from __future__ import annotations

from pathlib import Path

from rt_avg.run.checkpoint_files import list_checkpoints
from rt_avg.core.config import ConfigError
from rt_avg.run.run_dir import RunDirectory, RunLock

ATTEMPT_FILES = ("actors.json",)
"""Files a run writes besides those :class:`RunDirectory` names."""


def _logged_episodes(run_dir: RunDirectory) -> int:
    try:
        with open(run_dir.episodes, "rb") as f:
            return max(sum(1 for line in f if line.strip()) - 1, 0)  # less the header
    except FileNotFoundError:
        return 0


def clear_for_restart(run_path: Path) -> str | None:
    """Remove the files of a first attempt at ``run_path`` that never checkpointed, so
    that a new run can start there; return a note saying what was replaced (None if
    ``run_path`` holds no run).  ConfigError, with nothing removed, if the run has a
    checkpoint or another process is writing it."""
    run_dir = RunDirectory(run_path)
    if not run_dir.config.exists():
        return None
    lock = RunLock(run_dir.path).acquire("--restart")
    try:
        found = list_checkpoints(run_dir.checkpoints)
        if found:
            raise ConfigError(
                f"--restart: {run_path} has {len(found)} checkpoint file(s) (newest "
                f"{found[-1].name}); a restart would discard what the run learned. Continue "
                f"it with rt-avg train --resume {run_path}, or choose another directory (if "
                f"its checkpoints are damaged, move them out of {run_dir.checkpoints} to "
                "restart). Nothing was changed")
        episodes = _logged_episodes(run_dir)
        for path in (run_dir.config, run_dir.episodes, run_dir.metrics, run_dir.timing,
                     run_dir.events, *(run_dir.path / name for name in ATTEMPT_FILES)):
            path.unlink(missing_ok=True)
    finally:
        lock.release()
    return (f"--restart: {run_path} stopped before its first checkpoint; starting it again "
            f"from step 0 (the {episodes} episode(s) logged by that attempt, its config.yaml "
            "and metrics are replaced)")

"""Checkpoint files without their content: names, listing, and atomic writes of bytes.

``rt_avg.run.checkpoint`` encodes and decodes what is inside (with torch); this module only
moves bytes, so a process that stores checkpoints without learning or acting (the real-time
runs' logger) does not import torch.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import Callable

_NAME = re.compile(r"step_(\d+)\.pt$")


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (e.g. a full disk); nothing partial was left."""


def periodic_checkpoint(write: Callable[[], object], on_error: str) -> None:
    """A periodic checkpoint under ``run.checkpoint_errors`` (``on_error``): a refused write
    stops the run (CheckpointWriteError propagates) unless it is ``continue``.  The writer
    has already reported the failure (an event and, when the run goes on, a warning)."""
    try:
        write()
    except CheckpointWriteError:
        if on_error != "continue":
            raise


def checkpoint_path(directory: Path, step: int) -> Path:
    """Where the checkpoint of env step ``step`` lives."""
    return directory / f"step_{step:010d}.pt"


def list_checkpoints(directory: Path) -> list[Path]:
    """Checkpoint files, oldest first."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.search(p.name)]
    return sorted(found, key=lambda p: int(_NAME.search(p.name).group(1)))


def latest_checkpoint(directory: Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1] if found else None


def write_checkpoint_bytes(directory: Path, step: int, data: bytes, keep: int = 3) -> Path:
    """Write an encoded checkpoint atomically (temporary file, fsync, rename) and keep only
    the newest ``keep`` checkpoints.

    Raises CheckpointWriteError if the file system refuses the write: no temporary file is
    left and the older checkpoints stay."""
    path = checkpoint_path(directory, step)
    tmp = directory / f".{path.name}.tmp.{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        newest = latest_checkpoint(directory)
        kept = (f"the newest checkpoint is still {newest.name}" if newest is not None
                else "no earlier checkpoint exists")
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            reason += " (free some space, then resume)"
        raise CheckpointWriteError(f"could not write checkpoint {path}: {reason}; nothing "
                                   f"was written and {kept}") from None
    for old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path

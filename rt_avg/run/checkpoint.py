"""Checkpoints: ``checkpoints/step_<N>.pt``, tensors and plain data only.

A checkpoint is written by ``torch.save`` and read back with
``torch.load(weights_only=True)``: the file may hold tensors, numbers, strings, None,
lists, tuples and dicts, and nothing that names a Python callable, so a crafted file
cannot run code when it is loaded.  NumPy arrays in a state are stored as tensors tagged
``{"__ndarray__": tensor}`` and come back as arrays of the same dtype; NumPy scalars come
back as Python numbers (RNG states are plain dicts of Python ints, however large).

Writes are atomic (a temporary file, fsync, rename) and refused for states holding NaN
or inf: a crash or a full disk never leaves a half-written checkpoint or a temporary
file behind, and the newest checkpoint is always a finite one.
"""

from __future__ import annotations

import dataclasses
import io
import math
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from rt_avg.run.checkpoint_files import (CheckpointWriteError, latest_checkpoint,
                                     list_checkpoints, write_checkpoint_bytes)
from rt_avg.core.config import ConfigError
from rt_avg.core.finite import NonFiniteError

__all__ = ["Checkpoint", "CheckpointError", "CheckpointWriteError", "UnsafeCheckpointError",
           "encode_checkpoint", "latest_checkpoint", "list_checkpoints", "load_checkpoint",
           "first_non_finite", "load_newest", "save_checkpoint", "write_checkpoint_bytes"]

_NDARRAY = "__ndarray__"


class CheckpointError(ConfigError):
    """A checkpoint file cannot be used: unreadable, truncated or not a checkpoint."""


class UnsafeCheckpointError(CheckpointError):
    """The file holds Python objects that loading would have to execute; refused (never
    skipped): someone or something other than rt-avg wrote it."""


@dataclass
class Checkpoint:
    """What a run needs to continue exactly: the learner's and the env loop's state."""

    step: int  # env steps taken
    wall_time_s: float  # training time so far (a resumed run continues the clock)
    algo: str  # cfg.agent.algo that wrote it
    learner: dict[str, Any]  # Learner.state_dict()
    env_loop: dict[str, Any]  # EnvLoop.state_dict(), the acting side's state included

    @property
    def acting_state(self) -> dict[str, Any]:
        """The acting side's state (``Acting.state_dict``): normaliser, noise, version."""
        return self.env_loop["policy"]


# ----------------------------------------------------------------------------- encoding


def _encode(value: Any, path: str) -> Any:
    """``value`` as tensors and plain data; raises TypeError naming ``path`` otherwise."""
    if value is None or type(value) in (bool, int, float, str, torch.Tensor):
        return value
    if isinstance(value, torch.Tensor):  # e.g. an nn.Parameter: store the plain tensor
        return value.detach().as_subclass(torch.Tensor)
    if isinstance(value, np.generic):  # np.float64 is a float subclass: test it first
        return value.item()
    for plain in (bool, int, float, str):  # subclasses (enums, ...) would pickle by name
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError(f"{path}: a NumPy array of Python objects")
        return {_NDARRAY: torch.from_numpy(np.array(value, order="C", copy=True))}
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, (str, int)):
                raise TypeError(f"{path}: a dict key of type {type(key).__name__}")
        return {k: _encode(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(f"{path}: a {type(value).__module__}.{type(value).__qualname__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and _NDARRAY in value:
            return value[_NDARRAY].numpy()
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_decode(v) for v in value)
    return value


def first_non_finite(value: Any, path: str = "") -> str | None:
    """The path of the first NaN or inf in a state (floats, float tensors and arrays), or
    None when everything is finite."""
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} = {value}"
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return f"{path} (a tensor of shape {list(value.shape)})"
        return None
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc" and not bool(np.isfinite(value).all()):
            return f"{path} (an array of shape {list(value.shape)})"
        return None
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, (list, tuple)) else ())
    for key, item in items:
        sub = f"{path}.{key}" if isinstance(value, dict) else f"{path}[{key}]"
        if (found := first_non_finite(item, sub.lstrip("."))) is not None:
            return found
    return None


# ----------------------------------------------------------------------------- saving


def encode_checkpoint(ckpt: Checkpoint) -> bytes:
    """The bytes of a checkpoint file (``write_checkpoint_bytes`` writes them).

    Raises NonFiniteError if the state holds NaN or inf, TypeError if it holds anything but
    tensors, arrays and plain data."""
    state = dataclasses.asdict(ckpt)
    if (where := first_non_finite(state)) is not None:
        raise NonFiniteError(f"the state became non-finite by step {ckpt.step} ({where}); "
                             "the run stopped without checkpointing it (the newest "
                             "checkpoint is the last finite one)")
    buf = io.BytesIO()
    torch.save(_encode(state, "checkpoint"), buf)
    return buf.getvalue()


def save_checkpoint(directory: Path, ckpt: Checkpoint, keep: int = 3) -> Path:
    """Write ``ckpt`` atomically and keep only the newest ``keep`` checkpoints.

    Raises NonFiniteError (nothing written) if the state holds NaN or inf, TypeError if it
    holds anything but tensors, arrays and plain data, and CheckpointWriteError if the
    file system refuses the write (no temporary file is left; older checkpoints stay)."""
    return write_checkpoint_bytes(directory, ckpt.step, encode_checkpoint(ckpt), keep)


# ----------------------------------------------------------------------------- loading


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint without running code from the file.

    Raises UnsafeCheckpointError for a file that holds anything but tensors and plain data,
    and CheckpointError for one that is unreadable, truncated, not a checkpoint, or holds
    NaN or inf."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = str(exc).strip().splitlines()
        found = next((line for line in detail if "GLOBAL" in line or "Unsupported" in line),
                     "objects outside tensors and plain data")
        raise UnsafeCheckpointError(
            f"checkpoint {path}: refused to load it: it holds Python objects other than "
            f"tensors and plain data ({found.strip()}), which loading would have to "
            "execute. rt-avg writes tensors and plain data only (its earlier checkpoints "
            "held NumPy objects: start a new run); delete the file unless you know where "
            "it came from") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        detail = str(exc).split(". ")[0][:120] or "empty"
        raise CheckpointError(f"checkpoint {path}: truncated or damaged, cannot be read "
                              f"({type(exc).__name__}: {detail})") from None
    fields = {f.name for f in dataclasses.fields(Checkpoint)}
    if not isinstance(data, dict) or set(data) != fields:
        raise CheckpointError(f"checkpoint {path}: not an rt-avg checkpoint (expected the "
                              f"fields {', '.join(sorted(fields))})")
    if not (isinstance(data["step"], int) and isinstance(data["learner"], dict)
            and isinstance(data["env_loop"], dict) and isinstance(data["algo"], str)):
        raise CheckpointError(f"checkpoint {path}: not an rt-avg checkpoint (fields of the "
                              "wrong type)")
    if (where := first_non_finite(data)) is not None:
        raise CheckpointError(f"checkpoint {path}: holds NaN or inf ({where})")
    return Checkpoint(**_decode(data))


def load_newest(directory: Path,
                on_skip: Callable[[Path, CheckpointError], None] | None = None
                ) -> Checkpoint | None:
    """The newest checkpoint that loads, or None if there is none.

    A truncated or damaged file is skipped (``on_skip(path, error)``, by default a line on
    stderr) in favour of the one before it; an unsafe file raises UnsafeCheckpointError."""
    for path in reversed(list_checkpoints(directory)):
        try:
            return load_checkpoint(path)
        except UnsafeCheckpointError:
            raise
        except CheckpointError as exc:
            (on_skip or _report_skip)(path, exc)
    return None


def _report_skip(path: Path, exc: CheckpointError) -> None:
    print(f"rt-avg: warning: {exc}; trying the checkpoint before it", file=sys.stderr)

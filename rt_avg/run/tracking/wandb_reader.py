"""Read a wandb run file (``run-<id>.wandb``) back without wandb's servers or internals.

The file is wandb's transaction log, in LevelDB's log format
(https://github.com/google/leveldb/blob/main/doc/log_format.md):

    file   := header block*
    header := ident ":W&B" (4 bytes) | magic 0xBEE1 (u16 LE) | version 0 (u8)
    block  := chunk* trailer?            32 KiB; the file header counts towards block 0
    chunk  := crc32 (u32 LE) | length (u16 LE) | type (u8) | data[length]
    type   := FULL 1 | FIRST 2 | MIDDLE 3 | LAST 4

A chunk never starts in the last 6 bytes of a block (those are zero padding); a record too
long for the rest of a block is split FIRST, MIDDLE..., LAST.  The checksum is the IEEE
CRC-32 (zlib) of the type byte followed by the data.  Each reassembled record is one
``wandb.proto.wandb_internal_pb2.Record`` protobuf message.

Used by the tests to check what a tracked run logged, and handy for looking into an offline
run before ``wandb sync``: ``read_run(find_run_file(run_dir))``.
"""

from __future__ import annotations

import json
import time
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

BLOCK_BYTES = 32 * 1024
CHUNK_HEADER_BYTES = 7
FILE_IDENT = b":W&B"
FILE_MAGIC = 0xBEE1
FILE_VERSION = 0
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


class WandbFileError(ValueError):
    """The file is not a wandb run file, or it is corrupt before its end."""


def iter_record_bytes(path: Path) -> Iterator[bytes]:
    """The raw record payloads of a wandb run file, in write order.

    A chunk cut short at the end of the file (a run still being written, or killed) ends
    the iteration quietly; a bad header or checksum elsewhere raises WandbFileError.
    """
    data = Path(path).read_bytes()
    if len(data) < CHUNK_HEADER_BYTES:
        raise WandbFileError(f"{path}: too short for a wandb run file ({len(data)} bytes)")
    ident, magic, version = struct.unpack("<4sHB", data[:CHUNK_HEADER_BYTES])
    if ident != FILE_IDENT or magic != FILE_MAGIC or version != FILE_VERSION:
        raise WandbFileError(f"{path}: not a wandb run file (header {data[:7]!r}, expected "
                             f"{FILE_IDENT!r} magic {FILE_MAGIC:#x} version {FILE_VERSION})")
    pos = CHUNK_HEADER_BYTES
    pending: bytearray | None = None
    while True:
        left_in_block = BLOCK_BYTES - pos % BLOCK_BYTES
        if left_in_block < CHUNK_HEADER_BYTES:  # block trailer: zero padding
            pos += left_in_block
        if pos + CHUNK_HEADER_BYTES > len(data):
            return
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        start = pos + CHUNK_HEADER_BYTES
        if start + length > len(data):
            return  # torn tail
        payload = data[start:start + length]
        pos = start + length
        if crc == 0 and length == 0 and kind == 0:
            continue  # zero-filled (pre-allocated) space
        if zlib.crc32(bytes([kind]) + payload) != crc:
            raise WandbFileError(f"{path}: checksum mismatch in chunk at byte {start - 7}")
        if kind == FULL:
            yield bytes(payload)
        elif kind == FIRST:
            pending = bytearray(payload)
        elif kind == MIDDLE and pending is not None:
            pending += payload
        elif kind == LAST and pending is not None:
            pending += payload
            yield bytes(pending)
            pending = None
        else:
            raise WandbFileError(f"{path}: unexpected chunk type {kind} at byte {start - 7}")


def iter_records(path: Path) -> Iterator[Any]:
    """The ``wandb_internal_pb2.Record`` messages of a wandb run file."""
    from wandb.proto import wandb_internal_pb2 as pb

    for raw in iter_record_bytes(path):
        record = pb.Record()
        record.ParseFromString(raw)
        yield record


def _item_key(item: Any) -> str:
    return item.key or ".".join(item.nested_key)


def _items(items: Any) -> dict[str, Any]:
    return {_item_key(it): json.loads(it.value_json) for it in items}


@dataclass
class WandbRun:
    """What a run file holds, decoded: one dict per ``run.log`` call, the config, the
    summary (later updates win), metric definitions and the names of logged files."""

    run_id: str = ""
    project: str = ""
    name: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)
    """Metric name or glob -> its step metric (from ``define_metric``)."""
    files: list[str] = field(default_factory=list)
    exited: bool = False
    record_types: dict[str, int] = field(default_factory=dict)

    def series(self, key: str, step_key: str = "env_step") -> tuple[list[Any], list[Any]]:
        """(steps, values) of the history rows that hold ``key``."""
        rows = [r for r in self.history if key in r]
        return [r.get(step_key) for r in rows], [r[key] for r in rows]


def read_run(path: Path) -> WandbRun:
    """Decode a ``run-<id>.wandb`` file into a :class:`WandbRun`."""
    run = WandbRun()
    for record in iter_records(path):
        kind = record.WhichOneof("record_type")
        if kind is None:
            continue
        run.record_types[kind] = run.record_types.get(kind, 0) + 1
        if kind == "run":
            run.run_id, run.project = record.run.run_id, record.run.project
            run.name = record.run.display_name
            run.config.update(_items(record.run.config.update))
        elif kind == "config":
            run.config.update(_items(record.config.update))
            for item in record.config.remove:
                run.config.pop(_item_key(item), None)
        elif kind == "history":
            run.history.append(_items(record.history.item))
        elif kind == "summary":
            run.summary.update(_items(record.summary.update))
        elif kind == "metric":
            name = record.metric.name or record.metric.glob_name
            run.metrics[name] = record.metric.step_metric
        elif kind == "files":
            run.files.extend(f.path for f in record.files.files)
        elif kind == "exit":
            run.exited = True
    return run


def find_run_file(run_dir: Path) -> Path:
    """The newest ``run-*.wandb`` file under ``<run_dir>/wandb``."""
    found = sorted(Path(run_dir).glob("wandb/*run-*/run-*.wandb"),
                   key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"{run_dir}: no wandb/*run-*/run-*.wandb file")
    return found[-1]


def read_finished_run(run_dir: Path, timeout_s: float = 20.0) -> WandbRun:
    """The newest run of ``run_dir`` once its file holds the exit record.

    ``run.finish()`` returns before wandb's service process has flushed the file, so a
    reader in the same process waits for it; the run is complete once the process exits.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            run = read_run(find_run_file(run_dir))
            if run.exited:
                return run
        except (FileNotFoundError, WandbFileError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"{run_dir}: wandb run file has no exit record after "
                               f"{timeout_s:g} s")
        time.sleep(0.1)

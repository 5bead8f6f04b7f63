"""The latest-value channel contract, shared by every transport.

A latest channel has one writer and any number of readers. The writer never blocks and never
waits for readers; a reader asks for "the newest record newer than the one I already have"::

    # writer process (e.g. the EnvActor)                # reader process (e.g. the LearnerActor)
    writer = LatestChannel.create(dtype)                reader = spec.open_reader()
    send(writer.spec)  # picklable, to the reader       seen = 0
    while running:                                      while running:
        seq = writer.write(obs=o, action=a, ...)            rec = reader.wait_newer(seen, timeout_s=0.1)
                                                            if rec is None:
                                                                continue  # nothing new yet
                                                            seen = int(rec["seq"])
                                                            learn_from(rec)

Records are numpy structured scalars (``np.void``) laid out by the channel's dtype plus two
fields stamped by the channel: ``seq`` (int64, 1, 2, 3, ... per channel) and
``write_time_ns`` (int64, ``time.monotonic_ns()`` when ``write`` was called; CLOCK_MONOTONIC
is system-wide on Linux, so ``time.monotonic_ns() - rec["write_time_ns"]`` is a valid
cross-process latency on one machine, not across machines).

Readers may skip records (a slow reader sees only the newest); they never see a record twice
when they pass the last ``seq`` they saw, and never see a torn (partly overwritten) record.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

#: A record read from a channel: a structured scalar that owns its memory (a copy).
Record = np.void

#: Fields every record carries, stamped by the channel; user dtypes must not use these names.
RESERVED_FIELDS: tuple[str, ...] = ("seq", "write_time_ns")


class ChannelError(RuntimeError):
    """A channel could not be created, attached or read (the message says why and what to do)."""


@runtime_checkable
class LatestReader(Protocol):
    """Reader end of a latest channel. Not thread-safe; use one reader per thread."""

    @property
    def dtype(self) -> np.dtype:
        """The user dtype of the records (without ``seq``/``write_time_ns``)."""
        ...

    def read_latest(self, after_seq: int = -1) -> Record | None:
        """Return a copy of the newest complete record with ``seq > after_seq``, or ``None``.

        ``None`` means "nothing newer than ``after_seq`` has been published". Never blocks
        (beyond retrying a copy that raced with the writer, which takes microseconds).
        """
        ...

    def wait_newer(self, after_seq: int, timeout_s: float) -> Record | None:
        """Like ``read_latest`` but wait up to ``timeout_s`` for a newer record; ``None`` on timeout."""
        ...

    def close(self) -> None:
        """Release this reader's resources; idempotent. Does not affect the writer or other readers."""
        ...


class ReaderSpec(Protocol):
    """A small picklable description of a channel that opens a reader in any process."""

    def open_reader(self) -> LatestReader:
        """Attach to the channel from the calling process."""
        ...


@runtime_checkable
class LatestWriter(Protocol):
    """Writer end of a latest channel. Exactly one writer per channel; not thread-safe."""

    @property
    def dtype(self) -> np.dtype:
        """The user dtype of the records (without ``seq``/``write_time_ns``)."""
        ...

    @property
    def spec(self) -> ReaderSpec:
        """Picklable spec to hand to readers (through Ray, a pipe, ...)."""
        ...

    def write(self, record: Any = None, /, **fields: Any) -> int:
        """Publish a record and return its ``seq``. Never blocks, never waits for readers.

        ``record`` may be a mapping of field values or a structured scalar/array of the
        channel's dtype; keyword ``fields`` override it. Fields given neither way are zero.
        """
        ...

    def close(self) -> None:
        """Stop writing and release what the writer owns; idempotent."""
        ...

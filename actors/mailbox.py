"""Latest-value channels across Ray nodes, and the factory that picks the transport.

Shared memory (``rt_avg.realtime.channels.LatestChannel``) only works when writer and reader share a
machine. Across nodes the same ``LatestWriter``/``LatestReader`` interface is served by a
tiny async Ray actor, the *mailbox*, that holds only the newest record:

* ``write`` sends the record bytes with a fire-and-forget actor call (never blocks; the
  mailbox keeps a record only if its seq is newer, so reordered calls cannot go back in time);
* ``read_latest``/``wait_newer`` are one blocking actor call each (the wait happens inside
  the actor, so a waiting reader costs no polling traffic).

``open_channel`` chooses: shared memory when both ends are on the same Ray node, the mailbox
otherwise. The mailbox is placed on the reader's node (soft affinity), so the blocking reads
stay local and only the writer's one-way sends cross the network.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from rt_avg.realtime.channels import ChannelError, LatestChannel, LatestWriter, Record
from rt_avg.realtime.channels.record import RecordPacker, record_dtype, unpack_record

Transport = Literal["auto", "shm", "mailbox"]


@ray.remote(num_cpus=0)
class LatestMailbox:
    """Async actor holding the newest record (as bytes) and its seq."""

    def __init__(self) -> None:
        self._seq = 0
        self._data = b""
        self._new = asyncio.Event()

    async def put(self, seq: int, data: bytes) -> None:
        if seq > self._seq:
            self._seq, self._data = seq, data
            self._new.set()
            self._new = asyncio.Event()

    async def get(self, after_seq: int) -> tuple[int, bytes] | None:
        return (self._seq, self._data) if self._seq > max(after_seq, 0) else None

    async def wait(self, after_seq: int, timeout_s: float) -> tuple[int, bytes] | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        after_seq = max(after_seq, 0)  # seq 0 means "nothing written yet"
        while self._seq <= after_seq:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._new.wait(), remaining)
            except asyncio.TimeoutError:
                return None
        return (self._seq, self._data)


@dataclass(frozen=True)
class MailboxSpec:
    """Picklable reader spec for a mailbox channel (Ray actor handles travel in Ray calls)."""

    actor: Any
    dtype: np.dtype

    def open_reader(self) -> MailboxReader:
        return MailboxReader(self)


class MailboxWriter:
    """``LatestWriter`` backed by a ``LatestMailbox`` actor that this writer creates and owns.

    The mailbox lives as long as this writer or any reader holds its handle (Ray reference
    counting); it dies with the writer's process (Ray owner fate-sharing), like a segment.
    """

    def __init__(self, dtype: np.dtype, *, node_id: str | None = None) -> None:
        options: dict[str, Any] = {}
        if node_id is not None:
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id, soft=True)
        self._actor = LatestMailbox.options(**options).remote()
        self._dtype = dtype
        self._staging = bytearray(record_dtype(dtype).itemsize)
        self._packer = RecordPacker(dtype, self._staging)
        self._seq = 0

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def spec(self) -> MailboxSpec:
        if self._actor is None:
            raise ChannelError("mailbox writer is closed")
        return MailboxSpec(self._actor, self._dtype)

    def write(self, record: Any = None, /, **fields: Any) -> int:
        t_ns = time.monotonic_ns()
        if self._actor is None:
            raise ChannelError("mailbox writer is closed")
        seq = self._seq + 1
        data = bytes(self._packer.pack(record, fields, seq, t_ns))
        self._actor.put.remote(seq, data)
        self._seq = seq
        return seq

    def close(self) -> None:
        self._actor = None


class MailboxReader:
    """``LatestReader`` over a ``LatestMailbox``; each call is one blocking actor call."""

    def __init__(self, spec: MailboxSpec) -> None:
        self._actor = spec.actor
        self._dtype = spec.dtype
        self._rec_dtype = record_dtype(spec.dtype)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def _decode(self, reply: tuple[int, bytes] | None) -> Record | None:
        return None if reply is None else unpack_record(self._rec_dtype, bytearray(reply[1]))

    def read_latest(self, after_seq: int = -1) -> Record | None:
        return self._decode(ray.get(self._actor.get.remote(after_seq)))

    def wait_newer(self, after_seq: int, timeout_s: float) -> Record | None:
        return self._decode(ray.get(self._actor.wait.remote(after_seq, max(timeout_s, 0.0))))

    def close(self) -> None:
        self._actor = None


def current_node_id() -> str | None:
    """The Ray node id of the calling process, or None when Ray is not initialised."""
    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def choose_transport(writer_node_id: str | None, reader_node_id: str | None) -> Literal["shm", "mailbox"]:
    """``"shm"`` when both ends are on one node (or either is unknown, i.e. no Ray), else ``"mailbox"``."""
    if writer_node_id is None or reader_node_id is None or writer_node_id == reader_node_id:
        return "shm"
    return "mailbox"


def open_channel(
    dtype: np.dtype,
    *,
    reader_node_id: str | None,
    writer_node_id: str | None = None,
    transport: Transport = "auto",
    label: str = "",
) -> LatestWriter:
    """Create a channel's writer in the calling (writer) process; send ``writer.spec`` to the reader.

    ``writer_node_id`` defaults to this process's node. With ``transport="auto"`` the channel
    is shared memory if ``reader_node_id`` is the same node (or None), a mailbox otherwise.
    Typical use inside the EnvActor::

        writer = open_channel(transition_dtype(11, 3), reader_node_id=learner_node_id)
        return writer.spec  # the driver passes it to the learner: spec.open_reader()
    """
    here = current_node_id()
    writer_node_id = writer_node_id or here
    chosen = choose_transport(writer_node_id, reader_node_id) if transport == "auto" else transport
    if chosen == "shm":
        if here is not None and writer_node_id is not None and writer_node_id != here:
            raise ChannelError(
                f"a shared-memory channel must be created on the writer's node {writer_node_id}, "
                f"but open_channel runs on {here}; call it inside the writer actor"
            )
        return LatestChannel.create(dtype, label=label)
    if chosen == "mailbox":
        if not ray.is_initialized():
            raise ChannelError("the mailbox transport needs Ray: call ray.init() first")
        return MailboxWriter(dtype, node_id=reader_node_id)
    raise ValueError(f"transport must be 'auto', 'shm' or 'mailbox', got {transport!r}")

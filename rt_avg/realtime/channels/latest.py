"""``LatestChannel``: a one-writer, many-reader latest-value channel in POSIX shared memory.

Segment layout (little endian; see docs/channels.md for why it is safe without fences)::

    header (128 B): magic "RTAVGCH1" | version u32 | slots u32 | slot_size u64
                    | record_size u64 | creator_pid u64 | dtype_fingerprint u32 | ...
                    | @64: head_seq i64 (seq of the last published record, 0 = none)
    slot i (slot_size B, 64-aligned), at 128 + i * slot_size:
                    seq_begin i64 | checksum u64 | record (record_size B) | seq_end i64

Record ``seq`` lives in slot ``seq % slots``. The writer packs the record straight into its
slot, computes the record's 64-bit checksum (xxh3_64, which runs at memory speed), stores the
checksum and ``seq`` at both ends of the slot, then stores ``head_seq``. A reader loads
``head_seq``, copies the slot into private memory and accepts the copy only if
``seq_begin == seq_end == record.seq == expected`` and the checksum of the copied record
matches the copied checksum; otherwise it retries. Acceptance depends only on the bytes it copied, never on the order in
which the writer's stores became visible, which is what makes it correct on weakly ordered
CPUs (ARM) where pure Python cannot issue memory fences.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import xxhash

from rt_avg.realtime.channels import segment
from rt_avg.realtime.channels.protocol import ChannelError, Record
from rt_avg.realtime.channels.record import RecordPacker, check_user_dtype, dtype_fingerprint, record_dtype, unpack_record

MAGIC = b"RTAVGCH1"
VERSION = 2  # 2: xxh3_64 checksum written in place (1: crc32 of a staged copy)
HEADER_BYTES = 128
HEAD_SEQ_OFFSET = 64
SLOT_PREFIX_BYTES = 16  # seq_begin i64, checksum u64
DEFAULT_SLOTS = 4

_HEADER = struct.Struct("<8sIIQQQI")
_I64 = struct.Struct("<q")
_SLOT_PREFIX = struct.Struct("<qQ")

#: The record checksum: 64-bit xxh3, tens of GB/s on x86_64 (SSE2/AVX2) and aarch64 (NEON).
checksum = xxhash.xxh3_64_intdigest

#: ``wait_newer`` defaults: spin this long before sleeping, then poll every ``sleep_s``.
DEFAULT_SPIN_S = 200e-6
DEFAULT_SLEEP_S = 100e-6


def _round_up(n: int, k: int) -> int:
    return (n + k - 1) // k * k


@dataclass(frozen=True)
class ChannelSpec:
    """Everything a reader needs to attach: picklable, a few hundred bytes."""

    name: str
    dtype: np.dtype
    slots: int

    def open_reader(self) -> LatestChannel:
        return LatestChannel.attach(self)


class LatestChannel:
    """One shared-memory latest-value channel; the object returned by ``create`` is the writer.

    ``create`` returns the writer (which owns the segment and can also read); ``attach``
    returns a read-only reader. Use ``with`` or ``close()``; the writer's segment is also
    unlinked at GC and at interpreter exit, exactly once. Neither end is thread-safe.
    """

    def __init__(self, mapping: segment.MappedSegment, dtype: np.dtype, slots: int, owned: segment.OwnedSegment | None):
        self._mapping = mapping
        self._owned = owned
        self._buf = mapping.buf
        self._dtype = dtype
        self._rec_dtype = record_dtype(dtype)
        self._slots = slots
        self._record_size = self._rec_dtype.itemsize
        self._seq_end_offset = SLOT_PREFIX_BYTES + _round_up(self._record_size, 8)
        self._slot_size = _round_up(self._seq_end_offset + 8, 64)
        self._closed = False
        self._seq = 0
        #: the writer's packers, one per slot, each filling its slot in place
        self._packers: list[RecordPacker] | None = None
        #: the torn-read protection; only the stress test turns it off, to show it is needed
        self._verify_checksum = True
        #: copies that failed validation and were retried (raced with the writer); not errors
        self.rejected_copies = 0
        #: ``read_latest`` raises ``ChannelError`` after retrying this long without a valid copy
        self.retry_timeout_s = 1.0

    # ----------------------------------------------------------------- construction

    @classmethod
    def create(
        cls,
        dtype: np.dtype,
        *,
        label: str = "",
        slots: int = DEFAULT_SLOTS,
        prefix: str = segment.DEFAULT_PREFIX,
    ) -> LatestChannel:
        """Create a segment for records of ``dtype`` and return its writer.

        The name is ``<prefix>_<pid>_[<label>_]<random>``. ``slots`` >= 3 lets a reader
        take up to ``slots - 1`` write periods to copy a record before it must retry; 1 and 2
        are allowed (tests use 1 to force races) but make readers retry under fast writers.
        """
        check_user_dtype(dtype)
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        rec_size = record_dtype(dtype).itemsize
        slot_size = _round_up(SLOT_PREFIX_BYTES + _round_up(rec_size, 8) + 8, 64)
        owned = segment.OwnedSegment(segment.make_name(prefix, label), HEADER_BYTES + slots * slot_size)
        _HEADER.pack_into(
            owned.buf, 0, MAGIC, VERSION, slots, slot_size, rec_size, owned.creator_pid, dtype_fingerprint(dtype)
        )
        ch = cls(segment.attach(owned.name, writable=True), dtype, slots, owned)
        ch._packers = [RecordPacker(dtype, ch._buf, ch._slot_offset(i) + SLOT_PREFIX_BYTES) for i in range(slots)]
        return ch

    @classmethod
    def attach(cls, spec: ChannelSpec) -> LatestChannel:
        """Attach a read-only reader in the calling process (no resource-tracker registration)."""
        check_user_dtype(spec.dtype)
        try:
            mapping = segment.attach(spec.name)
        except FileNotFoundError:
            raise ChannelError(
                f"shared-memory segment {spec.name!r} not found: the writer has closed it, or the "
                "reader runs on another machine or container (use the Ray mailbox transport there)"
            ) from None
        try:
            magic, version, slots, slot_size, rec_size, _pid, fp = _HEADER.unpack_from(mapping.buf, 0)
        except struct.error:
            mapping.close()
            raise ChannelError(f"segment {spec.name!r} is too small to be a channel") from None
        ch = cls(mapping, spec.dtype, spec.slots, None)
        problems = []
        if magic != MAGIC or version != VERSION:
            problems.append(f"magic/version {magic!r}/{version}, expected {MAGIC!r}/{VERSION}")
        if (slots, slot_size, rec_size) != (spec.slots, ch._slot_size, ch._record_size):
            problems.append(f"geometry {(slots, slot_size, rec_size)} != {(spec.slots, ch._slot_size, ch._record_size)}")
        if fp != dtype_fingerprint(spec.dtype):
            problems.append("record dtype differs from the writer's")
        if problems:
            ch.close()
            raise ChannelError(f"segment {spec.name!r} does not match its spec: " + "; ".join(problems))
        return ch

    # ----------------------------------------------------------------- properties

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def record_dtype(self) -> np.dtype:
        """``dtype`` with ``seq`` and ``write_time_ns`` in front: the dtype of returned records."""
        return self._rec_dtype

    @property
    def spec(self) -> ChannelSpec:
        return ChannelSpec(self._mapping.name, self._dtype, self._slots)

    @property
    def name(self) -> str:
        return self._mapping.name

    @property
    def is_writer(self) -> bool:
        return self._owned is not None

    @property
    def last_seq(self) -> int:
        """The seq of the newest published record (0 if none); for the writer, its last write."""
        return self._seq if self._owned is not None else self._head()

    # ----------------------------------------------------------------- writing

    def write(self, record: Any = None, /, **fields: Any) -> int:
        """Publish a record; return its seq. Never blocks. See ``LatestWriter.write``."""
        t_ns = time.monotonic_ns()
        if self._packers is None:
            if self._closed:
                raise ChannelError(f"channel {self.name!r} is closed")
            raise ChannelError("this end was attached as a reader; only the creator may write")
        seq = self._seq + 1
        # In place: a reader copying this slot meanwhile gets a mix of the old and the new
        # record, which its checksum test rejects (docs/channels.md: no ordering is assumed).
        rec = self._packers[seq % self._slots].pack(record, fields, seq, t_ns)
        off = self._slot_offset(seq % self._slots)
        buf = self._buf
        _SLOT_PREFIX.pack_into(buf, off, seq, checksum(rec))
        _I64.pack_into(buf, off + self._seq_end_offset, seq)
        _I64.pack_into(buf, HEAD_SEQ_OFFSET, seq)
        self._seq = seq
        return seq

    # ----------------------------------------------------------------- reading

    def _slot_offset(self, slot: int) -> int:
        return HEADER_BYTES + slot * self._slot_size

    def _head(self) -> int:
        return _I64.unpack_from(self._buf, HEAD_SEQ_OFFSET)[0]

    def _try_slot(self, seq: int) -> Record | None:
        off = self._slot_offset(seq % self._slots)
        copy = bytearray(self._buf[off : off + self._seq_end_offset + 8])
        begin, want = _SLOT_PREFIX.unpack_from(copy, 0)
        if begin != seq or _I64.unpack_from(copy, self._seq_end_offset)[0] != seq:
            return None
        if _I64.unpack_from(copy, SLOT_PREFIX_BYTES)[0] != seq:
            return None
        if self._verify_checksum:
            with memoryview(copy)[SLOT_PREFIX_BYTES : SLOT_PREFIX_BYTES + self._record_size] as body:
                if checksum(body) != want:
                    return None
        return unpack_record(self._rec_dtype, copy, SLOT_PREFIX_BYTES)

    def read_latest(self, after_seq: int = -1) -> Record | None:
        """Copy of the newest complete record with ``seq > after_seq``; ``None`` if there is none.

        Tries the slot ``head_seq`` names, then the older slots still in the ring, and
        re-reads ``head_seq`` until a copy validates. Raises ``ChannelError`` if nothing
        validates for ``retry_timeout_s`` (the writer laps this reader: use more slots).
        """
        if self._closed:
            raise ChannelError(f"channel {self.name!r} is closed")
        after_seq = max(after_seq, 0)
        deadline = None
        while True:
            head = self._head()
            if head <= after_seq:
                return None
            for seq in range(head, max(after_seq, head - max(self._slots - 1, 1)), -1):
                rec = self._try_slot(seq)
                if rec is not None:
                    return rec
                self.rejected_copies += 1
            # nothing valid: the slots are being overwritten or not yet visible to this CPU
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.retry_timeout_s
            elif now > deadline:
                raise ChannelError(
                    f"no consistent record in {self.name!r} for {self.retry_timeout_s} s (head_seq={head}); "
                    "the writer laps this reader, create the channel with more slots"
                )

    def wait_newer(
        self,
        after_seq: int,
        timeout_s: float,
        *,
        spin_s: float = DEFAULT_SPIN_S,
        sleep_s: float = DEFAULT_SLEEP_S,
    ) -> Record | None:
        """Wait up to ``timeout_s`` for a record with ``seq > after_seq``; ``None`` on timeout.

        Polls ``head_seq`` in a busy loop for ``spin_s`` (wake-up latency ~1 us, one core busy),
        then sleeps ``sleep_s`` between polls (latency ~``sleep_s`` + the OS timer slack,
        50 us by default on Linux; almost no CPU). ``spin_s=timeout_s`` spins throughout;
        ``spin_s=0`` never spins.
        """
        rec = self.read_latest(after_seq)
        if rec is not None or timeout_s <= 0:
            return rec
        now = time.monotonic()
        deadline = now + timeout_s
        spin_until = now + min(spin_s, timeout_s)
        while True:
            if self._head() > after_seq:
                rec = self.read_latest(after_seq)
                if rec is not None:
                    return rec
            now = time.monotonic()
            if now >= deadline:
                return None
            if now >= spin_until:
                time.sleep(min(sleep_s, deadline - now))

    # ----------------------------------------------------------------- lifecycle

    def unlink(self) -> None:
        """Writer only: remove the segment's name now (attached readers keep working, new
        attaches fail). Unlinking once every reader has attached leaves nothing behind
        even if the writer is later killed. Idempotent."""
        if self._owned is None:
            raise ChannelError("only the creator may unlink a channel")
        self._owned.unlink()

    def close(self) -> None:
        """Reader: unmap. Writer: unlink (if not done) and unmap. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._packers = None  # their views into the mapping must go before it is unmapped
        self._mapping.close()
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> LatestChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        role = "writer" if self.is_writer else "reader"
        return f"LatestChannel({self.name!r}, {role}, slots={self._slots}, record_bytes={self._record_size})"

    def __reduce__(self) -> Any:
        raise TypeError("LatestChannel is bound to its process; send channel.spec to readers instead")


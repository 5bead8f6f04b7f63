"""Processes for the channel tests, run as ``python -c`` subprocesses (not multiprocessing
children, so each has its own resource tracker, as a Ray worker does) or via spawn.

``python -c "<BOOT>" MODE SPEC_B64 [ARGS...]``; results are printed as one JSON line.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import sys
import time
import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from rt_avg.realtime.channels import ChannelSpec, LatestChannel, list_segments

HERE = os.path.dirname(os.path.abspath(__file__))
BOOT = f"import sys; sys.path.insert(0, {HERE!r}); import channel_workers; channel_workers.main(sys.argv[1:])"


def command(mode: str, *args: object) -> list[str]:
    return [sys.executable, "-c", BOOT, mode, *map(str, args)]


def encode_spec(spec: ChannelSpec) -> str:
    return base64.b64encode(pickle.dumps(spec)).decode()


def decode_spec(text: str) -> ChannelSpec:
    return pickle.loads(base64.b64decode(text))


# ----------------------------------------------------------------- self-checking records


def stress_dtype(k: int) -> np.dtype:
    return np.dtype([("a", np.int64), ("b", np.float64, (k,)), ("c", np.uint32, (k,))])


def stress_fields(seq: int, k: int) -> dict:
    """Every field is a function of ``seq``, so a reader can check a record on its own."""
    ar = np.arange(k, dtype=np.uint64)
    return {
        "a": 3 * seq,
        "b": seq + ar.astype(np.float64),
        "c": ((np.uint64(seq) * np.uint64(7) + ar) & np.uint64(0xFFFFFFFF)).astype(np.uint32),
    }


def is_consistent(rec: np.void, k: int) -> bool:
    seq = int(rec["seq"])
    want = stress_fields(seq, k)
    return (
        seq >= 1
        and int(rec["a"]) == want["a"]
        and np.array_equal(rec["b"], want["b"])
        and np.array_equal(rec["c"], want["c"])
    )


def stress_read(spec: ChannelSpec, k: int, n_reads: int, time_limit_s: float, verify: bool = True) -> dict:
    """Read until ``n_reads`` records (or the time limit); check each one and the seq order.

    ``verify=False`` switches the reader's checksum test off (the seq words are still
    checked), to show that the checksum is what keeps torn records out.
    """
    reader = LatestChannel.attach(spec)
    reader._verify_checksum = verify
    reads = torn = not_monotonic = 0
    last_seq = 0
    last_t = 0
    deadline = time.monotonic() + time_limit_s
    while reads < n_reads and time.monotonic() < deadline:
        rec = reader.read_latest(last_seq)
        if rec is None:
            continue
        reads += 1
        seq, t = int(rec["seq"]), int(rec["write_time_ns"])
        if not is_consistent(rec, k):
            torn += 1
        if seq <= last_seq or t < last_t:
            not_monotonic += 1
        last_seq, last_t = seq, t
    out = {"reads": reads, "torn": torn, "not_monotonic": not_monotonic, "rejected": reader.rejected_copies,
           "last_seq": last_seq, "pid": os.getpid()}
    reader.close()
    return out


def spawn_stress_read(spec: ChannelSpec, k: int, n_reads: int, time_limit_s: float, verify: bool, queue) -> None:
    queue.put(stress_read(spec, k, n_reads, time_limit_s, verify))


# ----------------------------------------------------------------- modes


def main(argv: list[str]) -> None:
    mode, rest = argv[0], argv[1:]
    if mode == "stress":  # SPEC K N_READS TIME_LIMIT VERIFY(0/1)
        out = stress_read(decode_spec(rest[0]), int(rest[1]), int(rest[2]), float(rest[3]), rest[4] == "1")
    elif mode == "once":  # SPEC: attach, read the newest record, exit normally
        reader = LatestChannel.attach(decode_spec(rest[0]))
        rec = reader.read_latest()
        out = {"seq": None if rec is None else int(rec["seq"])}
        reader.close()
    elif mode == "spin":  # SPEC: attach, announce, read forever (to be killed)
        reader = LatestChannel.attach(decode_spec(rest[0]))
        print(json.dumps({"ready": True}), flush=True)
        seen = 0
        while True:
            rec = reader.read_latest(seen)
            if rec is not None:
                seen = int(rec["seq"])
    elif mode == "naive_attach":  # NAME: the pre-3.13 stdlib way, to show the trap is real
        from multiprocessing import shared_memory

        shm = shared_memory.SharedMemory(name=rest[0])
        shm.close()
        out = {"attached": True}
    elif mode == "writer":  # PREFIX K: create, announce the spec, write forever (to be killed)
        k = int(rest[1])
        writer = LatestChannel.create(stress_dtype(k), prefix=rest[0], label="crash")
        seq = writer.write(stress_fields(1, k))
        print(json.dumps({"spec": encode_spec(writer.spec), "seq": seq}), flush=True)
        while True:
            writer.write(stress_fields(writer.last_seq + 1, k))
            time.sleep(1e-4)
    elif mode == "exit":  # PREFIX: create, write, exit normally without closing
        writer = LatestChannel.create(stress_dtype(1), prefix=rest[0])
        writer.write(stress_fields(1, 1))
        out = {"name": writer.name}
    elif mode == "fork":  # PREFIX: a forked child exiting normally must not unlink the parent's segment
        writer = LatestChannel.create(stress_dtype(1), prefix=rest[0])
        pid = os.fork()
        if pid == 0:
            sys.exit(0)  # runs atexit, hence the writer's finalizer, in the child
        os.waitpid(pid, 0)
        exists = os.path.exists(f"/dev/shm/{writer.name}")
        writer.close()
        out = {"exists_after_child_exit": exists, "exists_after_close": os.path.exists(f"/dev/shm/{writer.name}")}
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(out), flush=True)


# ----------------------------------------------------------------- fixtures (imported by the test modules)


@pytest.fixture
def shm_prefix() -> Iterator[str]:
    """A prefix private to one test; fails the test if a segment with it is left behind."""
    prefix = "rtavgt" + uuid.uuid4().hex[:8]
    yield prefix
    left = list_segments(prefix)
    for name in left:  # do not leak into the next test or the machine
        os.unlink(os.path.join("/dev/shm", name))
    assert not left, f"segments left behind: {left}"

"""``rt-avg bench channel``: cross-process write-to-read latency of ``LatestChannel``.

The calling process writes records at a fixed pace; a spawned reader process spins on
``read_latest`` and records ``time.monotonic_ns() - rec["write_time_ns"]`` for every new
record it sees. The latency therefore includes the whole ``write`` call (packing in place,
checksum), the cache-line transfer, and the reader's copy, validation and unpack.

Beside the weights, the writer times a plain copy of as many bytes (``np.copyto`` between two
private buffers) in the same loop, under the same conditions: same CPU, each copy after the
same idle period as each write. After an idle period the CPU's private caches no longer hold
the data (a core that sleeps may flush them), so this copy is slower than one repeated back to
back; the back-to-back figure is reported too (``copy_hot``).

Writer and reader are pinned to two different CPUs when there are two, as they should be on a
robot: sharing one core adds a context switch (~10 us) to every record.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from rt_avg.realtime.channels.latest import ChannelSpec, LatestChannel
from rt_avg.realtime.channels.record import transition_dtype, weights_dtype

HOPPER_OBS_DIM = 11
HOPPER_ACT_DIM = 3
#: about the size of a Hopper AVG actor (two hidden layers of 256) flattened
HOPPER_ACTOR_PARAMS = 70_000
_WARMUP = 50
_HOT_COPIES = 200


def cpus() -> list[int]:
    """The CPUs this process may run on (empty where the OS cannot tell)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _timed_ns(fn) -> int:
    t0 = time.monotonic_ns()
    fn()
    return time.monotonic_ns() - t0


def _reader_main(spec: ChannelSpec, last_seq: int, conn: Connection, cpu: int | None = None) -> None:
    _pin(cpu)
    reader = LatestChannel.attach(spec)
    latencies, reads = [], []
    seen = 0
    conn.send("ready")
    while seen < last_seq:
        t0 = time.monotonic_ns()
        rec = reader.read_latest(seen)
        if rec is None:
            continue
        t1 = time.monotonic_ns()
        latencies.append(t1 - int(rec["write_time_ns"]))
        reads.append(t1 - t0)
        seen = int(rec["seq"])
    reader.close()
    conn.send((np.asarray(latencies, dtype=np.int64), np.asarray(reads, dtype=np.int64)))
    conn.close()


@dataclass
class Samples:
    """Microseconds per record: ``latency`` (write start to record in the reader's hands),
    ``write`` and ``read`` (the two calls alone), ``copy`` (a plain copy of the record's
    bytes in the writer's loop; empty unless asked for) and ``copy_hot`` (back to back)."""

    latency: np.ndarray
    write: np.ndarray
    read: np.ndarray
    copy: np.ndarray
    copy_hot: np.ndarray


def measure_latency_us(dtype: np.dtype, fields: dict, n: int, period_s: float, pin: bool = True,
                       with_copy: bool = False) -> Samples:
    """Write ``n`` records, sleeping ``period_s`` after each, and collect the reader's latencies.

    ``with_copy``: after each write's sleep, also time a plain copy of the record's bytes and
    sleep ``period_s`` again, so the copy runs under the same conditions as the write.
    """
    ctx = mp.get_context("spawn")
    all_cpus = cpus()
    pinned = pin and len(all_cpus) >= 2
    total = n + _WARMUP
    with LatestChannel.create(dtype, label="bench") as writer:
        src = np.random.default_rng(1).integers(0, 255, writer.record_dtype.itemsize, dtype=np.uint8)
        dst = np.empty_like(src)
        copy = lambda: np.copyto(dst, src)  # noqa: E731
        parent, child = ctx.Pipe()
        reader_cpu = all_cpus[-1] if pinned else None
        proc = ctx.Process(target=_reader_main, args=(writer.spec, total, child, reader_cpu), daemon=True)
        proc.start()
        writes, copies = np.zeros(total, np.int64), np.zeros(total if with_copy else 0, np.int64)
        try:
            if pinned:
                _pin(all_cpus[-2])
            if not parent.poll(60) or parent.recv() != "ready":
                raise RuntimeError("benchmark reader did not start")
            for i in range(total):
                writes[i] = _timed_ns(lambda: writer.write(**fields))
                time.sleep(period_s)  # sleeping, not spinning, leaves a core to the reader
                if with_copy:
                    copies[i] = _timed_ns(copy)
                    time.sleep(period_s)
            hot = np.array([_timed_ns(copy) for _ in range(_HOT_COPIES)]) if with_copy else np.zeros(0)
            if not parent.poll(60):
                raise RuntimeError("benchmark reader did not finish")
            lat_ns, read_ns = parent.recv()
        finally:
            if pinned:
                os.sched_setaffinity(0, all_cpus)
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
    skip = _WARMUP if len(lat_ns) > _WARMUP else 0  # the reader may have skipped records
    return Samples(lat_ns[skip:] / 1e3, writes[_WARMUP:] / 1e3, read_ns[skip:] / 1e3,
                   copies[_WARMUP:] / 1e3, hot / 1e3)


def _p(name: str, us: np.ndarray) -> dict[str, float]:
    return {f"{name}_us_p50": float(np.percentile(us, 50)), f"{name}_us_p99": float(np.percentile(us, 99))}


def bench_channel(n: int = 20000, *, pin: bool = True) -> dict:
    """p50/p99 write-to-read latency (us) of a Hopper transition and of Hopper-size actor
    weights, next to a plain copy of the weights' bytes.

    Transitions: ``n`` records, with a 50 us sleep after each (about 110 us on Linux with
    its default timer slack). Weights (~280 KB): ``max(100, n // 20)`` records, 1 ms apart,
    each followed by a timed plain copy of as many bytes and another 1 ms. Takes about
    ``n * 300 us`` plus two process start-ups. ``pin`` puts writer and reader on two
    different CPUs (when there are two); the result says whether they were.
    Keys: ``transition_us_p50/p99``, ``weights_us_p50/p99`` (and the ``weights_write`` and
    ``weights_read`` calls alone), ``copy_us_p50/p99``, ``copy_hot_us_p50/p99``, and
    ``weights_over_copy_p50`` (``weights_us_p50 / copy_us_p50``).
    """
    rng = np.random.default_rng(0)
    t_dtype = transition_dtype(HOPPER_OBS_DIM, HOPPER_ACT_DIM)
    t_fields = {
        "obs": rng.standard_normal(HOPPER_OBS_DIM),
        "action": rng.standard_normal(HOPPER_ACT_DIM),
        "eps": rng.standard_normal(HOPPER_ACT_DIM),
        "reward": 1.0,
        "next_obs": rng.standard_normal(HOPPER_OBS_DIM),
        "policy_version": 7,
    }
    w_dtype = weights_dtype(HOPPER_ACTOR_PARAMS)
    w_fields = {"version": 7, "env_step": 123,
                "values": rng.standard_normal(HOPPER_ACTOR_PARAMS).astype(np.float32)}
    t = measure_latency_us(t_dtype, t_fields, n, period_s=50e-6, pin=pin)
    w = measure_latency_us(w_dtype, w_fields, max(100, n // 20), period_s=1e-3, pin=pin, with_copy=True)
    out = {
        **_p("transition", t.latency),
        "transition_received": int(len(t.latency)),
        "transition_bytes": int(t_dtype.itemsize + 16),
        **_p("weights", w.latency),
        **_p("weights_write", w.write),
        **_p("weights_read", w.read),
        "weights_received": int(len(w.latency)),
        "weights_bytes": int(w_dtype.itemsize + 16),
        **_p("copy", w.copy),
        **_p("copy_hot", w.copy_hot),
        "pinned": bool(pin and len(cpus()) >= 2),
    }
    out["weights_over_copy_p50"] = out["weights_us_p50"] / out["copy_us_p50"]
    return out

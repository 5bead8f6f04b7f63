"""Cross-process write-to-read latency of ``LatestChannel`` (wired to ``rt-avg bench channel``).

The calling process writes records at a fixed pace; a spawned reader process spins on
``read_latest`` and records ``time.monotonic_ns() - rec["write_time_ns"]`` for every new
record it sees. The latency therefore includes the whole ``write`` call (packing, crc32,
copy into the slot), the cache-line transfer, and the reader's copy, validation and unpack.
Writer and reader are pinned to two different CPUs when there are two, as they should be on a
robot: sharing one core adds a context switch (~10 us) to every record.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from multiprocessing.connection import Connection

import numpy as np

from rt_avg.channels.latest import ChannelSpec, LatestChannel
from rt_avg.channels.record import transition_dtype, weights_dtype

HOPPER_OBS_DIM = 11
HOPPER_ACT_DIM = 3
#: about the size of a Hopper AVG actor (two hidden layers of 256) flattened
HOPPER_ACTOR_PARAMS = 70_000
_WARMUP = 50


def _cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _reader_main(spec: ChannelSpec, last_seq: int, conn: Connection, cpu: int | None = None) -> None:
    _pin(cpu)
    reader = LatestChannel.attach(spec)
    latencies = []
    seen = 0
    conn.send("ready")
    while seen < last_seq:
        rec = reader.read_latest(seen)
        if rec is None:
            continue
        latencies.append(time.monotonic_ns() - int(rec["write_time_ns"]))
        seen = int(rec["seq"])
    reader.close()
    conn.send(np.asarray(latencies, dtype=np.int64))
    conn.close()


def measure_latency_us(dtype: np.dtype, fields: dict, n: int, period_s: float, pin: bool = True) -> np.ndarray:
    """Write ``n`` records, sleeping ``period_s`` after each, and return the reader's latencies in microseconds."""
    ctx = mp.get_context("spawn")
    cpus = _cpus()
    pinned = pin and len(cpus) >= 2
    with LatestChannel.create(dtype, label="bench") as writer:
        parent, child = ctx.Pipe()
        reader_cpu = cpus[-1] if pinned else None
        proc = ctx.Process(target=_reader_main, args=(writer.spec, n + _WARMUP, child, reader_cpu), daemon=True)
        proc.start()
        try:
            if pinned:
                _pin(cpus[-2])
            if not parent.poll(60) or parent.recv() != "ready":
                raise RuntimeError("benchmark reader did not start")
            for _ in range(n + _WARMUP):
                writer.write(**fields)
                time.sleep(period_s)  # sleeping, not spinning, leaves a core to the reader
            if not parent.poll(60):
                raise RuntimeError("benchmark reader did not finish")
            lat_ns = parent.recv()
        finally:
            if pinned:
                os.sched_setaffinity(0, cpus)
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
    return lat_ns[_WARMUP:] / 1e3 if len(lat_ns) > _WARMUP else lat_ns / 1e3


def bench_channel(n: int = 20000, *, pin: bool = True) -> dict:
    """p50/p99 write-to-read latency (us) of a Hopper transition and of Hopper-size actor weights.

    Transitions: ``n`` records, with a 50 us sleep after each (about 110 us on Linux with
    its default timer slack). Weights (~280 KB): ``max(100, n // 20)`` records, 1 ms apart.
    Takes about ``n * 200 us`` plus two process start-ups. ``pin`` puts writer and reader
    on two different CPUs (when there are two); the result says whether they were.
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
    w_fields = {"version": 7, "values": rng.standard_normal(HOPPER_ACTOR_PARAMS).astype(np.float32)}
    n_w = max(100, n // 20)
    t_us = measure_latency_us(t_dtype, t_fields, n, period_s=50e-6, pin=pin)
    w_us = measure_latency_us(weights_dtype(HOPPER_ACTOR_PARAMS), w_fields, n_w, period_s=1e-3, pin=pin)
    return {
        "transition_us_p50": float(np.percentile(t_us, 50)),
        "transition_us_p99": float(np.percentile(t_us, 99)),
        "transition_received": int(len(t_us)),
        "transition_bytes": int(t_dtype.itemsize + 16),
        "weights_us_p50": float(np.percentile(w_us, 50)),
        "weights_us_p99": float(np.percentile(w_us, 99)),
        "weights_received": int(len(w_us)),
        "weights_bytes": int(weights_dtype(HOPPER_ACTOR_PARAMS).itemsize + 16),
        "pinned": bool(pin and len(_cpus()) >= 2),
    }

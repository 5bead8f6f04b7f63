"""Ray baselines for ``rt-avg bench channel``: an actor call round trip and the mailbox latency."""

from __future__ import annotations

import time

import numpy as np
import ray

from rt_avg.actors.mailbox import MailboxWriter
from rt_avg.realtime.channels import transition_dtype

_WARMUP = 50


@ray.remote(num_cpus=0)
class _Echo:
    def ping(self, x: bytes) -> bytes:
        return x


def _pcts(name: str, us: np.ndarray) -> dict:
    return {f"{name}_us_p50": float(np.percentile(us, 50)), f"{name}_us_p99": float(np.percentile(us, 99))}


def bench_ray_call(n: int = 2000) -> dict:
    """p50/p99 (us) of ``ray.get(actor.ping.remote(transition_bytes))`` and of a mailbox write->read.

    Starts a local Ray (2 CPUs, no dashboard) if none is running, and stops it again.
    Keys: ``ray_call_us_p50/p99`` (one actor call round trip with a Hopper transition as
    argument and result) and ``mailbox_us_p50/p99`` (``write`` then ``wait_newer`` from the
    same process: latency from ``write_time_ns`` to the decoded record).
    """
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        dtype = transition_dtype(11, 3)
        payload = bytes(dtype.itemsize + 16)
        echo = _Echo.remote()
        call_ns = []
        for i in range(n + _WARMUP):
            t0 = time.perf_counter_ns()
            ray.get(echo.ping.remote(payload))
            if i >= _WARMUP:
                call_ns.append(time.perf_counter_ns() - t0)
        ray.kill(echo)

        writer = MailboxWriter(dtype)
        reader = writer.spec.open_reader()
        box_ns = []
        for i in range(n + _WARMUP):
            seq = writer.write(reward=float(i))
            rec = reader.wait_newer(seq - 1, timeout_s=5.0)
            if rec is None:
                raise RuntimeError("mailbox did not deliver within 5 s")
            if i >= _WARMUP:
                box_ns.append(time.monotonic_ns() - int(rec["write_time_ns"]))
        writer.close()
        return {
            **_pcts("ray_call", np.asarray(call_ns) / 1e3),
            **_pcts("mailbox", np.asarray(box_ns) / 1e3),
        }
    finally:
        if started:
            ray.shutdown()

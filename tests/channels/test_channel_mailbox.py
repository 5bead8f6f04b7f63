"""The Ray side: the mailbox fallback, the transport choice, and shared memory between Ray actors."""

from __future__ import annotations

import os
import signal
import sys
import threading

import numpy as np
import pytest
from helpers import HANG_S, process_start, wait_for

ray = pytest.importorskip("ray")

from rt_avg.actors.mailbox import (  # noqa: E402
    MailboxSpec,
    MailboxWriter,
    choose_transport,
    current_node_id,
    open_channel,
)
from rt_avg.actors.local_ray import SYSTEM_CONFIG  # noqa: E402
from rt_avg.realtime.channels import (  # noqa: E402
    LatestChannel,
    LatestReader,
    LatestWriter,
    list_segments,
    transition_dtype,
)

DTYPE = transition_dtype(11, 3)
OTHER_NODE = "ab" * 28  # a well-formed node id that no node has

# the actor classes below must reach Ray workers, which cannot import this test module
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def ray_runtime():
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, _system_config=SYSTEM_CONFIG, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


def test_choose_transport() -> None:
    assert choose_transport("n1", "n1") == "shm"
    assert choose_transport("n1", "n2") == "mailbox"
    assert choose_transport(None, "n2") == "shm"  # no Ray: one machine
    assert choose_transport("n1", None) == "shm"


@pytest.mark.ray
def test_mailbox_semantics(ray_runtime) -> None:
    writer = MailboxWriter(DTYPE)
    assert isinstance(writer, LatestWriter)
    reader = writer.spec.open_reader()
    assert isinstance(reader, LatestReader)
    assert reader.read_latest() is None
    assert reader.wait_newer(0, timeout_s=0.05) is None
    s1 = writer.write(reward=1.0, obs=np.arange(11.0))
    s2 = writer.write(reward=2.0)
    assert (s1, s2) == (1, 2)
    rec = reader.wait_newer(1, timeout_s=HANG_S)
    assert int(rec["seq"]) == 2 and rec["reward"] == 2.0 and np.all(rec["obs"] == 0.0)
    assert reader.read_latest(2) is None
    assert int(reader.read_latest(0)["seq"]) == 2
    rec["reward"] = 5.0  # a private, writable copy

    timer = threading.Timer(0.1, lambda: writer.write(reward=3.0))
    timer.start()
    rec = reader.wait_newer(2, timeout_s=HANG_S)  # the write wakes it, not the timeout
    timer.join()
    assert rec is not None and rec["reward"] == 3.0
    writer.close()


@ray.remote(num_cpus=0)
class _Reader:
    """Opens any ``ReaderSpec`` inside a Ray worker."""

    def __init__(self, spec) -> None:
        self.reader = spec.open_reader()

    def pids(self) -> list[int]:
        """This worker and its children (a resource tracker, if anything started one)."""
        from rt_avg.bench.footprint import process_tree

        return process_tree(os.getpid())

    def wait(self, after_seq: int, timeout_s: float):
        rec = self.reader.wait_newer(after_seq, timeout_s)
        return None if rec is None else (int(rec["seq"]), float(rec["reward"]))


@ray.remote(num_cpus=0)
class _Writer:
    """Creates a channel inside a Ray worker, as the EnvActor does."""

    def __init__(self, reader_node_id: str, writer_node_id: str | None = None) -> None:
        from rt_avg.realtime.channels import transition_dtype

        self.writer = open_channel(
            transition_dtype(11, 3), reader_node_id=reader_node_id, writer_node_id=writer_node_id, label="ray"
        )

    def spec(self):
        return self.writer.spec

    def kind(self) -> str:
        return type(self.writer).__name__

    def write(self, reward: float) -> int:
        return self.writer.write(reward=reward)

    def close(self) -> None:
        self.writer.close()


@pytest.mark.ray
def test_open_channel_picks_shm_on_one_node(ray_runtime) -> None:
    here = current_node_id()
    writer = open_channel(DTYPE, reader_node_id=here)
    assert isinstance(writer, LatestChannel)
    writer.close()
    writer = open_channel(DTYPE, reader_node_id=here, writer_node_id=OTHER_NODE)
    assert isinstance(writer, MailboxWriter) and isinstance(writer.spec, MailboxSpec)
    writer.close()


@pytest.mark.ray
def test_shared_memory_between_ray_actors_survives_reader_exit(ray_runtime) -> None:
    """Ray workers are not multiprocessing children: a reader actor exiting must not unlink."""
    here = current_node_id()
    w = _Writer.remote(here)
    assert ray.get(w.kind.remote()) == "LatestChannel"
    spec = ray.get(w.spec.remote())
    seq = ray.get(w.write.remote(1.0))
    r1 = _Reader.remote(spec)
    assert ray.get(r1.wait.remote(0, HANG_S)) == (seq, 1.0)
    worker, *children = ray.get(r1.pids.remote())
    processes = {p: process_start(p) for p in (worker, *children)}
    # The worker process dies alone (a crash, the OOM killer): a resource tracker it had
    # started would outlive it and unlink what it registered.  (ray.kill would end the
    # worker's whole process group, a tracker with it, and hide that.)
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: all(process_start(p) != t for p, t in processes.items()),
             "the reader's worker process and its children end")
    assert spec.name in list_segments()
    seq = ray.get(w.write.remote(2.0))
    r2 = _Reader.remote(spec)
    assert ray.get(r2.wait.remote(seq - 1, HANG_S)) == (seq, 2.0)
    ray.get(w.close.remote())
    assert spec.name not in list_segments()
    ray.kill(r2)
    ray.kill(w)


@pytest.mark.ray
def test_mailbox_between_ray_actors(ray_runtime) -> None:
    w = _Writer.remote(current_node_id(), OTHER_NODE)  # pretend the reader is elsewhere
    assert ray.get(w.kind.remote()) == "MailboxWriter"
    spec = ray.get(w.spec.remote())
    r = _Reader.remote(spec)
    assert ray.get(r.wait.remote(0, 0.05)) is None
    pending = r.wait.remote(0, HANG_S)
    seq = ray.get(w.write.remote(4.0))
    assert ray.get(pending) == (seq, 4.0)
    ray.kill(r)
    ray.kill(w)


@pytest.mark.ray
def test_bench_ray_call_smoke(ray_runtime) -> None:
    from rt_avg.bench.ray_call import bench_ray_call

    result = bench_ray_call(n=30)
    assert set(result) == {"ray_call_us_p50", "ray_call_us_p99", "mailbox_us_p50", "mailbox_us_p99"}
    assert all(v > 0 for v in result.values())

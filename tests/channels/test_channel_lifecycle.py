"""Segment lifecycle: created and unlinked exactly once, across reader/writer exits and crashes."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import HANG_S, wait_for
from channel_workers import (  # noqa: F401  (shm_prefix is a fixture)
    command,
    decode_spec,
    encode_spec,
    shm_prefix,
    stress_dtype,
    stress_fields,
)

from rt_avg.realtime.channels import LatestChannel, cleanup_stale, list_segments


def _run(mode: str, *args: object) -> dict:
    out = subprocess.run(command(mode, *args), capture_output=True, text=True, timeout=HANG_S)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def writer(shm_prefix: str):
    with LatestChannel.create(stress_dtype(4), prefix=shm_prefix, label="life") as ch:
        ch.write(stress_fields(1, 4))
        yield ch


def test_reader_process_exit_does_not_unlink(writer: LatestChannel, shm_prefix: str) -> None:
    """The resource-tracker trap: a non-child reader that attaches and exits must leave the segment."""
    spec = encode_spec(writer.spec)
    assert _run("once", spec) == {"seq": 1}
    assert writer.name in list_segments(shm_prefix)
    seq = writer.write(stress_fields(2, 4))
    assert _run("once", spec) == {"seq": seq}  # a new reader can still attach and read


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="the stdlib attach no longer registers with track=False")
def test_stdlib_attach_trap_is_real(writer: LatestChannel, shm_prefix: str) -> None:
    """Shows what the untracked attach avoids: SharedMemory(name) in a non-child unlinks at exit."""
    _run("naive_attach", writer.name)
    # its resource tracker outlives it by a moment and then unlinks the segment
    wait_for(lambda: writer.name not in list_segments(shm_prefix), "the tracker unlinks it")
    writer.close()  # unlinking a name already gone is handled


def test_killed_reader_leaves_nothing(writer: LatestChannel, shm_prefix: str) -> None:
    spec = encode_spec(writer.spec)
    proc = subprocess.Popen(command("spin", spec), stdout=subprocess.PIPE, text=True)
    assert json.loads(proc.stdout.readline()) == {"ready": True}
    time.sleep(0.05)  # mid-read
    proc.send_signal(signal.SIGKILL)
    proc.wait(HANG_S)
    proc.stdout.close()
    seq = writer.write(stress_fields(2, 4))
    assert _run("once", spec) == {"seq": seq}
    writer.close()
    assert list_segments(shm_prefix) == []


def test_killed_writer_is_cleaned_up(shm_prefix: str) -> None:
    # stderr kept out of the test log: the killed writer's resource tracker may warn about the
    # segment it cleans up (or finds already removed by cleanup_stale)
    proc = subprocess.Popen(command("writer", shm_prefix, 4), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.poll() is not None else "writer printed nothing"
        spec = json.loads(line)["spec"]
        reader = LatestChannel.attach(decode_spec(spec))
        assert reader.wait_newer(1, timeout_s=HANG_S) is not None  # it is writing
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(HANG_S)
        proc.stdout.close()
        proc.stderr.close()
    last = reader.read_latest()  # the mapping outlives the writer
    assert last is not None and int(last["seq"]) >= 2
    # the writer's own resource tracker may unlink it first; cleanup_stale covers the rest
    wait_for(lambda: not cleanup_stale(shm_prefix) and list_segments(shm_prefix) == [],
             "the dead writer's segment is gone")
    assert reader.read_latest(int(last["seq"])) is None
    reader.close()


def test_cleanup_stale_removes_only_dead_creators(shm_prefix: str) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"{shm_prefix}_{dead.pid}_leftover_0000"
    foreign = f"{shm_prefix}_notapid"
    for name in (stale, foreign):
        open(os.path.join("/dev/shm", name), "wb").close()
    try:
        with LatestChannel.create(stress_dtype(1), prefix=shm_prefix) as live:
            assert cleanup_stale(shm_prefix) == [stale]
            assert list_segments(shm_prefix) == [live.name]
            assert os.path.exists(os.path.join("/dev/shm", foreign))  # not ours to judge
    finally:
        for name in (stale, foreign):
            if os.path.exists(os.path.join("/dev/shm", name)):
                os.unlink(os.path.join("/dev/shm", name))


def test_normal_exit_without_close_unlinks(shm_prefix: str) -> None:
    name = _run("exit", shm_prefix)["name"]
    assert name.startswith(shm_prefix + "_")
    assert list_segments(shm_prefix) == []


def test_forked_child_exit_does_not_unlink(shm_prefix: str) -> None:
    assert _run("fork", shm_prefix) == {"exists_after_child_exit": True, "exists_after_close": False}


def test_gc_unlinks(shm_prefix: str) -> None:
    ch = LatestChannel.create(stress_dtype(1), prefix=shm_prefix)
    name = ch.name
    assert list_segments(shm_prefix) == [name]
    del ch
    gc.collect()
    assert list_segments(shm_prefix) == []


def test_early_unlink_keeps_attached_readers_working(shm_prefix: str) -> None:
    with LatestChannel.create(stress_dtype(1), prefix=shm_prefix) as ch:
        reader = LatestChannel.attach(ch.spec)
        ch.unlink()
        ch.unlink()  # idempotent
        assert list_segments(shm_prefix) == []
        seq = ch.write(stress_fields(1, 1))
        assert int(reader.read_latest()["seq"]) == seq
        reader.close()
    ch.close()  # closing twice is fine

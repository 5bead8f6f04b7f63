"""LatestChannel semantics in one process: records, "nothing new", validation, specs, waiting."""

from __future__ import annotations

import pickle
import threading
import time

import numpy as np
import pytest
from channel_workers import shm_prefix  # noqa: F401  (fixture)
from helpers import HANG_S

from rt_avg.realtime.channels import (
    ChannelError,
    ChannelSpec,
    LatestChannel,
    LatestReader,
    LatestWriter,
    record_dtype,
    transition_dtype,
    weights_dtype,
)
from rt_avg.realtime.channels.latest import HEADER_BYTES, SLOT_PREFIX_BYTES


@pytest.fixture
def channel(shm_prefix: str):
    with LatestChannel.create(transition_dtype(11, 3), prefix=shm_prefix, label="t") as ch:
        yield ch


def test_nothing_new_semantics(channel: LatestChannel) -> None:
    reader = LatestChannel.attach(channel.spec)
    assert reader.read_latest() is None  # nothing ever written
    assert reader.read_latest(-1) is None and reader.read_latest(0) is None
    s1 = channel.write(reward=1.0)
    s2 = channel.write(reward=2.0)
    assert (s1, s2) == (1, 2)
    rec = reader.read_latest()
    assert int(rec["seq"]) == 2 and rec["reward"] == 2.0  # newest, the older one is skipped
    assert reader.read_latest(2) is None  # nothing new since 2
    assert int(reader.read_latest(1)["seq"]) == 2
    assert reader.read_latest(99) is None
    reader.close()


def test_transition_round_trip_is_exact(channel: LatestChannel) -> None:
    rng = np.random.default_rng(1)
    fields = {
        "obs": rng.standard_normal(11),
        "action": rng.standard_normal(3).astype(np.float32),
        "eps": rng.standard_normal(3),
        "reward": -0.1234567890123,
        "next_obs": rng.standard_normal(11),
        "terminated": True,
        "truncated": False,
        "env_step": 12345,
        "episode": 6,
        "policy_version": 41,
        "t_obs_ns": time.monotonic_ns(),
        "t_act_ns": time.monotonic_ns(),
    }
    t0 = time.monotonic_ns()
    channel.write(**fields)
    rec = LatestChannel.attach(channel.spec).read_latest()
    assert rec.dtype == record_dtype(transition_dtype(11, 3))
    for name, value in fields.items():
        np.testing.assert_array_equal(rec[name], value, err_msg=name)
    assert t0 <= int(rec["write_time_ns"]) <= time.monotonic_ns()


def test_record_is_a_private_writable_copy(channel: LatestChannel) -> None:
    channel.write(obs=np.ones(11))
    rec = channel.read_latest()
    rec["obs"][:] = 5.0  # must not touch the channel
    channel.write(obs=np.ones(11))
    assert np.all(channel.read_latest()["obs"] == 1.0)
    assert np.all(rec["obs"] == 5.0)


def test_write_forms_and_zero_fill(channel: LatestChannel) -> None:
    channel.write(obs=np.full(11, 3.0), reward=4.0)
    channel.write(reward=5.0)  # fields not given are zero, not left over
    rec = channel.read_latest()
    assert rec["reward"] == 5.0 and np.all(rec["obs"] == 0.0)
    channel.write({"reward": 6.0, "episode": 2}, episode=3)  # keywords override the mapping
    rec = channel.read_latest()
    assert (rec["reward"], rec["episode"]) == (6.0, 3)
    user = np.zeros((), transition_dtype(11, 3))
    user["reward"] = 7.0
    channel.write(user)
    assert channel.read_latest()["reward"] == 7.0
    seq = channel.write(rec)  # a record read back can be republished; it gets a new seq
    again = channel.read_latest()
    assert int(again["seq"]) == seq and again["episode"] == 3
    with pytest.raises(KeyError, match="unknown field"):
        channel.write(nope=1)
    with pytest.raises(TypeError):
        channel.write(np.zeros((), weights_dtype(3)))


def test_weights_dtype_round_trip(shm_prefix: str) -> None:
    values = np.random.default_rng(2).standard_normal(70_000).astype(np.float32)
    with LatestChannel.create(weights_dtype(70_000), prefix=shm_prefix, slots=1) as ch:
        ch.write(version=9, env_step=1234, values=values)
        rec = ch.spec.open_reader().read_latest()
        assert (rec["version"], rec["env_step"]) == (9, 1234) and rec["values"].dtype == np.float32
        np.testing.assert_array_equal(rec["values"], values)
        ch.write(version=10, values=values[::-1])  # in place over the previous record: nothing left over
        rec = ch.read_latest()
        assert (rec["version"], rec["env_step"]) == (10, 0)
        np.testing.assert_array_equal(rec["values"], values[::-1])
    with pytest.raises(ValueError, match="n must be >= 1"):
        weights_dtype(0)


def test_spec_pickles_and_attaches(channel: LatestChannel) -> None:
    spec = pickle.loads(pickle.dumps(channel.spec))
    assert spec == channel.spec and isinstance(spec, ChannelSpec)
    assert len(pickle.dumps(spec)) < 2000
    channel.write(reward=1.5)
    assert spec.open_reader().read_latest()["reward"] == 1.5
    with pytest.raises(TypeError, match="spec"):
        pickle.dumps(channel)


def test_protocols(channel: LatestChannel) -> None:
    assert isinstance(channel, LatestWriter)
    assert isinstance(LatestChannel.attach(channel.spec), LatestReader)


def test_reader_cannot_write_or_unlink(channel: LatestChannel) -> None:
    reader = LatestChannel.attach(channel.spec)
    with pytest.raises(ChannelError, match="reader"):
        reader.write(reward=1.0)
    with pytest.raises(ChannelError, match="creator"):
        reader.unlink()
    with pytest.raises(TypeError):  # the mapping is read-only at the OS level too
        reader._buf[0] = 0


def test_bad_dtypes_and_specs(channel: LatestChannel) -> None:
    with pytest.raises(TypeError):
        LatestChannel.create(np.dtype(np.float32))
    with pytest.raises(ValueError, match="reserved"):
        LatestChannel.create(np.dtype([("seq", np.int64)]))
    with pytest.raises(TypeError, match="objects"):
        LatestChannel.create(np.dtype([("x", object)]))
    with pytest.raises(ValueError):
        transition_dtype(0, 3)
    wrong = ChannelSpec(channel.name, transition_dtype(11, 4), channel.spec.slots)
    with pytest.raises(ChannelError, match="does not match"):
        LatestChannel.attach(wrong)
    with pytest.raises(ChannelError, match="not found"):
        LatestChannel.attach(ChannelSpec("rtavg_1_nonexistent", transition_dtype(11, 3), 4))


def _slot_offset(ch: LatestChannel, seq: int) -> int:
    return HEADER_BYTES + (seq % ch._slots) * ch._slot_size


def test_corrupt_or_torn_slot_is_rejected(channel: LatestChannel, shm_prefix: str) -> None:
    """The reader's validation, exercised deterministically by damaging slots in place."""
    channel.write(reward=1.0)  # seq 1
    channel.write(reward=2.0)  # seq 2, the head
    reader = LatestChannel.attach(channel.spec)
    reader.retry_timeout_s = 0.01
    buf = channel._buf
    head = _slot_offset(channel, 2)
    payload = head + SLOT_PREFIX_BYTES + 40  # a byte inside the user fields

    buf[payload] ^= 0xFF  # payload bit flips: checksum mismatch -> fall back to seq 1
    rec = reader.read_latest()
    assert int(rec["seq"]) == 1 and rec["reward"] == 1.0
    assert reader.rejected_copies > 0
    with pytest.raises(ChannelError, match="no consistent record"):
        reader.read_latest(1)  # only the damaged record is newer: retried, never returned
    buf[payload] ^= 0xFF
    assert int(reader.read_latest()["seq"]) == 2

    # a torn copy: the first half of the slot from seq 2, the second half from another
    # record of the same seq (as if the writer's stores became visible out of order)
    other = np.zeros((), channel.dtype)
    other["reward"] = 99.0
    channel2 = LatestChannel.create(channel.dtype, prefix=shm_prefix)
    try:
        channel2.write(reward=98.0)
        channel2.write(other)
        src = _slot_offset(channel2, 2)
        half = channel._slot_size // 2
        buf[head + half : head + channel._slot_size] = channel2._buf[src + half : src + channel._slot_size]
        rec = reader.read_latest()
        assert int(rec["seq"]) == 1  # same seq at both ends, but the checksum catches it
    finally:
        channel2.close()


def test_slot_not_yet_visible_returns_older_or_none(channel: LatestChannel) -> None:
    from rt_avg.realtime.channels.latest import _I64, HEAD_SEQ_OFFSET

    channel.write(reward=1.0)
    reader = LatestChannel.attach(channel.spec)
    reader.retry_timeout_s = 0.01
    _I64.pack_into(channel._buf, HEAD_SEQ_OFFSET, 2)  # head published before slot 2 is visible
    assert int(reader.read_latest()["seq"]) == 1  # the newest complete record
    with pytest.raises(ChannelError):
        reader.read_latest(1)  # a reader that has seq 1 keeps retrying for seq 2
    _I64.pack_into(channel._buf, HEAD_SEQ_OFFSET, 1)


def test_wait_newer_timeout_and_wakeup(channel: LatestChannel) -> None:
    reader = LatestChannel.attach(channel.spec)
    t0 = time.monotonic()
    assert reader.wait_newer(0, timeout_s=0.05) is None
    # It waits out its timeout; 200 times the timeout would be a unit slip, not a busy machine.
    assert 0.045 <= time.monotonic() - t0 < 10.0
    assert reader.wait_newer(0, timeout_s=0) is None

    timer = threading.Timer(0.02, lambda: channel.write(reward=3.0))
    timer.start()
    rec = reader.wait_newer(0, timeout_s=HANG_S)  # the write wakes it, not the timeout
    timer.join()
    assert rec is not None and rec["reward"] == 3.0
    assert int(reader.wait_newer(0, timeout_s=0.0)["seq"]) == 1  # already there: no wait


def test_closed_channel_refuses(channel: LatestChannel) -> None:
    reader = LatestChannel.attach(channel.spec)
    reader.close()
    reader.close()  # idempotent
    with pytest.raises(ChannelError, match="closed"):
        reader.read_latest()


@pytest.mark.slow
def test_bench_channel_smoke() -> None:
    from rt_avg.bench.channel import bench_channel

    result = bench_channel(n=300)
    for name in ("transition", "weights", "weights_write", "weights_read", "copy", "copy_hot"):
        assert 0 < result[f"{name}_us_p50"] <= result[f"{name}_us_p99"], result
    assert result["transition_received"] > 0 and result["weights_received"] > 0
    assert result["weights_over_copy_p50"] == result["weights_us_p50"] / result["copy_us_p50"]

"""Record layouts: user payload dtypes, the stamped record dtype, and packing/unpacking.

The channel stores a *record*: ``seq`` (int64) and ``write_time_ns`` (int64) followed by the
user's structured dtype, byte for byte (its offsets and padding are kept).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from rt_avg.realtime.channels.protocol import RESERVED_FIELDS, Record
from rt_avg.core import Transition

#: Bytes taken by ``seq`` and ``write_time_ns`` in front of the user fields.
STAMP_BYTES = 16
_STAMP = struct.Struct("<qq")


def transition_dtype(
    obs_dim: int, act_dim: int, *, float_dtype: np.dtype | type = np.float64
) -> np.dtype:
    """Layout of one environment transition, as the EnvActor publishes it to the learner.

    Floats default to float64 so that a transition crosses the channel bit-exactly whatever
    the environment returns (MuJoCo observations are float64); ``sequential`` mode then
    reproduces ``inline`` exactly. float32 actions/noise are stored exactly in float64.

    Fields: ``obs``/``next_obs`` (obs_dim), ``action``/``eps`` (act_dim; ``eps`` is the
    policy's sampling noise), ``reward``, ``terminated``, ``truncated`` (bool),
    ``env_step`` and ``episode`` (counters), ``policy_version`` (version of the weights that
    acted), ``t_obs_ns`` (observation received) and ``t_act_ns`` (action sent), both
    ``time.monotonic_ns()``.
    """
    if obs_dim < 1 or act_dim < 1:
        raise ValueError(f"obs_dim and act_dim must be >= 1, got obs_dim={obs_dim}, act_dim={act_dim}")
    f = np.dtype(float_dtype)
    if f.kind != "f":
        raise ValueError(f"float_dtype must be a floating dtype, got {f}")
    return np.dtype(
        [
            ("obs", f, (obs_dim,)),
            ("action", f, (act_dim,)),
            ("eps", f, (act_dim,)),
            ("reward", np.float64),
            ("next_obs", f, (obs_dim,)),
            ("terminated", np.bool_),
            ("truncated", np.bool_),
            ("env_step", np.int64),
            ("episode", np.int64),
            ("policy_version", np.int64),
            ("t_obs_ns", np.int64),
            ("t_act_ns", np.int64),
        ],
        align=True,
    )


def transition_fields(t: Transition) -> dict[str, Any]:
    """The fields of :func:`transition_dtype` that hold ``t`` (the writer adds the counters
    ``env_step`` and ``episode`` and the stamps ``t_obs_ns`` and ``t_act_ns``)."""
    return {"obs": t.obs, "action": t.action, "eps": t.eps, "reward": t.reward,
            "next_obs": t.next_obs, "terminated": t.terminated, "truncated": t.truncated,
            "policy_version": -1 if t.policy_version is None else t.policy_version}


def transition_from_record(rec: Record) -> Transition:
    """The :class:`~rt_avg.core.Transition` a :func:`transition_dtype` record holds, with
    float32 arrays as learners take them (float32 values cross the float64 fields exactly)."""
    version = int(rec["policy_version"])
    return Transition(rec["obs"].astype(np.float32), rec["action"].astype(np.float32),
                      rec["eps"].astype(np.float32), float(rec["reward"]),
                      rec["next_obs"].astype(np.float32), bool(rec["terminated"]),
                      bool(rec["truncated"]), None if version < 0 else version)


def weights_dtype(n: int) -> np.dtype:
    """Layout of the policy weights the learner publishes to the env.

    Fields: ``version`` (int64, the learner's update count when published), ``env_step``
    (int64, the env step of the last transition the learner used) and ``values`` (n float32,
    the flattened policy parameters).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return np.dtype([("version", np.int64), ("env_step", np.int64), ("values", np.float32, (n,))], align=True)


def record_dtype(user: np.dtype) -> np.dtype:
    """The stamped record dtype: ``seq``, ``write_time_ns``, then ``user``'s fields at the same relative offsets."""
    check_user_dtype(user)
    names = [*RESERVED_FIELDS, *user.names]
    formats = [np.int64, np.int64, *(user.fields[n][0] for n in user.names)]
    offsets = [0, 8, *(STAMP_BYTES + user.fields[n][1] for n in user.names)]
    return np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": STAMP_BYTES + user.itemsize}
    )


def check_user_dtype(user: np.dtype) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``user`` is a plain structured dtype the channel can carry."""
    if not isinstance(user, np.dtype) or user.names is None:
        raise TypeError(f"dtype must be a numpy structured dtype (with named fields), got {user!r}")
    if user.hasobject:
        raise TypeError("dtype must not contain Python objects: the record is copied as raw bytes")
    clash = set(RESERVED_FIELDS) & set(user.names)
    if clash:
        raise ValueError(f"field names {sorted(clash)} are reserved for the channel's own stamps")


def dtype_fingerprint(user: np.dtype) -> int:
    """A 32-bit fingerprint of a layout, stored in the segment so a mismatched reader is refused."""
    return zlib.crc32(repr(np.lib.format.dtype_to_descr(record_dtype(user))).encode())


class RecordPacker:
    """Fills a record in a caller-owned buffer (the writer's staging area).

    The buffer region ``[offset, offset + record_dtype(user).itemsize)`` is owned by the packer.
    """

    def __init__(self, user: np.dtype, buffer: bytearray | memoryview, offset: int = 0) -> None:
        self.user = user
        self.rec_dtype = record_dtype(user)
        self.size = self.rec_dtype.itemsize
        self._buffer = buffer
        self._offset = offset
        self._rec = np.ndarray((), self.rec_dtype, buffer=buffer, offset=offset)
        self._user = np.ndarray((), user, buffer=buffer, offset=offset + STAMP_BYTES)
        self._views = {name: self._rec[name] for name in user.names}  # cached: 2x faster assignment
        self._zeros = bytes(user.itemsize)
        self._names = frozenset(user.names)
        self.view = memoryview(buffer)[offset : offset + self.size]

    def pack(self, record: Any, fields: Mapping[str, Any], seq: int, write_time_ns: int) -> memoryview:
        """Fill the record and return a view of its bytes (valid until the next ``pack``)."""
        if isinstance(record, Mapping):
            fields = {**record, **fields}
            record = None
        if record is not None:
            dt = getattr(record, "dtype", None)
            if dt == self.user:
                self._user[...] = record
            elif dt == self.rec_dtype:
                self._rec[...] = record
            else:
                raise TypeError(f"record must be a mapping or have the channel's dtype {self.user}, got {dt}")
        elif self._names.difference(fields):
            self.view[STAMP_BYTES:] = self._zeros
        views = self._views
        for name, value in fields.items():
            view = views.get(name)
            if view is None:
                raise KeyError(f"unknown field {name!r}; fields are {sorted(self._names)}")
            view[...] = value
        _STAMP.pack_into(self._buffer, self._offset, seq, write_time_ns)
        return self.view


def unpack_record(rec_dtype: np.dtype, data: bytearray | bytes, offset: int = 0) -> Record:
    """A structured scalar viewing ``data`` at ``offset`` (pass a private copy: no copy is made)."""
    return np.frombuffer(data, rec_dtype, count=1, offset=offset)[0]

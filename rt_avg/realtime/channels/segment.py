"""POSIX shared-memory segments: naming, owned creation, untracked attach, stale cleanup.

Lifecycle rules (see docs/channels.md):

* A segment is created by exactly one process, whose pid is in its name:
  ``<prefix>_<pid>_[<label>_]<random>``; only that process unlinks it (explicitly, from a
  ``weakref.finalize`` that also runs at interpreter exit, or through the creator's
  ``multiprocessing`` resource tracker if the creator is killed).
* Readers attach *without* registering with the resource tracker. On Python < 3.13
  ``SharedMemory(name)`` registers every attacher, and the tracker of an attaching process
  that is not a ``multiprocessing`` child (a Ray worker, a ``python -c`` subprocess) unlinks
  the segment when that process exits (CPython gh-82300). Registering and then unregistering
  is not a fix either: the tracker's cache is a set shared by a process tree, so the
  attacher's unregister would drop the creator's entry.
* ``cleanup_stale`` removes leftovers of creators that died without cleaning up.
"""

from __future__ import annotations

import mmap
import os
import re
import secrets
import sys
import weakref
from multiprocessing import resource_tracker, shared_memory
from typing import Protocol

SHM_DIR = "/dev/shm"
_PREFIX_RE = re.compile(r"^[A-Za-z0-9-]+$")
PREFIX_ENV = "RT_AVG_SHM_PREFIX"


def _default_prefix() -> str:
    """``rtavg``, or ``$RT_AVG_SHM_PREFIX``: a namespace for the segments of the runs started
    with it (and their crash cleanup, which only looks at its own prefix).  A test suite sets
    its own, so that another rt-avg run on the machine never cleans up its segments before
    the suite looks for them."""
    prefix = os.environ.get(PREFIX_ENV, "rtavg")
    if not _PREFIX_RE.match(prefix):
        raise ValueError(f"{PREFIX_ENV} must match {_PREFIX_RE.pattern} (letters, digits and "
                         f"'-'; no '_' or '/'), got {prefix!r}")
    return prefix


DEFAULT_PREFIX = _default_prefix()
_LABEL_RE = re.compile(r"^[A-Za-z0-9_-]*$")


class MappedSegment(Protocol):
    """A mapped segment: ``buf`` is a memoryview of the whole segment."""

    name: str
    buf: memoryview

    def close(self) -> None: ...


def make_name(prefix: str = DEFAULT_PREFIX, label: str = "") -> str:
    """A fresh segment name carrying the calling process's pid (for ``cleanup_stale``)."""
    if not _PREFIX_RE.match(prefix):
        raise ValueError(f"prefix must match {_PREFIX_RE.pattern} (no '_' or '/'), got {prefix!r}")
    if not _LABEL_RE.match(label):
        raise ValueError(f"label must match {_LABEL_RE.pattern}, got {label!r}")
    parts = [prefix, str(os.getpid()), *([label] if label else []), secrets.token_hex(4)]
    name = "_".join(parts)
    if len(name) > 200:
        raise ValueError(f"segment name too long ({len(name)} chars); shorten the label")
    return name


def creator_pid(name: str, prefix: str = DEFAULT_PREFIX) -> int | None:
    """The creator pid encoded in ``name``, or ``None`` if ``name`` is not ``<prefix>_<pid>_...``."""
    head = prefix + "_"
    if not name.startswith(head):
        return None
    pid, sep, _ = name[len(head) :].partition("_")
    return int(pid) if sep and pid.isdigit() else None


class OwnedSegment:
    """A segment created by this process; unlinked exactly once (explicitly or at exit/GC).

    The unlink is skipped in a forked child (pid differs), so a fork cannot remove the
    parent's segment. The creator stays registered with its resource tracker, which unlinks
    the segment if the creator is killed (SIGKILL) while its tracker survives.
    """

    def __init__(self, name: str, size: int) -> None:
        self._shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        self.name = name
        self.buf: memoryview = self._shm.buf
        self.creator_pid = os.getpid()
        self._state = {"unlinked": False}
        self._finalizer = weakref.finalize(self, _release, self._shm, self.creator_pid, self._state)

    @property
    def unlinked(self) -> bool:
        return self._state["unlinked"]

    def unlink(self) -> None:
        """Remove the name now; mappings (ours and readers') stay valid. Idempotent."""
        _unlink_once(self._shm, self.creator_pid, self._state)

    def close(self) -> None:
        """Unlink (if not done yet) and unmap. Idempotent; also runs at GC and interpreter exit."""
        self._finalizer()


def _unlink_once(shm: shared_memory.SharedMemory, pid: int, state: dict[str, bool]) -> None:
    if state["unlinked"] or os.getpid() != pid:
        return
    state["unlinked"] = True
    try:
        shm.unlink()
    except FileNotFoundError:  # removed behind our back (rm, a cleanup tool): drop the tracker entry
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]


def _release(shm: shared_memory.SharedMemory, pid: int, state: dict[str, bool]) -> None:
    _unlink_once(shm, pid, state)
    try:
        shm.close()
    except BufferError:  # a view into the segment is still alive; the OS unmaps at exit
        pass


class UntrackedMapping:
    """A mapping of an existing segment (read-only by default), invisible to the resource tracker."""

    def __init__(self, name: str, writable: bool = False) -> None:
        self.name = name
        fd = _shm_open(name, writable)
        try:
            size = os.fstat(fd).st_size
            prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
            self._mmap = mmap.mmap(fd, size, prot=prot)
        finally:
            os.close(fd)
        self.buf: memoryview = memoryview(self._mmap)

    def close(self) -> None:
        """Unmap; if views into the mapping are still alive, it is unmapped when they go."""
        if self._mmap.closed:
            return
        try:
            self.buf.release()
            self._mmap.close()
        except BufferError:
            pass


def _shm_open(name: str, writable: bool) -> int:
    try:
        import _posixshmem  # the C module behind multiprocessing.shared_memory on POSIX
    except ImportError:  # pragma: no cover - non-POSIX
        raise OSError("shared-memory channels need a POSIX system (Linux, macOS)") from None
    return _posixshmem.shm_open("/" + name, os.O_RDWR if writable else os.O_RDONLY, mode=0o600)


def attach(name: str, writable: bool = False) -> MappedSegment:
    """Map an existing segment without registering it with the resource tracker.

    On Python >= 3.13 this is what ``SharedMemory(name, track=False)`` does; we open the
    segment ourselves on every version so the mapping can also be read-only (a reader cannot
    corrupt the channel) and the code path is one. The creator uses ``writable=True`` for a
    second mapping that long-lived views (its record packers) may hold, so that the
    ``SharedMemory`` object itself can always be closed.
    """
    return UntrackedMapping(name, writable)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed but unreaped child is a zombie: its segments are stale
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def list_segments(prefix: str = DEFAULT_PREFIX, shm_dir: str = SHM_DIR) -> list[str]:
    """Names of the segments in ``shm_dir`` that follow ``<prefix>_<pid>_...`` (Linux only)."""
    try:
        names = os.listdir(shm_dir)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if creator_pid(n, prefix) is not None)


def cleanup_stale(prefix: str = DEFAULT_PREFIX, shm_dir: str = SHM_DIR) -> list[str]:
    """Unlink segments named ``<prefix>_<pid>_...`` whose creator pid is dead; return their names.

    Safe to call at any time from any process: a live creator's segments are kept. Limits:
    a dead creator whose pid was reused looks alive (kept, removed on a later call), and a
    creator in another pid namespace sharing ``/dev/shm`` looks dead, so do not share
    ``/dev/shm`` across containers with the same prefix. Linux only (needs ``/dev/shm``);
    elsewhere it returns ``[]``.
    """
    if not sys.platform.startswith("linux"):
        return []
    removed = []
    for name in list_segments(prefix, shm_dir):
        pid = creator_pid(name, prefix)
        if pid is None or pid == os.getpid() or _pid_alive(pid):
            continue
        try:
            os.unlink(os.path.join(shm_dir, name))
        except FileNotFoundError:  # its resource tracker got there first
            continue
        removed.append(name)
    return removed

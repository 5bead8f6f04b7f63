"""Clean up after a driver that was killed without a chance to (SIGKILL, the OOM killer).

The driver of a real-time run starts this as a small process of its own
(``python -m rt_avg.realtime.reaper``, in a session of its own so a Ctrl-C meant for the
driver does not reach it) and keeps the write end of its stdin; nothing else holds it.
The driver writes lines:

    session <dir>   the session directory of the Ray runtime the driver started
    ray <dir>       where the ray package is installed
    done            the driver shut down cleanly: exit, touching nothing

End of input without ``done`` means the driver is gone.  Ray ends its GCS and raylet with
the driver (the kernel's parent-death signal) and the workers follow the raylet, but its
agents keep running for about a minute, and the shared-memory segments of actors killed
that way stay in /dev/shm.  So the reaper sends SIGKILL to every process of this user that
is one of Ray's (its command line is ``ray::...`` or runs a program from the ray package)
and holds a file in the session directory (all of that session's do: their logs; someone's
``tail -f`` of a log does not qualify), waits until they are gone, and then unlinks the segments whose creator is dead
(``rt_avg.realtime.channels.cleanup_stale``).  It imports nothing heavy until then: it costs a few
MB for the length of the run.
"""

from __future__ import annotations

import os
import signal
import sys
import time

_PROC = "/proc"


def _holds_file_in(pid: int, directory: str) -> bool:
    fd_dir = f"{_PROC}/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"{fd_dir}/{fd}").startswith(directory):
                return True
        except OSError:
            continue
    return False


def _is_ray(pid: int, package_dir: str) -> bool:
    try:
        with open(f"{_PROC}/{pid}/cmdline", "rb") as f:
            cmdline = f.read().decode(errors="replace")
    except OSError:
        return False
    return cmdline.startswith("ray::") or package_dir in cmdline


def session_processes(session_dir: str, package_dir: str) -> list[int]:
    """Pids of this user's Ray processes (see the module doc) of ``session_dir``."""
    prefix = session_dir.rstrip("/") + "/"
    package_dir = package_dir.rstrip("/") + "/"
    me, uid = os.getpid(), os.getuid()
    found = []
    for name in os.listdir(_PROC):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            if os.stat(f"{_PROC}/{name}").st_uid != uid:
                continue
        except OSError:
            continue
        if _is_ray(int(name), package_dir) and _holds_file_in(int(name), prefix):
            found.append(int(name))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"  # a zombie holds nothing
    except (OSError, IndexError):
        return False


def reap(session_dir: str | None, package_dir: str, wait_s: float = 10.0
         ) -> tuple[int, list[str]]:
    """Kill the session's processes, wait for them, unlink dead creators' segments.

    Returns (processes killed, segments removed)."""
    killed: set[int] = set()
    deadline = time.monotonic() + wait_s
    while session_dir is not None:
        fresh = [p for p in session_processes(session_dir, package_dir) if p not in killed]
        if not fresh and not any(_alive(p) for p in killed):
            break
        for pid in fresh:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    from rt_avg.realtime.channels import cleanup_stale  # numpy and the rest only now

    return len(killed), cleanup_stale()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and tells us
    given: dict[str, str] = {}
    for line in sys.stdin:
        word, _, arg = line.strip().partition(" ")
        if word == "done":
            return 0
        if word in ("session", "ray") and arg:
            given[word] = arg
    n, segments = reap(given.get("session"), given.get("ray", "/ray/"))
    if n or segments:
        print(f"rt-avg: the driver died; ended {n} Ray processes and removed "
              f"{len(segments)} shared-memory segments", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

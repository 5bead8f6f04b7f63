"""The Ray runtime of a real-time run: a lean local one on loopback that leaves nothing
behind when the driver dies, or a cluster the user asked to join.

A local runtime (``init_ray()`` without an address) is a head node that runs only what a
run on one machine uses: the GCS, the raylet (which starts its two agents and the
workers).  Ray's ``ray.init()`` would add the dashboard head (with the dashboard off it
still runs a usage-stats module), the autoscaler monitor and the log monitor, about 150 MB
together (docs/realtime.md, "Memory").  Without a log monitor, the driver copies what its
actors print to the terminal itself (``rt_avg.actors.worker_output``).  Further:

* every server binds to 127.0.0.1.  Ray replaces a loopback node address by the machine's
  outward one unless its "no cluster" switch is set (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``,
  read when ray is imported); the switch is flipped while the runtime starts.
* the processes end with the driver: Ray ties the GCS and the raylet to it with the
  kernel's parent-death signal, and ``rt_avg.realtime.reaper`` ends the rest and unlinks
  the channels' shared memory if the driver is killed.

Joining a cluster (``--address``) changes nothing there: the user's cluster, the user's
network settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ray

LOOPBACK = "127.0.0.1"

#: Ray runs its workers at niceness 15 by default, below every ordinary process: the env's
#: control loop would yield to anything else on the machine.
SYSTEM_CONFIG = {"worker_niceness": 0}

_head: Any = None  # the ray._private.node.Node this process started, if any
_reaper: subprocess.Popen | None = None


@contextmanager
def _loopback_only() -> Iterator[None]:
    from ray._private import ray_constants

    saved = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    if saved is not None:  # (tests/realtime/test_local_ray.py notices if Ray moved it)
        ray_constants.ENABLE_RAY_CLUSTER = False  # services.get_node_ip_address -> 127.0.0.1
    try:
        yield
    finally:
        if saved is not None:
            ray_constants.ENABLE_RAY_CLUSTER = saved


def _start_lean_head(num_cpus: int, resources: dict[str, float]) -> Any:
    """A head node without dashboard head, autoscaler monitor and log monitor (Ray's own
    ``Node``, as ``ray.init`` and ``ray.cluster_utils.Cluster`` start it)."""
    from ray._private.node import Node
    from ray._private.parameter import RayParams

    class LeanHead(Node):
        def start_api_server(self, *, include_dashboard: bool | None,
                             raise_on_failure: bool) -> None:
            return None  # the dashboard head: nothing a real-time run uses

    params = RayParams(node_ip_address=LOOPBACK, num_cpus=num_cpus, resources=resources,
                       include_dashboard=False,
                       no_monitor=True, include_log_monitor=False,
                       _system_config=SYSTEM_CONFIG)
    # spawn_reaper: with kernel fate-sharing (Linux) the processes die with this one.
    return LeanHead(params, head=True, shutdown_at_exit=False, spawn_reaper=True)


def init_ray(address: str | None = None, num_cpus: int | None = None,
             resources: dict[str, float] | None = None) -> bool:
    """Join ``address`` or start a local Ray (see the module doc); True if this call did.
    ``resources``: custom resources of a local Ray (this machine is tethered to the robot)."""
    global _head
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if address:
        ray.init(address=address, logging_level="WARNING", log_to_driver=True)
        return True
    num_cpus = num_cpus or max(2, os.cpu_count() or 2)
    with _loopback_only():
        try:
            _head = _start_lean_head(num_cpus, dict(resources or {}))
        except (ImportError, AttributeError, TypeError):  # Ray's internals moved: plain Ray
            _head = None
        if _head is not None:
            try:
                ray.init(address=_head.address, logging_level="WARNING", log_to_driver=False)
            except BaseException:
                _head.kill_all_processes(check_alive=False, allow_graceful=False)
                _head = None
                raise
        else:
            ray.init(address="local", num_cpus=num_cpus, resources=resources,
                     include_dashboard=False,
                     logging_level="WARNING", log_to_driver=True, _system_config=SYSTEM_CONFIG)
    _start_reaper()
    return True


def worker_logs_dir() -> Path | None:
    """Where the actors' output goes when nothing copies it to the driver (a lean local
    runtime: no log monitor); None otherwise."""
    return Path(_head.get_logs_dir_path()) if _head is not None else None


def shutdown_ray() -> None:
    """Disconnect, stop the local runtime this process started, dismiss the reaper."""
    global _head
    ray.shutdown()
    if _head is not None:
        _head.destroy_external_storage()
        _head.kill_all_processes(check_alive=False, allow_graceful=True, wait=True)
        _head = None
    _dismiss_reaper()


def helper_pids() -> list[int]:
    """Processes the driver started besides Ray's (the reaper)."""
    return [_reaper.pid] if _reaper is not None and _reaper.poll() is None else []


def _session_dir() -> str | None:
    if _head is not None:
        return _head.get_session_dir_path()
    try:
        return ray._private.worker._global_node.get_session_dir_path()
    except AttributeError:  # nothing to find the session's processes by: segments only
        return None


def _start_reaper() -> None:
    global _reaper
    _dismiss_reaper()  # of an earlier runtime of this process, stopped by ray.shutdown()
    _reaper = subprocess.Popen([sys.executable, "-m", "rt_avg.realtime.reaper"],
                               stdin=subprocess.PIPE, start_new_session=True)
    lines = [f"ray {os.path.dirname(ray.__file__)}"]
    if session_dir := _session_dir():
        lines.append(f"session {session_dir}")
    _reaper.stdin.write(("\n".join(lines) + "\n").encode())
    _reaper.stdin.flush()


def _dismiss_reaper() -> None:
    global _reaper
    if _reaper is not None:
        try:
            _reaper.communicate(b"done\n", timeout=10)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            _reaper.kill()
        _reaper = None

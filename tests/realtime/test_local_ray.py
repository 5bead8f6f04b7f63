"""The local Ray runtime of a real-time run: loopback only, only the processes it needs,
workers at the driver's priority, and nothing left once it is shut down."""

import os
import socket
import sys

import pytest
import ray

from rt_avg.actors.local_ray import helper_pids, init_ray, shutdown_ray
from rt_avg.bench.footprint import process_tree

pytestmark = [pytest.mark.ray, pytest.mark.skipif(not sys.platform.startswith("linux"),
                                                   reason="/proc")]

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
NOT_NEEDED = ("dashboard/dashboard.py", "autoscaler/_private/monitor.py", "log_monitor.py")


def _address(hex_addr):
    """/proc/net/tcp{,6} "ADDR:PORT" (hex, host byte order per 32-bit word) -> IP text."""
    ip = bytes.fromhex(hex_addr.split(":")[0])
    words = b"".join(ip[i:i + 4][::-1] for i in range(0, len(ip), 4))
    return socket.inet_ntop(socket.AF_INET if len(ip) == 4 else socket.AF_INET6, words)


def listening(pids):
    """{pid: [listening IP, ...]} from /proc (TCP, IPv4 and IPv6)."""
    by_inode = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.readlines()[1:]:
                cols = row.split()
                if cols[3] == "0A":  # LISTEN
                    by_inode[cols[9]] = _address(cols[1])
    out = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in by_inode:
                out.setdefault(pid, []).append(by_inode[link[8:-1]])
    return out


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_local_ray_listens_on_loopback_only_and_starts_only_what_it_needs():
    assert init_ray(num_cpus=1), "another test left Ray running"
    try:
        @ray.remote(num_cpus=0)
        class Probe:
            def pid_and_niceness(self):
                return os.getpid(), os.nice(0)

        actor_pid, niceness = ray.get(Probe.remote().pid_and_niceness.remote())
        assert niceness == os.nice(0)  # not Ray's default of 15 below everything else
        ours = [p for p in process_tree(os.getpid()) if p != os.getpid()]
        assert actor_pid in ours and helper_pids()
        addresses = listening(ours)
        servers = {_cmdline(p).split()[0].rsplit("/", 1)[-1] for p in addresses}
        assert {"gcs_server", "raylet"} <= servers, servers  # the test sees the servers
        assert all(ip in LOOPBACK for ips in addresses.values() for ip in ips), addresses
        assert not [c for p in ours if any(n in (c := _cmdline(p)) for n in NOT_NEEDED)]
    finally:
        shutdown_ray()
    left = [p for p in process_tree(os.getpid()) if p != os.getpid()]
    assert not [_cmdline(p) for p in left if "ray" in _cmdline(p)]
    assert not helper_pids()

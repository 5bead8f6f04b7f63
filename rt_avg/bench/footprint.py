"""Memory footprint of a run: the sum of PSS over the processes it started, by role.

PSS (proportional set size) charges each process its private pages plus its share of the
pages it maps together with others (a shared library mapped by four processes counts a
quarter in each), so the PSS of a group of processes adds up to the memory the group
really holds; summed RSS would count shared libraries once per process.  Read from
``/proc/<pid>/smaps_rollup`` (Linux 4.14 and later); elsewhere every figure is 0.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from typing import Any

_PROC = "/proc"


def pss_kb(pid: int) -> int:
    """PSS of one process in KiB; 0 when it is gone or unreadable."""
    try:
        with open(f"{_PROC}/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _parents() -> dict[int, int]:
    """pid -> parent pid for every process visible in /proc."""
    out: dict[int, int] = {}
    try:
        names = os.listdir(_PROC)
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"{_PROC}/{name}/stat", "rb") as f:
                # the command name (2nd field) may hold spaces and parentheses
                out[int(name)] = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return out


def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants (breadth first); [] when ``root`` is gone."""
    children: dict[int, list[int]] = {}
    parents = _parents()
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    if root not in parents:
        return []
    tree = [root]
    for pid in tree:  # grows while iterating
        tree.extend(children.get(pid, ()))
    return tree


def sum_pss_mb(pids: Iterable[int]) -> float:
    """Sum of PSS in MiB over ``pids`` (each counted once)."""
    return sum(pss_kb(p) for p in set(pids)) / 1024


def by_role(roles: Mapping[str, Collection[int]]) -> dict[str, Any]:
    """Footprint of groups of processes: ``{"total_mb", "roles_mb": {role: MiB},
    "processes": {role: count}}``; a pid listed under two roles counts for the first."""
    seen: set[int] = set()
    roles_mb: dict[str, float] = {}
    counts: dict[str, int] = {}
    for role, pids in roles.items():
        own = [p for p in dict.fromkeys(pids) if p not in seen]
        seen.update(own)
        roles_mb[role] = round(sum_pss_mb(own), 1)
        counts[role] = len(own)
    return {"total_mb": round(sum(roles_mb.values()), 1), "roles_mb": roles_mb,
            "processes": counts}


def tree_footprint(root: int | None = None) -> dict[str, Any]:
    """``root`` (default: this process) and its descendants: ``{"pids", "pss_mb"}``."""
    pids = process_tree(os.getpid() if root is None else root)
    return {"pids": pids, "pss_mb": round(sum_pss_mb(pids), 1)}

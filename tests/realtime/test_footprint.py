"""Memory footprint by role (PSS from /proc), checked against memory a child really holds."""

import os
import subprocess
import sys
import time

import pytest

from rt_avg.bench.footprint import by_role, process_tree, pss_kb, sum_pss_mb, tree_footprint

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc only")

HOLD_MB = 64
# A child that writes to every page of HOLD_MB private bytes, then says so and waits.
HOLDER = (f"import sys, time; b = bytearray({HOLD_MB} << 20); b[::4096] = b'x' * len(b[::4096]); "
          "print('ready', flush=True); time.sleep(60)")


@pytest.fixture
def holder():
    child = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    yield child
    child.kill()
    child.wait()


def test_pss_counts_the_memory_a_process_holds(holder):
    mb = sum_pss_mb([holder.pid])
    assert HOLD_MB <= mb < HOLD_MB + 60  # the bytes it touched, plus an interpreter


def test_tree_and_roles_add_up(holder):
    tree = process_tree(os.getpid())
    assert tree[0] == os.getpid() and holder.pid in tree
    fp = by_role({"parent": [os.getpid()], "child": [holder.pid], "again": [holder.pid]})
    assert fp["processes"] == {"parent": 1, "child": 1, "again": 0}  # counted once
    assert fp["roles_mb"]["child"] >= HOLD_MB and fp["roles_mb"]["again"] == 0
    assert fp["total_mb"] == pytest.approx(sum(fp["roles_mb"].values()))
    mine = tree_footprint()
    assert holder.pid in mine["pids"] and mine["pss_mb"] >= HOLD_MB


def test_a_process_that_is_gone_counts_nothing():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    time.sleep(0.05)
    assert pss_kb(child.pid) == 0 and process_tree(child.pid) == []

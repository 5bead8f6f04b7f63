"""A robot fault that ends a run is one line naming the robot and what to check, not a
traceback (the driver's message says it; the command line must not bury it)."""

import random

import pytest

from helpers import run_cli

pytestmark = pytest.mark.slow


def test_an_unreachable_arm_ends_the_run_with_one_line(tmp_path):
    # a loopback address of this test's own with nothing listening: connections are refused
    host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    res = run_cli("train", "--config", "ur5_reacher2_hardware", "--mode", "inline",
                  "--steps", "20", "--quiet", "--run-dir", str(tmp_path / "run"),
                  "--set", f"env.kwargs.host={host}")
    assert res.returncode == 1, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    (line,) = [x for x in res.stderr.splitlines() if x.startswith("rt-avg:")]
    assert "run failed" in line and host in line, res.stderr

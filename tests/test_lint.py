"""The code passes the project's lint rules (pyproject.toml [tool.ruff])."""

import subprocess
import sys

from helpers import ROOT


def test_ruff_is_clean():
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "rt_avg", "actors", "envs",
                          "tests", "--output-format", "concise"],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr

"""A command that needs a missing extra says which one, in one line, and exits 2."""

import subprocess
import sys

import pytest

from helpers import ROOT

# Runs the CLI with some modules made unimportable, as on an install without the extra.
BLOCKING_CLI = """
import sys

class Missing:
    def find_spec(self, name, path=None, target=None):
        if any(name == m or name.startswith(m + ".") for m in sys.argv[1].split(",")):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Missing())
from rt_avg.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("missing, args, extra", [
    ("pandas", ["sweep", "smoke"], "sweep"),
    ("stable_baselines3", ["train", "--algo", "sac", "--steps", "100", "--quiet"], "baselines"),
])
def test_a_missing_extra_gives_the_install_command(tmp_path, missing, args, extra):
    res = subprocess.run([sys.executable, "-c", BLOCKING_CLI, missing, *args,
                          *(["--sweep-dir", str(tmp_path / "s")] if args[0] == "sweep" else
                            ["--run-dir", str(tmp_path / "run")])],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert lines == [f"rt-avg: error: {missing} is not installed; it comes with rt-avg's "
                     f"'{extra}' extra: pip install 'rt-avg[{extra}]'"], res.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "s").exists()

"""Check that the core's requirements (all but torch, which a robot's computer installs from
its vendor's build, e.g. NVIDIA's for a Jetson) resolve to ready wheels for a Linux ARM
computer, with the tested versions (constraints.txt): nothing to compile on the robot.

    python scripts/check_core_wheels.py [--platform TAG ...] [--python 3.11]

The default platforms are the manylinux tags a Linux ARM computer with glibc 2.28 or newer
installs (a Jetson on JetPack 5 has glibc 2.31, on JetPack 6 2.35): manylinux2014 (glibc
2.17) up to manylinux_2_28.  With ``--platform manylinux2014_aarch64`` alone the tested
versions of numpy, scipy, matplotlib, pandas, mujoco and wandb do not resolve: their ARM
wheels need glibc 2.28.

Runs ``pip install --dry-run --only-binary=:all: --platform ... --target ...`` (it downloads
the wheels' metadata from the package index, installs nothing) and prints one JSON line:
the platform, the requirements checked, whether they resolved, and pip's last lines.
Exit status 0 when they resolved, 1 when not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEFT_OUT = ("torch",)  # installed first, from the platform's own build (README)
ARM_GLIBC_2_28 = ["manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_27_aarch64",
                  "manylinux_2_28_aarch64"]


def core_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [r.split("#")[0].strip() for r in project["dependencies"]]
    return [r for r in names if not r.lower().startswith(LEFT_OUT)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--platform", action="append",
                   help="pip platform tag (repeatable; default: the manylinux tags of a "
                   "glibc 2.28 ARM computer)")
    p.add_argument("--python", default="3.11", help="Python version of the robot's computer")
    args = p.parse_args(argv)
    platforms = args.platform or ARM_GLIBC_2_28
    reqs = core_requirements()
    with tempfile.TemporaryDirectory() as target:
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--only-binary=:all:",
               "--python-version", args.python, "--target", target,
               "-c", str(ROOT / "constraints.txt"), "--disable-pip-version-check",
               *[a for plat in platforms for a in ("--platform", plat)], *reqs]
        res = subprocess.run(cmd, capture_output=True, text=True)
    tail = (res.stdout + res.stderr).strip().splitlines()[-3:]
    print(json.dumps({"platforms": platforms, "python": args.python, "requirements": reqs,
                      "resolved": res.returncode == 0, "pip": tail}))
    return 0 if res.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

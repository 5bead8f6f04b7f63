"""Commands of cluster/README.md, read from its fenced ```bash blocks, for the tests."""

from __future__ import annotations

import json
import re
import shlex

from helpers import ROOT

GUIDE = ROOT / "cluster" / "README.md"


def guide_commands() -> list[list[str]]:
    """Every command line (continuations joined) of the guide's bash blocks, as argv lists."""
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE.read_text(), flags=re.S)
    text = "\n".join(blocks).replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def find(*prefix: str) -> list[list[str]]:
    return [c for c in guide_commands() if c[:len(prefix)] == list(prefix)]


def option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
    return None


def head_resources() -> dict:
    """The custom resources the guide's `ray start --head` gives the robot workstation."""
    (head,) = [c for c in find("ray", "start") if "--head" in c]
    return json.loads(option(head, "--resources"))

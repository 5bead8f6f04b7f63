"""What opening a run directory may import.

``agent.algo`` and ``env.id`` may name a module of one's own (``module.path:NAME``), which
rt-avg imports - and importing a module runs its code.  A run directory can come from
someone else, so a module named in its ``config.yaml`` is imported only when it is part of
rt-avg or the user allows it on the command line: ``--trust-run-dir``, or naming the same
module again (``--set agent.algo=module.path:NAME``).  Checkpoints already refuse code
(:mod:`rt_avg.run.checkpoint`); with this, ``rt-avg eval RUN`` and ``--resume RUN`` are as safe
on a directory from elsewhere as on a checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from rt_avg.core.config import Config, ConfigError

BUILT_IN = "rt_avg"
IMPORTING_FIELDS = ("agent.algo", "env.id")
"""The config fields whose ``module.path:NAME`` form makes rt-avg import the module."""


def module_of(value: str) -> str | None:
    """The module a ``module.path:NAME`` value imports (None for a plain name)."""
    return value.split(":", 1)[0] if ":" in value else None


def is_built_in(module: str) -> bool:
    return module == BUILT_IN or module.startswith(BUILT_IN + ".")


def field_value(cfg: Config, dotted: str) -> str:
    """The value of one of :data:`IMPORTING_FIELDS` (``"agent.algo"``) in ``cfg``."""
    section, name = dotted.split(".")
    return getattr(getattr(cfg, section), name)


def modules_named(values: Iterable[str | None]) -> set[str]:
    """The modules that ``values`` (command-line values of the importing fields) name."""
    return {m for v in values if v and (m := module_of(v)) is not None}


def check_run_dir_imports(cfg: Config, config_path: Path, allowed: set[str],
                          trust: str, name_again: bool) -> None:
    """Raise ConfigError naming the field unless every module ``cfg`` (read from
    ``config_path`` in a run directory) would import is built in or in ``allowed``.  The
    message offers ``trust`` (the command with ``--trust-run-dir``) and, where the command
    takes ``--set`` (``name_again``), naming the module again."""
    for field in IMPORTING_FIELDS:
        value = field_value(cfg, field)
        module = module_of(value)
        if module is None or is_built_in(module) or module in allowed:
            continue
        again = f", or name it again with --set {field}={value}" if name_again else ""
        raise ConfigError(
            f"{field}: {config_path} names {value!r}, which would import the module "
            f"{module!r}. rt-avg does not import a module named in a run directory (importing "
            "runs its code, and the directory may come from someone else) unless it is part "
            f"of rt-avg or you allow it: {trust}{again}. Nothing was imported")

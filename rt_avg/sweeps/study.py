"""``rt-avg study NAME``: the experiments behind three claims, each a sweep on Ray Tune.

- ``buffer-size``: batch SAC, TD3 and PPO at several replay-buffer (PPO: rollout) sizes,
  with AVG at buffer size 1 as a reference: do batch methods fail as the buffer shrinks?
- ``incremental``: AVG, IAC, SAC-1, and SAC and TD3 with a buffer of 1: which incremental
  method learns?
- ``ablation``: AVG (and IAC) over every subset of the three normalisations
  (``agent.normalize_obs``, ``agent.penultimate_norm``, ``agent.scale_td``).

A study file (``configs/studies/<study>-small.yaml``, ``-published.yaml``)::

    study: buffer-size          # buffer-size | incremental | ablation
    base: default               # base config, as in a sweep file
    env: null                   # env.id (null: the base config's)
    steps: 20000                # env steps per run
    seeds: 3
    overrides: {agent.hidden_sizes: [64, 64]}      # every run
    methods: [sac, td3, ppo]    # default: the study's full list
    method_overrides:           # per method, e.g. its published settings
      iac: {agent.actor_lr: 6.0e-5, agent.critic_lr: 8.7e-4}
    sizes: [1, 100, 1000, full] # buffer-size only; full = steps
    resources: {cpu: 1}
    max_concurrent: null

Each method/variant becomes a sweep variant (:mod:`rt_avg.sweeps.spec`), so the trials are
validated, run, retried and resumed like any sweep's; the output folder is the sweep
directory plus ``study.json`` (the study and its variants), the figures and
``summary.json`` (:mod:`rt_avg.analysis.study`).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rt_avg import algos
from rt_avg.core import config as C
from rt_avg.analysis.study import STUDY_FILE
from rt_avg.core.config import ConfigError, value_range
from rt_avg.sweeps import spec as sweep_spec

StudyName = Literal["buffer-size", "incremental", "ablation"]
STUDIES = ("buffer-size", "incremental", "ablation")
METHODS = {"buffer-size": ("sac", "td3", "ppo"),
           "incremental": ("avg", "iac", "sac1", "sac", "td3"),
           "ablation": ("avg", "iac")}
DEFAULT_SIZES = (1, 10, 100, 1000, 10_000, 100_000, "full")
NORMS = (("obs", "agent.normalize_obs"), ("pnorm", "agent.penultimate_norm"),
         ("td", "agent.scale_td"))
"""The three normalisations: short name in variant names, config key."""


@dataclass(frozen=True)
class StudyFile:
    """A study file as written (see the module docstring)."""

    study: StudyName
    steps: int = field(metadata=value_range(1))
    seeds: int = field(metadata=value_range(1, sweep_spec.MAX_SEEDS))
    base: str = sweep_spec.DEFAULT_BASE
    env: str | None = None
    overrides: dict = field(default_factory=dict)
    methods: tuple[str, ...] = ()
    method_overrides: dict = field(default_factory=dict)
    sizes: tuple[int | str, ...] = ()
    resources: sweep_spec.Resources = field(default_factory=sweep_spec.Resources)
    max_concurrent: int | None = field(default=None, metadata=value_range(1))


@dataclass(frozen=True)
class Variant:
    """One line, point or bar of a study's figure: a method with some settings."""

    name: str
    method: str
    overrides: dict[str, Any]
    buffer_size: int | None = None
    """buffer-size study: the replay (PPO: rollout) size; 1 for the AVG reference."""
    norms: tuple[str, ...] | None = None
    """ablation study: the normalisations switched on."""
    reference: bool = False
    """Drawn as a reference line (AVG in the buffer-size study)."""


def parse(data: Any, source: str | None = None) -> StudyFile:
    """Validate a study file's data (ConfigError naming the field)."""
    f = C.build(StudyFile, data, "study")
    allowed = METHODS[f.study]
    for m in f.methods:
        if m not in allowed:
            raise ConfigError(f"study.methods: got {m!r}, allowed for {f.study}: "
                              f"{', '.join(allowed)}")
    for m, values in f.method_overrides.items():
        if m not in allowed or not isinstance(values, dict):
            raise ConfigError(f"study.method_overrides.{m}: expected a method of {f.study} "
                              f"({', '.join(allowed)}) with a mapping of section.key: value")
    if f.sizes and f.study != "buffer-size":
        raise ConfigError(f"study.sizes: only the buffer-size study has sizes, not {f.study}")
    for s in f.sizes:
        if s != "full" and (not isinstance(s, int) or s < 1):
            raise ConfigError(f"study.sizes: got {s!r}, expected buffer sizes >= 1 or 'full'")
    return f


def studies_dir() -> Path:
    return C.config_dir() / "studies"


def load(name_or_path: str | Path) -> StudyFile:
    """A study file by path, or a ready one by name (``buffer-size-small``)."""
    path = C.resolve_ready_file(str(name_or_path), studies_dir(), "--file")
    return parse(C.read_yaml(path), str(path))


def available(method: str) -> bool:
    """Whether the learner ``method`` is installed (the batch ones need SB3)."""
    module = "stable_baselines3" if algos.is_batch(method) else \
        algos.INCREMENTAL[method].split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _sizes(f: StudyFile) -> list[int]:
    sizes = {f.steps if s == "full" else int(s) for s in (f.sizes or DEFAULT_SIZES)}
    return sorted(s for s in sizes if s <= f.steps)


def variants(f: StudyFile) -> list[Variant]:
    """The study's variants, methods in the file's order (learners not installed left out)."""
    methods = [m for m in (f.methods or METHODS[f.study]) if available(m)]
    out: list[Variant] = []

    def add(name: str, method: str, extra: dict[str, Any], **meta: Any) -> None:
        overrides = {"agent.algo": method, **f.method_overrides.get(method, {}), **extra}
        out.append(Variant(name, method, overrides, **meta))

    if f.study == "buffer-size":
        for m, size in itertools.product(methods, _sizes(f)):
            add(f"{m}-b{size}", m, {"batch.buffer_size": size}, buffer_size=size)
        if available("avg"):
            add("avg", "avg", {}, buffer_size=1, reference=True)
    elif f.study == "incremental":
        for m in methods:
            batch = {"batch.buffer_size": 1} if algos.is_batch(m) else {}
            add(f"{m}-b1" if batch else m, m, batch, buffer_size=1 if batch else None)
    else:
        for m in methods:
            for k in range(len(NORMS) + 1):
                for on in itertools.combinations([n for n, _ in NORMS], k):
                    flags = {key: short in on for short, key in NORMS}
                    label = "all" if len(on) == len(NORMS) else "+".join(on) or "none"
                    add(f"{m}-{label}", m, flags, norms=on)
    return out


def sweep_data(name: str, f: StudyFile, vs: list[Variant]) -> dict[str, Any]:
    """The sweep file a study runs (plain data, validated by :func:`sweep_spec.parse`)."""
    overrides = {"run.steps": f.steps, **f.overrides}
    if f.env:
        overrides["env.id"] = f.env
    return {"name": name, "base": f.base, "seeds": f.seeds, "overrides": overrides,
            "variants": {v.name: v.overrides for v in vs},
            "resources": asdict(f.resources), "max_concurrent": f.max_concurrent}


def with_flags(f: StudyFile, args: argparse.Namespace) -> StudyFile:
    """The study file with the command line's --env, --steps, --seeds and --sizes."""
    changes: dict[str, Any] = {}
    if args.env:
        changes["env"] = args.env
    if args.steps is not None:
        changes["steps"] = args.steps
    if args.seeds is not None:
        changes["seeds"] = args.seeds
    if args.sizes:
        if f.study != "buffer-size":
            raise ConfigError(f"--sizes: only the buffer-size study has sizes, not {f.study}")
        changes["sizes"] = [_size_flag(s) for s in args.sizes.split(",")]
    return parse({**asdict(f), **changes})


def _size_flag(text: str) -> int | str:
    text = text.strip()
    if text == "full":
        return text
    try:
        value = float(text)
    except ValueError:
        value = 0.5
    if not value.is_integer():
        raise ConfigError(f"--sizes: got {text!r}, expected buffer sizes (e.g. 1,100,1e4) or "
                          "full")
    return int(value)


def run_study(name: str, args: argparse.Namespace) -> int:
    """``rt-avg study NAME``: run (or continue) the study's trials, then write its figures,
    summary.json and Markdown table.  Exit code as ``rt-avg sweep``."""
    from rt_avg.analysis.study import write_study_report
    from rt_avg.sweeps.tune import run_trials

    f = load(args.file or f"{name}-small")
    if f.study != name:
        raise ConfigError(f"--file: {args.file} is a {f.study} study, not {name}")
    f = with_flags(f, args)
    vs = variants(f)
    missing = [m for m in (f.methods or METHODS[name]) if not available(m)]
    if missing:
        print(f"study {name}: left out (not installed): {', '.join(missing)}", flush=True)
    stem = Path(args.file).stem if args.file else f"{name}-small"
    out = Path(args.out) if args.out else Path("runs") / "studies" / stem
    spec = sweep_spec.parse(sweep_data(f"study-{name}", f, vs))
    trials = sweep_spec.expand(spec)

    def write_study_file() -> None:  # once the sweep directory has accepted the trials
        (out / STUDY_FILE).write_text(json.dumps(
            {"study": asdict(f), "variants": [asdict(v) for v in vs]}, indent=1, default=list))

    code = run_trials(spec, trials, out, args.address, args.num_cpus,
                      summary_hint=f"rt-avg study {name} --out", on_accepted=write_study_file)
    write_study_report(out)
    return code


def add_study_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``rt-avg study``."""
    p.add_argument("name", choices=STUDIES, help="buffer-size: batch SAC/TD3/PPO against the "
                   "buffer size; incremental: AVG, IAC, SAC-1 (and SAC/TD3 at buffer 1); "
                   "ablation: every subset of the three normalisations")
    p.add_argument("--file", help="study file, or the name of a ready one in configs/studies/ "
                   "(default: NAME-small; NAME-published is the cluster budget)")
    p.add_argument("--env", help="env id for every run")
    p.add_argument("--steps", type=int, help="env steps per run")
    p.add_argument("--seeds", type=int, help="seeds per method/variant")
    p.add_argument("--sizes", help="buffer-size: comma-separated sizes, 'full' = --steps "
                   "(default 1,10,100,1000,10000,100000,full)")
    p.add_argument("--out", help="output folder (default runs/studies/<file name>); run the "
                   "same command again to continue an interrupted study")
    sweep_spec.add_cluster_arguments(p)


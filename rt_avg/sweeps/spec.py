"""Sweep files: a base config, a search space and seeds, expanded into trials.

A sweep file (YAML)::

    name: avg-search-hopper        # default: the file name without .yaml
    base: hopper                   # ready config name or path ("default": the built-in
                                   # InvertedPendulum config); a list makes it a grid axis
    seeds: 5                       # 5 -> seeds 0..4, or an explicit list [0, 7, 9]
    overrides:                     # fixed changes to every trial (section.key: value)
      run.steps: 1000000
    space:                         # the search space, keyed like --set (section.key)
      agent.gamma: {grid: [0.95, 0.99]}               # every value, Cartesian product
      agent.beta1: {choice: [0.0, 0.9]}               # one value drawn per sample
      agent.actor_lr: {choice: {mantissa: [1, 99], exponent: [-6, -4]}}   # {1..99} x 10^-6..10^-4
    variants:                      # named sets of overrides, one more grid axis
      sac-b1: {agent.algo: sac, batch.buffer_size: 1, batch.batch_size: 1}
      avg: {agent.algo: avg}
    samples: 1                     # random draws per grid point (needs a choice parameter if > 1)
    sample_seed: 0                 # seed of those draws (the expansion is deterministic)
    search: random                 # random: the grid x samples above, run by Tune's
                                   # BasicVariantGenerator (the searcher Ray Tune ships)
    report_every: null             # env steps between reports to Tune during a trial
                                   # (null: once, at the end); a scheduler needs it
    scheduler: null                # stop bad trials early: {name: asha, grace_period: 2000,
                                   # reduction_factor: 3} or {name: median, grace_period: ...}
    resources: {cpu: 1}            # Ray resources of one trial
    max_failures: 3                # reruns of a trial lost with its node (or crashed)
    max_concurrent: null           # cap on trials running at once (null: as many as fit)
    sweep_dir: null                # default: runs/sweeps/<name>
    storage: auto                  # auto | shared | upload (see rt_avg/sweeps/tune.py)

The file is parsed by the run-config machinery (:func:`rt_avg.core.config.build`) into the
frozen :class:`SweepFile`, so types, ranges and unknown keys are checked the same way and
errors name the field (``sweep.samples: got 0, allowed range is [1, inf]``).

Upper bounds (:data:`MAX_SAMPLES`, :data:`MAX_SEEDS`, :data:`MAX_TRIALS`) are checked
before anything is expanded: a typo such as ``samples: 1000000000`` is an error naming the
field, not a driver that fills its memory.

With ``report_every``, a trial reports to Tune every that many env steps (``steps``, and
the run's ``final_return`` and ``auc`` as of that step, by the one definition in
:mod:`rt_avg.analysis.stats`), so a Tune scheduler can stop it early; a stopped trial keeps
its run directory and final checkpoint and is marked ``stopped`` (an unfinished run in
every summary).  ASHA and the median stopping rule compare trials of one task, so a sweep
with a scheduler must have a single env id.

Configurations are numbered ``c000``, ``c001``, ...; a trial is one configuration with one
seed, ``c000-s0``.  Every trial config is built with the config machinery here, so a bad
sweep fails before any trial starts.  With ``tracking.wandb`` on, each trial's
``tracking.group`` is the sweep name, so a sweep's runs share one wandb group.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rt_avg.core import config as C
from rt_avg.core.config import Config, ConfigError, value_range

Storage = Literal["auto", "shared", "upload"]
SchedulerName = Literal["asha", "median"]
SearchName = Literal["random"]
ROBOT_PREFIX = "rt_avg/"
"""Env ids of the robot tasks: building one connects to the robot."""
MAX_SAMPLES = 100_000
MAX_SEEDS = 1_000
MAX_TRIALS = 100_000
"""No sweep expands into more trials than this (the trial list lives in sweep.json)."""
ParamKind = Literal["grid", "choice"]
DEFAULT_BASE = "default"
"""``base: default`` is the built-in config (InvertedPendulum-v5), as ``rt-avg train`` uses."""
BASE_KEY = "base"
"""Parameter key of the base-config axis when ``base`` lists several configs."""
VARIANT_KEY = "variant"
"""Parameter key of the ``variants`` axis."""


@dataclass(frozen=True)
class Resources:
    cpu: float = field(default=1.0, metadata=value_range(0.0, None, lo_open=True))
    """CPUs of one trial."""


@dataclass(frozen=True)
class Scientific:
    """Every m x 10^e for m in ``mantissa`` [lo, hi] and e in ``exponent`` [lo, hi]."""

    mantissa: tuple[int, ...] = field(metadata=value_range(1))
    exponent: tuple[int, ...]


@dataclass(frozen=True)
class AxisSpec:
    """One entry of ``space``: exactly one of grid or choice."""

    grid: tuple[Any, ...] | None = None
    choice: tuple[Any, ...] | Scientific | None = None


@dataclass(frozen=True)
class SchedulerSpec:
    """A Ray Tune trial scheduler over the ``final_return`` trials report (mode max),
    with env steps (``steps``) as its time."""

    name: SchedulerName
    grace_period: int | None = field(default=None, metadata=value_range(1))
    """Env steps before a trial can be stopped (default: report_every)."""
    reduction_factor: float = field(default=3.0, metadata=value_range(1.0, None, lo_open=True))
    """asha: keep the best 1/reduction_factor of the trials at each rung."""


@dataclass(frozen=True)
class SweepFile:
    """A sweep file as written (see the module docstring)."""

    base: str | tuple[str, ...]
    seeds: int | tuple[int, ...]
    name: str | None = None
    overrides: dict = field(default_factory=dict)
    space: dict = field(default_factory=dict)
    variants: dict = field(default_factory=dict)
    samples: int = field(default=1, metadata=value_range(1, MAX_SAMPLES))
    sample_seed: int = field(default=0, metadata=value_range(0))
    search: SearchName = "random"
    report_every: int | None = field(default=None, metadata=value_range(1))
    scheduler: SchedulerSpec | None = None
    resources: Resources = field(default_factory=Resources)
    max_failures: int = field(default=3, metadata=value_range(0))
    max_concurrent: int | None = field(default=None, metadata=value_range(1))
    sweep_dir: str | None = None
    storage: Storage = "auto"


@dataclass(frozen=True)
class Param:
    """One axis of the search space: every value (grid) or one drawn per sample (choice)."""

    key: str
    kind: ParamKind
    values: tuple[Any, ...]


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the file with its name, bases, seeds and axes resolved."""

    file: SweepFile
    name: str
    bases: tuple[str, ...]
    seeds: tuple[int, ...]
    overrides: tuple[tuple[str, Any], ...]
    space: tuple[Param, ...]
    variants: dict[str, tuple[tuple[str, Any], ...]]
    source: str | None = None
    """The file the spec was read from (relative base paths resolve against its folder)."""


@dataclass(frozen=True)
class Trial:
    trial_id: str
    config_id: str
    seed: int
    params: tuple[tuple[str, Any], ...]
    """The searched values of this configuration (``section.key`` -> value, ``base`` and
    ``variant`` axes by name), seed excluded."""
    config: Config


# ----------------------------------------------------------------------------- parsing


def _section_key(where: str, dotted: Any) -> tuple[str, str]:
    """Check ``section.key`` against the Config dataclasses (the message lists what exists)."""
    sections = {f.name: f.type for f in dataclasses.fields(Config)}
    if not isinstance(dotted, str) or dotted.count(".") != 1:
        raise ConfigError(f"{where}: got key {dotted!r}, expected section.key "
                          f"(e.g. agent.actor_lr); sections: {', '.join(sections)}")
    section, key = dotted.split(".")
    if section not in sections:
        raise ConfigError(f"{where}: unknown section {section!r} in {dotted!r}; "
                          f"allowed: {', '.join(sections)}")
    names = [f.name for f in dataclasses.fields(type(getattr(Config(), section)))]
    if key not in names:
        raise ConfigError(f"{where}: unknown field {dotted!r}; allowed in {section}: "
                          f"{', '.join(names)}")
    return section, key


def _overrides(where: str, data: dict) -> tuple[tuple[str, Any], ...]:
    for key in data:
        _section_key(where, key)
    return tuple(data.items())


def _scientific(s: Scientific, where: str) -> tuple[float, ...]:
    bounds = []
    for part in ("mantissa", "exponent"):
        pair = getattr(s, part)
        if len(pair) != 2 or pair[0] > pair[1]:
            raise ConfigError(f"{where}.{part}: got {list(pair)}, expected [lo, hi] with "
                              "lo <= hi (inclusive)")
        bounds.append(range(pair[0], pair[1] + 1))
    # float("3e-5") is exact to the decimal text; 3 * 1e-5 would not be.
    return tuple(float(f"{m}e{e}") for e in sorted(bounds[1], reverse=True) for m in bounds[0])


def _param(key: str, spec: Any) -> Param:
    where = f"sweep.space[{key!r}]"
    _section_key("sweep.space", key)
    axis = C.build(AxisSpec, spec, where)
    given = [k for k in ("grid", "choice") if getattr(axis, k) is not None]
    if len(given) != 1:
        raise ConfigError(f"{where}: got {spec!r}, expected {{grid: [values...]}} or "
                          "{choice: [values...]} or {choice: {mantissa: [lo, hi], "
                          "exponent: [lo, hi]}}")
    kind = given[0]
    values = getattr(axis, kind)
    if isinstance(values, Scientific):
        values = _scientific(values, f"{where}.{kind}")
    if not values:
        raise ConfigError(f"{where}.{kind}: got [], expected a non-empty list of values")
    return Param(key, kind, tuple(values))


def _seeds(value: int | tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(value, int):
        if not 1 <= value <= MAX_SEEDS:
            raise ConfigError(f"sweep.seeds: got {value}, expected a number of seeds in "
                              f"[1, {MAX_SEEDS}] or a list of seeds")
        return tuple(range(value))
    if len(value) > MAX_SEEDS:
        raise ConfigError(f"sweep.seeds: got a list of {len(value)}, at most {MAX_SEEDS} "
                          "seeds")
    if not value or len(set(value)) != len(value) or min(value) < 0:
        raise ConfigError(f"sweep.seeds: got {list(value)}, expected distinct seeds >= 0 "
                          "(a non-empty list)")
    return value


def parse(data: Any, source: str | None = None) -> SweepSpec:
    """Validate plain data (parsed YAML) into a :class:`SweepSpec` (raises ConfigError)."""
    f = C.build(SweepFile, data, "sweep")
    name = f.name or (Path(source).stem if source else None)
    if name is None:
        raise ConfigError("sweep.name: missing; give the sweep a name (a file's name is "
                          "the default)")
    if any(c in name for c in "/\\ "):
        raise ConfigError(f"sweep.name: got {name!r}, expected no spaces or slashes")
    bases = f.base if isinstance(f.base, tuple) else (f.base,)
    if not bases:
        raise ConfigError("sweep.base: got [], expected a ready config name or path, or a "
                          "non-empty list of them")
    space = tuple(_param(k, v) for k, v in f.space.items())
    if f.samples > 1 and not any(p.kind == "choice" for p in space):
        raise ConfigError(f"sweep.samples: got {f.samples}, but the space has no choice "
                          "parameter, so every sample would be the same configuration")
    variants = {}
    for vname, values in f.variants.items():
        if not isinstance(values, dict):
            raise ConfigError(f"sweep.variants.{vname}: got {values!r}, expected a mapping "
                              "of section.key: value")
        variants[str(vname)] = _overrides(f"sweep.variants.{vname}", values)
    spec = SweepSpec(f, name, bases, _seeds(f.seeds),
                     _overrides("sweep.overrides", f.overrides), space, variants, source)
    _check_size(spec)
    if f.scheduler is not None and f.report_every is None:
        raise ConfigError(f"sweep.scheduler: {f.scheduler.name} needs results during a "
                          "trial; set sweep.report_every (env steps between reports)")
    return spec


def trial_count(spec: SweepSpec) -> int:
    """How many trials :func:`expand` makes (computed without expanding)."""
    n = len(spec.seeds) * spec.file.samples * len(spec.bases) * max(1, len(spec.variants))
    for p in spec.space:
        n *= len(p.values) if p.kind == "grid" else 1
    return n


def _check_size(spec: SweepSpec) -> None:
    n = trial_count(spec)
    if n > MAX_TRIALS:
        raise ConfigError(f"sweep: {n:,} trials ({n // len(spec.seeds):,} configurations x "
                          f"{len(spec.seeds)} seeds), at most {MAX_TRIALS:,}; lower "
                          "sweep.samples, the grid or the seeds")


def sweeps_dir() -> Path:
    """The ready sweep files shipped with the project (configs/sweeps/)."""
    return C.config_dir() / "sweeps"


def resolve_sweep_path(name_or_path: str) -> Path:
    """A path as given, or a ready sweep's name (``smoke`` -> configs/sweeps/smoke.yaml)."""
    return C.resolve_ready_file(name_or_path, sweeps_dir(), "sweep")


def load(name_or_path: str | Path) -> SweepSpec:
    """Read and validate a sweep file (or a ready sweep by name)."""
    path = resolve_sweep_path(str(name_or_path))
    return parse(C.read_yaml(path), source=str(path))


# ----------------------------------------------------------------------------- expansion


def _base_config(spec: SweepSpec, base: str) -> Config:
    if base == DEFAULT_BASE and not Path(base).exists():
        return Config()
    if spec.source and not Path(base).exists():
        beside = Path(spec.source).parent / base
        if beside.is_file():
            base = str(beside)
    try:
        return C.load(base)
    except ConfigError as exc:
        raise ConfigError(f"sweep.base: {base!r}: {exc}") from None


def _configurations(spec: SweepSpec) -> list[tuple[tuple[str, Any], ...]]:
    """Every configuration as ordered (key, value) pairs: grid product x samples."""
    grid = [p for p in spec.space if p.kind == "grid"]
    choice = [p for p in spec.space if p.kind == "choice"]
    if spec.variants:
        grid.insert(0, Param(VARIANT_KEY, "grid", tuple(spec.variants)))
    if len(spec.bases) > 1:
        grid.insert(0, Param(BASE_KEY, "grid", spec.bases))
    rng = random.Random(spec.file.sample_seed)
    out = []
    for point in itertools.product(*(p.values for p in grid)):
        for _ in range(spec.file.samples):
            drawn = tuple((p.key, rng.choice(p.values)) for p in choice)
            out.append(tuple(zip((p.key for p in grid), point)) + drawn)
    return out


def _sections(pairs: Any) -> dict[str, dict[str, Any]]:
    sections: dict[str, dict[str, Any]] = {}
    for dotted, value in pairs:
        section, key = dotted.split(".")
        sections.setdefault(section, {})[key] = value
    return sections


def expand(spec: SweepSpec) -> tuple[Trial, ...]:
    """Every trial of the sweep, each config built and validated (raises ConfigError)."""
    bases = {b: _base_config(spec, b) for b in spec.bases}
    trials = []
    for index, params in enumerate(_configurations(spec)):
        config_id = f"c{index:03d}"
        values = dict(params)
        base = bases[values.pop(BASE_KEY, spec.bases[0])]
        variant = spec.variants.get(values.pop(VARIANT_KEY, None), ())
        searched = [(k, v) for k, v in params if k not in (BASE_KEY, VARIANT_KEY)]
        for seed in spec.seeds:
            pairs = list(spec.overrides) + list(variant) + searched + [("run.seed", seed)]
            try:
                cfg = base.replace(**_sections(pairs))
            except ConfigError as exc:
                where = ", ".join(f"{k}={v!r}" for k, v in params) or "the base config"
                raise ConfigError(f"sweep: configuration {config_id} ({where}) is invalid: "
                                  f"{exc}") from None
            if cfg.tracking.wandb:
                cfg = cfg.replace(tracking={"group": spec.name})
            trials.append(Trial(f"{config_id}-s{seed}", config_id, seed, params, cfg))
    return tuple(trials)


def check_envs(trials: tuple[Trial, ...]) -> None:
    """Raise ConfigError for an env that ``rt-avg train`` would refuse, before any trial
    starts: each distinct env config is made once (and closed) as a trial would make it
    (:func:`rt_avg.core.environments.make_env`: the id, its kwargs, a continuous action space);
    a robot task (``rt_avg/...``) is checked without being built, as train checks it
    before it connects."""
    from rt_avg.core.environments import make_env, validate_env_config

    seen: set[str] = set()
    for t in trials:
        key = json.dumps(C.to_dict(t.config)["env"], sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        validate_env_config(t.config.env)
        if not t.config.env.id.startswith(ROBOT_PREFIX):
            make_env(t.config.env).close()


def check_scheduler(spec: SweepSpec, trials: tuple[Trial, ...]) -> None:
    """A scheduler compares the trials' returns: they must share one task."""
    if spec.file.scheduler is None:
        return
    envs = sorted({t.config.env.id for t in trials})
    if len(envs) > 1:
        raise ConfigError(f"sweep.scheduler: {spec.file.scheduler.name} compares returns of "
                          f"one task, but the sweep has {len(envs)} env ids ({', '.join(envs)});"
                          " run one sweep per task")
    steps = max(t.config.run.steps for t in trials)
    grace = spec.file.scheduler.grace_period or spec.file.report_every or 0
    if grace >= steps:
        raise ConfigError(f"sweep.scheduler.grace_period: got {grace}, expected fewer than "
                          f"the trials' {steps} steps")


def trial_record(trial: Trial) -> dict[str, Any]:
    """Plain-data form of a trial (what the sweep directory's sweep.json lists)."""
    return {"trial_id": trial.trial_id, "config_id": trial.config_id, "seed": trial.seed,
            "params": {k: v for k, v in trial.params}, "config": C.to_dict(trial.config)}


def fingerprint(trials: tuple[Trial, ...]) -> str:
    """A hash of every trial's id and config: equal iff the sweep would run the same trials."""
    text = json.dumps([trial_record(t) for t in trials], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``rt-avg sweep`` (the command calls ``rt_avg.sweeps.tune.run_sweep(
    args.sweep_file, args.address, args.sweep_dir, args.num_cpus)``)."""
    p.add_argument("sweep_file", help="sweep YAML file, or the name of a ready sweep in "
                   "configs/sweeps/ (e.g. smoke)")
    p.add_argument("--sweep-dir", help="output directory (default: sweep_dir in the file, "
                   "else runs/sweeps/<name>); run the same command again to continue a sweep")
    add_cluster_arguments(p)


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    """--address and --num-cpus (sweeps and studies)."""
    p.add_argument("--address", help="Ray cluster to join (auto or HOST:PORT); default: start "
                   "a local Ray")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (without --address); "
                   "default: all")

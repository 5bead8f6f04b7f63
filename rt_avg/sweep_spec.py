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
    samples: 1                     # random draws per grid point (needs a choice parameter if > 1)
    sample_seed: 0                 # seed of those draws (the expansion is deterministic)
    resources: {cpu: 1}            # Ray resources of one trial
    max_failures: 3                # reruns of a trial lost with its node (or crashed)
    max_concurrent: null           # cap on trials running at once (null: as many as fit)
    sweep_dir: null                # default: runs/sweeps/<name>
    storage: auto                  # auto | shared | upload (see actors/sweep.py)

Configurations are numbered ``c000``, ``c001``, ...; a trial is one configuration with one
seed, ``c000-s0``.  Every trial config is built with :func:`rt_avg.config.from_dict` here,
so a bad sweep fails before any trial starts.  With ``tracking.wandb`` on, each trial's
``tracking.group`` is the sweep name, so a sweep's runs share one wandb group.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

from rt_avg import config as C
from rt_avg.config import Config, ConfigError

Storage = Literal["auto", "shared", "upload"]
ParamKind = Literal["grid", "choice"]

_FIELDS = ("name", "base", "seeds", "overrides", "space", "samples", "sample_seed",
           "resources", "max_failures", "max_concurrent", "sweep_dir", "storage")
_STORAGE = ("auto", "shared", "upload")
DEFAULT_BASE = "default"
"""``base: default`` is the built-in config (InvertedPendulum-v5), as ``rt-avg train`` uses."""
BASE_KEY = "base"
"""Parameter key of the base-config axis when ``base`` lists several configs."""


@dataclass(frozen=True)
class Param:
    """One axis of the search space: every value (grid) or one drawn per sample (choice)."""
    key: str
    kind: ParamKind
    values: tuple[Any, ...]


@dataclass(frozen=True)
class SweepSpec:
    name: str
    bases: tuple[str, ...]
    seeds: tuple[int, ...]
    overrides: tuple[tuple[str, Any], ...] = ()
    space: tuple[Param, ...] = ()
    samples: int = 1
    sample_seed: int = 0
    trial_cpus: float = 1.0
    max_failures: int = 3
    max_concurrent: int | None = None
    sweep_dir: str | None = None
    storage: Storage = "auto"
    source: str | None = None
    """The file the spec was read from (relative base paths resolve against its folder)."""


@dataclass(frozen=True)
class Trial:
    trial_id: str
    config_id: str
    seed: int
    params: tuple[tuple[str, Any], ...]
    """The searched values of this configuration (``section.key`` -> value), seed excluded."""
    config: Config


# ----------------------------------------------------------------------------- parsing


def _err(field: str, got: Any, allowed: str) -> ConfigError:
    return ConfigError(f"sweep.{field}: got {got!r}, expected {allowed}")


def _int(field: str, value: Any, lo: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < lo:
        raise _err(field, value, f"an integer >= {lo}")
    return value


def _section_key(field: str, dotted: Any) -> tuple[str, str]:
    """Check ``section.key`` against the Config dataclasses (the message lists what exists)."""
    sections = {f.name: f.type for f in dataclasses.fields(Config)}
    if not isinstance(dotted, str) or dotted.count(".") != 1:
        raise ConfigError(f"sweep.{field}: got key {dotted!r}, expected section.key "
                          f"(e.g. agent.actor_lr); sections: {', '.join(sections)}")
    section, key = dotted.split(".")
    if section not in sections:
        raise ConfigError(f"sweep.{field}: unknown section {section!r} in {dotted!r}; "
                          f"allowed: {', '.join(sections)}")
    cls = type(getattr(Config(), section))
    names = [f.name for f in dataclasses.fields(cls)]
    if key not in names:
        raise ConfigError(f"sweep.{field}: unknown field {dotted!r}; allowed in {section}: "
                          f"{', '.join(names)}")
    return section, key


def _scientific(field: str, spec: Any) -> tuple[float, ...]:
    """``{mantissa: [1, 99], exponent: [-6, -4]}`` -> every m x 10^e (both ranges inclusive)."""
    if not isinstance(spec, Mapping) or set(spec) != {"mantissa", "exponent"}:
        raise _err(field, spec, "a list of values or {mantissa: [lo, hi], exponent: [lo, hi]}")
    bounds = []
    for part in ("mantissa", "exponent"):
        pair = spec[part]
        ok = (isinstance(pair, (list, tuple)) and len(pair) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
              and pair[0] <= pair[1])
        if not ok:
            raise _err(f"{field}.{part}", pair, "[lo, hi], integers with lo <= hi (inclusive)")
        bounds.append(range(pair[0], pair[1] + 1))
    if bounds[0][0] < 1:
        raise _err(f"{field}.mantissa", spec["mantissa"], "positive integers")
    # float("3e-5") is exact to the decimal text; 3 * 1e-5 would not be.
    return tuple(float(f"{m}e{e}") for e in sorted(bounds[1], reverse=True) for m in bounds[0])


def _param(key: str, spec: Any) -> Param:
    field = f"space[{key!r}]"
    if key != BASE_KEY:
        _section_key("space", key)
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in (
            "grid", "choice"):
        raise _err(field, spec, "{grid: [values...]} or {choice: [values...]} or "
                   "{choice: {mantissa: [lo, hi], exponent: [lo, hi]}}")
    kind, values = next(iter(spec.items()))
    if isinstance(values, Mapping):
        values = _scientific(f"{field}.{kind}", values)
    if not isinstance(values, (list, tuple)) or not values:
        raise _err(f"{field}.{kind}", values, "a non-empty list of values")
    return Param(key, kind, tuple(values))


def _seeds(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return tuple(range(_int("seeds", value, 1)))
    if isinstance(value, (list, tuple)) and value:
        seeds = tuple(_int("seeds[]", s, 0) for s in value)
        if len(set(seeds)) != len(seeds):
            raise _err("seeds", value, "distinct seeds")
        return seeds
    raise _err("seeds", value, "a number of seeds (>= 1) or a non-empty list of seeds")


def parse(data: Any, source: str | None = None) -> SweepSpec:
    """Validate plain data (parsed YAML) into a :class:`SweepSpec`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"sweep: expected a mapping of fields, got {data!r}")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"sweep.{unknown[0]}: unknown field; allowed: {', '.join(_FIELDS)}")
    name = data.get("name") or (Path(source).stem if source else None)
    if name is None:
        raise ConfigError("sweep.name: missing; give the sweep a name (a file's name is "
                          "the default)")
    if not isinstance(name, str) or not name or any(c in name for c in "/\\ "):
        raise _err("name", name, "a non-empty string without spaces or slashes")
    if "base" not in data:
        raise ConfigError("sweep.base: missing; give a ready config name (e.g. hopper) or a "
                          "config file path, or a list of them")
    base = data["base"]
    bases = tuple(base) if isinstance(base, (list, tuple)) else (base,)
    if not bases or not all(isinstance(b, str) and b for b in bases):
        raise _err("base", base, "a ready config name or path, or a non-empty list of them")
    if "seeds" not in data:
        raise ConfigError("sweep.seeds: missing; give a number of seeds (e.g. 5) or a list")
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, Mapping):
        raise _err("overrides", overrides, "a mapping of section.key: value")
    for key in overrides:
        _section_key("overrides", key)
    space_data = data.get("space") or {}
    if not isinstance(space_data, Mapping):
        raise _err("space", space_data, "a mapping of section.key: {grid|choice: ...}")
    if BASE_KEY in space_data:
        raise ConfigError("sweep.space: 'base' is not a parameter; list several configs "
                          "under sweep.base instead")
    space = tuple(_param(k, v) for k, v in space_data.items())
    samples = _int("samples", data.get("samples", 1), 1)
    if samples > 1 and not any(p.kind == "choice" for p in space):
        raise ConfigError(f"sweep.samples: got {samples}, but the space has no choice "
                          "parameter, so every sample would be the same configuration")
    resources = data.get("resources") or {}
    if not isinstance(resources, Mapping) or set(resources) - {"cpu"}:
        raise _err("resources", resources, "{cpu: N} (CPUs per trial)")
    cpu = resources.get("cpu", 1)
    if isinstance(cpu, bool) or not isinstance(cpu, (int, float)) or cpu <= 0:
        raise _err("resources.cpu", cpu, "a number > 0")
    max_concurrent = data.get("max_concurrent")
    if max_concurrent is not None:
        max_concurrent = _int("max_concurrent", max_concurrent, 1)
    sweep_dir = data.get("sweep_dir")
    if sweep_dir is not None and (not isinstance(sweep_dir, str) or not sweep_dir):
        raise _err("sweep_dir", sweep_dir, "a path or null")
    storage = data.get("storage", "auto")
    if storage not in _STORAGE:
        raise _err("storage", storage, "one of " + ", ".join(repr(s) for s in _STORAGE))
    return SweepSpec(
        name=name, bases=bases, seeds=_seeds(data["seeds"]),
        overrides=tuple(overrides.items()), space=space, samples=samples,
        sample_seed=_int("sample_seed", data.get("sample_seed", 0), 0),
        trial_cpus=float(cpu), max_failures=_int("max_failures", data.get("max_failures", 3), 0),
        max_concurrent=max_concurrent, sweep_dir=sweep_dir, storage=storage, source=source)


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
    if len(spec.bases) > 1:
        grid.insert(0, Param(BASE_KEY, "grid", spec.bases))
    rng = random.Random(spec.sample_seed)
    out = []
    for point in itertools.product(*(p.values for p in grid)):
        for _ in range(spec.samples):
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
        searched = [(k, v) for k, v in params if k != BASE_KEY]
        for seed in spec.seeds:
            sections = _sections(list(spec.overrides) + searched + [("run.seed", seed)])
            try:
                cfg = base.replace(**sections)
            except ConfigError as exc:
                where = ", ".join(f"{k}={v!r}" for k, v in params) or "the base config"
                raise ConfigError(f"sweep: configuration {config_id} ({where}) is invalid: "
                                  f"{exc}") from None
            if cfg.tracking.wandb:
                cfg = cfg.replace(tracking={"group": spec.name})
            trials.append(Trial(f"{config_id}-s{seed}", config_id, seed, params, cfg))
    return tuple(trials)


def check_envs(trials: tuple[Trial, ...]) -> None:
    """Raise ConfigError unless every env id of the sweep is registered (imports gymnasium)."""
    from rt_avg.environments import validate_env_id

    for env_id in sorted({t.config.env.id for t in trials}):
        validate_env_id(env_id)


def trial_record(trial: Trial) -> dict[str, Any]:
    """Plain-data form of a trial (what the sweep directory's sweep.json lists)."""
    return {"trial_id": trial.trial_id, "config_id": trial.config_id, "seed": trial.seed,
            "params": {k: v for k, v in trial.params}, "config": C.to_dict(trial.config)}


def fingerprint(trials: tuple[Trial, ...]) -> str:
    """A hash of every trial's id and config: equal iff the sweep would run the same trials."""
    text = json.dumps([trial_record(t) for t in trials], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``rt-avg sweep`` (for rt_avg/cli.py; the command calls
    ``rt_avg.actors.sweep.run_sweep(args.sweep_file, args.address, args.sweep_dir, args.num_cpus)``)."""
    p.add_argument("sweep_file", help="sweep YAML file, or the name of a ready sweep in "
                   "configs/sweeps/ (e.g. smoke)")
    p.add_argument("--address", help="Ray cluster to join (auto or HOST:PORT); default: start "
                   "a local Ray")
    p.add_argument("--sweep-dir", help="output directory (default: sweep_dir in the file, else "
                   "runs/sweeps/<name>); run the same command again to continue a sweep")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (without --address); "
                   "default: all")

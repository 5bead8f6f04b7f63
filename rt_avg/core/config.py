"""Typed, frozen run configuration loaded from YAML and validated once, at the edge.

A config file has seven sections (every key optional, defaults below)::

    env:      {id: Hopper-v5, action_mode: clip, kwargs: {}}
    agent:    {actor_lr: ..., critic_lr: ..., beta1: 0, entropy_coef: ..., gamma: ...}
    batch:    {buffer_size: null, batch_size: null, learning_starts: null}  (sac, td3, ppo)
    sac1:     {alpha_lr: 0.6, init_temperature: 0.1, tau: 0.005}   (agent.algo: sac1 only)
    run:      {steps: ..., seed: 0, mode: inline, checkpoint_every: ...}
    realtime: {dt_s: 0, sync_every: 1, ...}
    tracking: {wandb: false, project: rt-avg, ...}

Anything unknown, of the wrong type or out of range raises :class:`ConfigError`, whose
message names the field (``agent.gamma``) and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar

import yaml

from rt_avg.algos import check_algo_name, is_batch
from rt_avg.core import ConfigError

ActionMode = Literal["clip", "rescale"]
Activation = Literal["leaky_relu", "relu", "tanh"]
StdParam = Literal["published", "log_std"]
Mode = Literal["inline", "async", "sequential"]
CheckpointErrors = Literal["stop", "continue"]
TDReturnRule = Literal["termination", "episode_end"]
WandbMode = Literal["online", "offline", "disabled"]
T = TypeVar("T")


# ConfigError lives in the shared vocabulary (rt_avg.core), so that rt_avg.algos can raise it
# without importing this module; it is re-exported here, where most code imports it from.


def _range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False) -> dict:
    return {"range": (lo, hi, lo_open)}


value_range = _range
"""Field metadata of an allowed range, for other typed files built with :func:`build`."""


@dataclass(frozen=True)
class EnvConfig:
    id: str = "InvertedPendulum-v5"
    """Gymnasium id: MuJoCo v5 tasks, dm_control/<domain>-<task>-v0, rt_avg/... robot tasks."""
    action_mode: ActionMode = "clip"
    """clip: actor output in [-1, 1] clipped to the env bounds (published); rescale: affine map."""
    max_episode_steps: int | None = field(default=None, metadata=_range(1))
    """Override of the env's time limit (None keeps the registered one)."""
    kwargs: dict = field(default_factory=dict)
    """Keyword arguments for gymnasium.make (robot backend, host, port, ...)."""


@dataclass(frozen=True)
class AgentConfig:
    algo: str = "avg"
    """The learner (see rt_avg.algos): avg, iac, sac1 (incremental); sac, td3, ppo (batch,
    inline only); or module.path:NAME for an algorithm of your own."""
    # Defaults: tuned for the embedded InvertedPendulum-v5 task (a small grid, 3 seeds);
    # the ready files in configs/ hold the published settings for each task family.
    actor_lr: float = field(default=1e-3, metadata=_range(0.0, 1.0, lo_open=True))
    critic_lr: float = field(default=3e-3, metadata=_range(0.0, 1.0, lo_open=True))
    beta1: float = field(default=0.0, metadata=_range(0.0, 0.999))
    """Adam's beta1; beta2 is 0.999 as published."""
    entropy_coef: float = field(default=0.05, metadata=_range(0.0, 100.0))
    """Fixed entropy coefficient eta."""
    gamma: float = field(default=0.99, metadata=_range(0.0, 1.0))
    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: Activation = "leaky_relu"
    penultimate_norm: bool = True
    normalize_obs: bool = True
    scale_td: bool = True
    td_return_rule: TDReturnRule = "termination"
    """When the TD-error scaler records and resets the episode return G.  termination (as
    published): only at termination; a truncation neither records nor resets it.
    episode_end (a deviation): at every episode end, so that tasks that never terminate
    leave the sigma = 1 warm-up once the first episode ends."""
    std_param: StdParam = "published"
    """published: the std head is the log of the variance (std = exp(h/2)); log_std: std = exp(h)."""
    log_std_min: float = -20.0
    log_std_max: float = 2.0
    adam_eps: float = field(default=1e-8, metadata=_range(0.0, 1.0, lo_open=True))


@dataclass(frozen=True)
class Sac1Config:
    """SAC-1 (agent.algo: sac1), the settings agent does not hold; published defaults."""

    alpha_lr: float = field(default=0.6, metadata=_range(0.0, 10.0, lo_open=True))
    """Adam step size of log alpha (the temperature); its betas are (0.5, 0.999)."""
    init_temperature: float = field(default=0.1, metadata=_range(0.0, 100.0, lo_open=True))
    """alpha at the start: log alpha starts at log init_temperature."""
    tau: float = field(default=0.005, metadata=_range(0.0, 1.0, lo_open=True))
    """Polyak step of the target critics: target <- tau * critic + (1 - tau) * target."""


@dataclass(frozen=True)
class BatchConfig:
    """Batch learners (agent.algo: sac, td3, ppo), run through Stable-Baselines3 with the
    network sizes and gamma of ``agent``.  null: the algorithm's own default."""

    buffer_size: int | None = field(default=None, metadata=_range(1))
    """Replay capacity (sac, td3; default 1,000,000) or rollout length n_steps (ppo; default
    2048).  1 runs: every update then learns from the newest transition only."""
    batch_size: int | None = field(default=None, metadata=_range(1))
    """Transitions per gradient step (sac, td3: 256; ppo: 64); cut to buffer_size when
    larger (a larger batch could only repeat transitions)."""
    learning_starts: int | None = field(default=None, metadata=_range(0))
    """sac, td3: env steps of uniformly random actions before the first update (default
    100); ppo has no warm-up."""
    learning_rate: float = field(default=3e-4, metadata=_range(0.0, 1.0, lo_open=True))
    n_epochs: int = field(default=10, metadata=_range(1))
    """ppo: passes over each rollout."""


@dataclass(frozen=True)
class RunConfig:
    steps: int = field(default=30_000, metadata=_range(1))
    seed: int = field(default=0, metadata=_range(0, 2**32 - 1))
    """Below 2**32: NumPy's global seeding (Gymnasium's space sampling, the
    Stable-Baselines3 baselines) takes 32-bit seeds."""
    mode: Mode = "inline"
    checkpoint_every: int = field(default=10_000, metadata=_range(1))
    keep_checkpoints: int = field(default=3, metadata=_range(1))
    metrics_every: int = field(default=1_000, metadata=_range(1))
    """Write one metrics.jsonl row per this many updates (means over the window)."""
    torch_threads: int = field(default=1, metadata=_range(1, 1024))
    """Learner threads (1: an update is too small to split; more than cores only waits)."""
    learning_starts: int = field(default=0, metadata=_range(0))
    """Act without updating for this many steps (0 = learn from the first transition)."""
    checkpoint_errors: CheckpointErrors = "stop"
    """A periodic checkpoint the disk refuses (full, read-only) is an event and a warning in
    every mode; stop: the run then stops (the older checkpoints stay); continue: it goes on
    without that checkpoint."""


@dataclass(frozen=True)
class CpuAffinity:
    """CPUs each real-time role is pinned to (empty: not pinned)."""

    env: tuple[int, ...] = ()
    learner: tuple[int, ...] = ()


@dataclass(frozen=True)
class RealtimeConfig:
    dt_s: float = field(default=0.001, metadata=_range(0.0, 10.0))
    """Action cycle period of the real-time modes (inline runs ignore it); 0 = as fast as
    possible.  The embedded job is paced at 1 kHz: at dt = 0 the simulated env outruns the
    learner, which then learns from a fifth of the transitions and ends anywhere between
    60 and 650; at 1 kHz it learns from nearly all of them."""
    sync_every: int = field(default=1, metadata=_range(1))
    """Publish actor weights every this many updates."""
    sync_min_interval_s: float = field(default=0.0, metadata=_range(0.0, 10.0))
    """Async: publish weights at most this often (0 = every sync_every updates).  A pickup of
    70k floats costs the env tens of microseconds; at dt_s = 0 e.g. 0.002 takes that off
    most simulator steps (with staler weights); a robot's cycle of tens of ms still sees
    fresh weights every cycle."""
    watchdog_s: float = field(default=5.0, metadata=_range(0.0, 3600.0, lo_open=True))
    """No new transition for this long is logged as a stall."""
    actor_timeout_s: float = field(default=60.0, metadata=_range(0.0, 3600.0, lo_open=True))
    """The longest the driver waits for an actor to answer (a liveness check, the final
    checkpoint, the logs); one that does not answer in time is counted as frozen and the
    run ends with what the others still hold."""
    robot_resource: str | None = None
    """Ray custom resource the EnvActor asks a sliver of (e.g. "robot")."""
    cpu_affinity: CpuAffinity = field(default_factory=CpuAffinity)
    """Optional CPU pinning, e.g. {env: [0], learner: [1]}."""


@dataclass(frozen=True)
class TrackingConfig:
    wandb: bool = False
    project: str = "rt-avg"
    entity: str | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()
    mode: WandbMode = "online"


@dataclass(frozen=True)
class Config:
    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
    sac1: Sac1Config = field(default_factory=Sac1Config)
    run: RunConfig = field(default_factory=RunConfig)
    realtime: RealtimeConfig = field(default_factory=RealtimeConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def replace(self, **sections: Mapping[str, Any]) -> "Config":
        """Return a copy with some fields of some sections overridden (validated)."""
        data = to_dict(self)
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
        return from_dict(data)


# ----------------------------------------------------------------------------- parsing


def _type_name(tp: Any) -> str:
    if tp is Any:
        return "values"
    if dataclasses.is_dataclass(tp):
        return "{" + ", ".join(f"{f.name}: ..." for f in dataclasses.fields(tp)) + "}"
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string",
            dict: "a mapping"}.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(path: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; return it in canonical form."""
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):  # e.g. a member of a union
        return _build(tp, value, path)
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(path, value, arg)
            except ConfigError:
                pass
    elif origin is tuple:
        (item_tp, _) = typing.get_args(tp)
        if isinstance(value, (list, tuple)):
            return tuple(_coerce(f"{path}[{i}]", v, item_tp) for i, v in enumerate(value))
    elif tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        # YAML reads "1e-5" as a string; accept numeric strings for floats only.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif tp is str:
        if isinstance(value, str) and value:
            return value
    elif tp is dict:
        if isinstance(value, dict):
            return dict(value)
    raise ConfigError(f"{path}: got {value!r}, expected {_type_name(tp)}")


def check_range(path: str, value: Any, lo: float | None = None, hi: float | None = None,
                *, lo_open: bool = False) -> Any:
    """Return ``value`` if it is a finite number in ``[lo, hi]`` (``(lo, hi]`` with
    ``lo_open``; None: unbounded), else raise ConfigError (a ValueError) naming ``path``
    and the allowed range.  The one range check of configs and of the classes they build."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{path}: got {value!r}, expected a finite number")
    too_low = lo is not None and (value <= lo if lo_open else value < lo)
    too_high = hi is not None and value > hi
    if too_low or too_high:
        left = "(" if lo_open else "["
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else str(hi) if isinstance(hi, int) else f"{hi:g}"
        raise ConfigError(f"{path}: got {value!r}, allowed range is {left}{lo_s}, {hi_s}]")
    return value


def _check_range(path: str, value: Any, meta: Mapping[str, Any]) -> None:
    if "range" not in meta or value is None:
        return
    lo, hi, lo_open = meta["range"]
    if isinstance(value, tuple):  # a list of numbers: each in range
        for i, item in enumerate(value):
            _check_range(f"{path}[{i}]", item, meta)
        return
    check_range(path, value, lo, hi, lo_open=lo_open)


def _build(cls: type, data: Any, path: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or 'config'}: expected a mapping of fields, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{path}." if path else ""
        raise ConfigError(
            f"{where}{unknown[0]}: unknown field; allowed: {', '.join(sorted(fields))}")
    missing = [n for n, f in fields.items() if n not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{path + '.' if path else ''}{missing[0]}: missing")
    values = {}
    for name, value in data.items():
        sub = f"{path}.{name}" if path else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            values[name] = _build(tp, value, sub)
        else:
            values[name] = _coerce(sub, value, tp)
            _check_range(sub, values[name], fields[name].metadata)
    return cls(**values)


# Network size bounds.  The learner updates once per env step on one CPU thread, with
# Adam state for the actor and the critic: hidden_sizes [4096, 4096] (2**24 weights between
# the hidden layers) already takes about 40 ms per update and 0.5 GB, the edge of a robot's
# control cycle; beyond it a typo (an extra zero) would try to allocate gigabytes to
# terabytes before anything reports an error.
MAX_HIDDEN_LAYERS = 16
MAX_HIDDEN_UNITS = 4096
MAX_HIDDEN_WEIGHTS = 2**24


def _check_hidden_sizes(sizes: tuple[int, ...]) -> None:
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    if (sizes and len(sizes) <= MAX_HIDDEN_LAYERS and weights <= MAX_HIDDEN_WEIGHTS
            and all(1 <= h <= MAX_HIDDEN_UNITS for h in sizes)):
        return
    raise ConfigError(
        f"agent.hidden_sizes: got {list(sizes)!r}; allowed: 1 to {MAX_HIDDEN_LAYERS} layers "
        f"of 1 to {MAX_HIDDEN_UNITS} units, with at most {MAX_HIDDEN_WEIGHTS:,} weights "
        "between hidden layers (e.g. [4096, 4096]): the learner updates on every env step "
        "on one CPU thread, and that size already takes about 40 ms and 0.5 GB")


def _check_consistency(cfg: Config) -> None:
    a = cfg.agent
    _check_hidden_sizes(a.hidden_sizes)
    if not a.log_std_min < a.log_std_max:
        raise ConfigError(f"agent.log_std_min: got {a.log_std_min}, must be below "
                          f"agent.log_std_max ({a.log_std_max})")
    for role in ("env", "learner"):
        cpus = getattr(cfg.realtime.cpu_affinity, role)
        if any(c < 0 for c in cpus):
            raise ConfigError(f"realtime.cpu_affinity.{role}: got {list(cpus)!r}, expected a "
                              "list of CPU numbers >= 0, e.g. [0]")
    check_algo_name(a.algo)
    if is_batch(a.algo) and cfg.run.mode != "inline":
        raise ConfigError(f"run.mode: got {cfg.run.mode!r}, but agent.algo {a.algo!r} is a batch "
                          "learner (Stable-Baselines3), which runs inline only")


def build(cls: type[T], data: Any, path: str) -> T:
    """Build the frozen dataclass ``cls`` from plain data by the rules of run configs (types
    from the annotations, :data:`value_range` metadata, unknown and missing keys rejected);
    errors name the field as ``path.field``.  For other typed files, e.g. sweep files."""
    return _build(cls, data, path)


def from_dict(data: Mapping[str, Any]) -> Config:
    """Build and validate a :class:`Config` from plain data (e.g. parsed YAML)."""
    cfg = _build(Config, data, "")
    _check_consistency(cfg)
    return cfg


def to_dict(cfg: Any) -> dict:
    """Plain-data form of a config (lists instead of tuples), suitable for YAML."""
    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return {k: plain(v) for k, v in dataclasses.asdict(cfg).items()}


def config_dir() -> Path:
    """The directory of ready config files shipped with the project."""
    return Path(str(resources.files("rt_avg.configs")))


def resolve_ready_file(name_or_path: str, directory: Path, what: str) -> Path:
    """A path as given, or the name of a ready file in ``directory`` (``hopper`` ->
    ``<directory>/hopper.yaml``); ``what`` names the flag in the error."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    ready = directory / f"{name_or_path}.yaml"
    if ready.is_file():
        return ready
    names = sorted(p.stem for p in directory.glob("*.yaml"))
    raise ConfigError(f"{what}: no file {name_or_path!r}; ready ones: {', '.join(names)}")


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                          f"offset {exc.start}); config files must be UTF-8 YAML") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None


def resolve_config_path(name_or_path: str) -> Path:
    """A path as given, or the name of a ready config (``hopper`` -> configs/hopper.yaml)."""
    return resolve_ready_file(name_or_path, config_dir(), "--config")


def load(name_or_path: str | Path) -> Config:
    """Load and validate a YAML config file (or a ready config by name)."""
    return from_dict(read_yaml(resolve_config_path(str(name_or_path))) or {})


def save(cfg: Config, path: Path) -> None:
    """Write the resolved config as YAML."""
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def ready_config_for_env(env_id: str, algo: str = "avg") -> Config:
    """The ready config file for ``algo`` whose ``env.id`` is ``env_id`` (published settings
    for that task).  Without one, a learner other than AVG takes its published settings
    (every section but ``env`` and ``run``) from its own ready file, on ``env_id``; AVG
    takes the defaults (tuned for the embedded task) with that env id."""
    ready = [yaml.safe_load(p.read_text()) or {} for p in sorted(config_dir().glob("*.yaml"))]
    mine = [d for d in ready if (d.get("agent") or {}).get("algo", "avg") == algo]
    for data in mine:
        if (data.get("env") or {}).get("id") == env_id:
            return from_dict(data)
    if algo != "avg" and mine:
        learner = {k: v for k, v in mine[0].items() if k not in ("env", "run")}
        return from_dict({**learner, "env": {"id": env_id}})
    return from_dict({"env": {"id": env_id}, "agent": {"algo": algo}})


def apply_override(cfg: Config, text: str) -> Config:
    """Apply ``section.key=value`` (value parsed as YAML; ``env.kwargs.host=...`` reaches
    into mappings) and validate the result."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"--set: got {text!r}, expected section.key=value "
                          "(e.g. agent.actor_lr=1e-4)")
    dotted, raw = text.split("=", 1)
    section, *path = dotted.split(".")
    if section not in {f.name for f in dataclasses.fields(Config)}:
        raise ConfigError(f"--set: unknown section {section!r}; allowed: "
                          + ", ".join(f.name for f in dataclasses.fields(Config)))
    data = to_dict(cfg)
    node = data[section]
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            raise ConfigError(f"--set: {section}.{key} is not a mapping")
        node = node[key]
    try:
        node[path[-1]] = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"--set: {dotted}: value {raw!r} is not valid YAML ({problem}); "
                          "e.g. agent.hidden_sizes=[64,64]") from None
    return from_dict(data)

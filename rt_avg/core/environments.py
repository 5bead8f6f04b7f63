"""Making environments: any Gymnasium continuous-control id, dm_control through shimmy,
and the project's robot tasks (registered by the ``envs`` package)."""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import warnings
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from rt_avg.core.config import ConfigError, EnvConfig
from rt_avg.core.env_kwargs import check_kwarg_values


def register_all(dm_control: bool = True) -> None:
    """Import the packages that register env ids (robots, dm_control via shimmy).

    ``dm_control=False`` leaves out dm_control: importing it costs about 50 MB (it loads an
    OpenGL backend), which a process running another task need not pay."""
    import rt_avg.envs  # noqa: F401  (registers rt_avg/... robot tasks)

    # dm_control's viewer probes for a display at import; keep headless machines quiet.
    os.environ.setdefault("MUJOCO_GL", "egl")
    if not dm_control:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import shimmy  # noqa: F401  (registers dm_control/<domain>-<task>-v0)
        except ImportError:
            pass


def validate_env_id(env_id: str) -> None:
    """Raise ConfigError naming ``env.id`` unless ``env_id`` is registered.

    ``module.path:EnvId-v0`` (Gymnasium's form) first imports the module, which registers
    ``EnvId-v0`` - how a task of your own reaches every mode without touching rt-avg."""
    register_all(dm_control=env_id.startswith("dm_control/"))
    if ":" in env_id:
        module, env_id = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - user code: report whatever it raised
            raise ConfigError(f"env.id: cannot import {module!r} (module.path:EnvId form): "
                              f"{type(exc).__name__}: {exc}") from None
    if env_id in gym.envs.registry:
        return
    register_all()  # every id, for the message
    known = list(gym.envs.registry)
    if env_id.startswith("dm_control/") and not any(k.startswith("dm_control/") for k in known):
        raise ConfigError(f"env.id: {env_id!r} needs dm_control; install it with "
                          "pip install 'rt-avg[dmc]'")
    close = difflib.get_close_matches(env_id, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ConfigError(f"env.id: unknown environment {env_id!r}{hint} (allowed: Gymnasium ids "
                      "such as Hopper-v5, dm_control/<domain>-<task>-v0, rt_avg/UR5-Reacher-v0, "
                      "rt_avg/Create2-Mover-v0, or module.path:EnvId-v0 for a task of your own)")


@runtime_checkable
class ChecksKwargs(Protocol):
    """A task class that can check its keyword arguments without being built (a robot task:
    building it would connect to the robot)."""

    @staticmethod
    def check_kwargs(kwargs: dict[str, Any]) -> None:
        """Raise ValueError naming the argument and what is allowed."""


def validate_env_config(cfg: EnvConfig) -> dict[str, Any]:
    """Check the env id and that ``env.kwargs`` names parameters the env accepts with values
    of the types it declares (:mod:`rt_avg.core.env_kwargs`), without creating the env (which for
    a robot would open its connection).  Returns the kwargs as the env takes them: a number
    that YAML read as text (``1e-3``) is a float where the env declares a number."""
    validate_env_id(cfg.id)
    if not cfg.kwargs:
        return {}
    spec = gym.spec(cfg.id.split(":", 1)[-1])  # module.path:EnvId-v0 -> EnvId-v0
    entry = spec.entry_point
    try:
        target = gym.envs.registration.load_env_creator(entry) if isinstance(entry, str) else entry
        params = inspect.signature(target).parameters
    except (ValueError, TypeError, ImportError):
        return dict(cfg.kwargs)  # nothing to check against
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        allowed = sorted(n for n, p in params.items()
                         if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n != "self")
        allowed_all = set(allowed) | {"max_episode_steps", "render_mode"}
        for key in cfg.kwargs:
            if key not in allowed_all:
                raise ConfigError(f"env.kwargs.{key}: {cfg.id} has no such parameter; "
                                  f"allowed: {', '.join(allowed)}")
    kwargs = check_kwarg_values(cfg.id, target, dict(cfg.kwargs))
    if isinstance(target, ChecksKwargs):
        try:
            target.check_kwargs(dict(kwargs))
        except ValueError as exc:
            raise ConfigError(f"env.kwargs: {exc}") from None
    return kwargs


def make_env(cfg: EnvConfig) -> gym.Env:
    """Create the env with vector observations and a bounded Box action space."""
    kwargs = validate_env_config(cfg)
    if cfg.max_episode_steps is not None:
        kwargs["max_episode_steps"] = cfg.max_episode_steps
    try:
        env = gym.make(cfg.id, **kwargs)
    except (TypeError, ValueError) as exc:  # the task's own argument checks
        raise ConfigError(f"env.kwargs: {cfg.id} rejected them: {exc}") from None
    if isinstance(env.observation_space, gym.spaces.Dict):
        env = gym.wrappers.FlattenObservation(env)
    action_space = env.action_space
    if not isinstance(action_space, gym.spaces.Box) or len(action_space.shape) != 1:
        env.close()
        raise ConfigError(f"env.id: {cfg.id} has action space {action_space}; rt-avg needs a "
                          "1-D continuous Box")
    if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
        env.close()
        raise ConfigError(f"env.id: {cfg.id} has unbounded actions; rt-avg needs finite bounds")
    if len(env.observation_space.shape) != 1:
        env.close()
        raise ConfigError(f"env.id: {cfg.id} observations have shape "
                          f"{env.observation_space.shape}; rt-avg needs vectors")
    return env


def episode_seed(seed: int, episode: int) -> int:
    """The reset seed of episode ``episode``: every episode's start is reproducible alone,
    which is what lets a resumed run rebuild the env state mid-episode."""
    return int(np.random.SeedSequence([seed, episode]).generate_state(1)[0])


def register_env_factory(env_id: str, factory: Any) -> None:
    """Register ``factory`` (a callable returning an env, e.g. a ``gym.Env`` subclass) as
    ``env_id`` with Gymnasium (again if it changed): how the Python API's env factories
    become ids, in the caller's process and in the env's Ray worker."""
    spec = gym.envs.registry.get(env_id)
    if spec is not None and spec.entry_point is factory:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Overriding environment": a new factory, same name
        gym.register(id=env_id, entry_point=factory)

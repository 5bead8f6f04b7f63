"""The Python API: train a run, load its policy.

    import rt_avg

    run = rt_avg.train(env="Hopper-v5", mode="async", steps=20_000,
                       overrides=["agent.actor_lr=1e-4"])       # like rt-avg train
    policy = rt_avg.load(run.run_dir)
    action = policy.act(obs)              # a raw observation in, the env's action out

``train`` takes what ``rt-avg train`` takes (a config, an env id, overrides as ``--set``
does, a run directory to resume) and also an env *factory*: a callable (e.g. a
``gymnasium.Env`` subclass) that returns the env.  It returns the run's
:class:`~rt_avg.core.result.TrainResult` (``run_dir``, ``summary``).  ``load`` works for every
learner, the batch baselines (Stable-Baselines3) included.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rt_avg import algos
from rt_avg.core import config as config_mod
from rt_avg.core.config import Config, ConfigError
from rt_avg.core.environments import register_env_factory, validate_env_config
from rt_avg.core.result import TrainResult
from rt_avg.run.run_dir import RunDirectory, check_run_path, default_run_path
from rt_avg.run.shutdown import StopRequest

EnvFactory = Callable[..., gym.Env]
FACTORY_NAMESPACE = "rt_avg_api"  # ids given to env factories: rt_avg_api/<Name>-v0


def factory_env_id(factory: EnvFactory) -> str:
    """The env id a factory is registered as (from its name)."""
    name = getattr(factory, "__qualname__", None) or type(factory).__name__
    name = re.sub(r"\W+", "_", name.replace("<locals>.", "")).strip("_") or "Env"
    return f"{FACTORY_NAMESPACE}/{name}-v0"


def _overrides(overrides: Iterable[str] | Mapping[str, Any]) -> list[str]:
    if isinstance(overrides, Mapping):  # {"agent.actor_lr": 1e-4}: JSON is YAML
        return [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
    if isinstance(overrides, str):
        return [overrides]
    return list(overrides)


def resolve_config(config: str | Path | Mapping[str, Any] | Config | None = None, *,
                   env: str | EnvFactory | None = None, algo: str | None = None,
                   mode: str | None = None, steps: int | None = None,
                   seed: int | None = None,
                   overrides: Iterable[str] | Mapping[str, Any] = (),
                   resume: str | Path | None = None, wandb: bool = False) -> Config:
    """The config a run with these arguments uses, checked (ConfigError naming the field).

    ``config``: a YAML file, a ready config's name, a mapping or a Config; without one,
    the ready config of ``env`` (and ``algo``) as ``rt-avg train --env`` picks it.
    ``resume``: the run directory's own config.  ``overrides``: ``section.key=value``
    strings as ``--set`` takes them (or a mapping of ``section.key`` to value)."""
    if resume is not None:
        if config is not None or env is not None:
            raise ConfigError("resume: cannot be combined with config or env; a run continues "
                              "with its own config.yaml (change single settings with overrides)")
        check_run_path(Path(resume), "resume", existing=True)
        cfg = RunDirectory(Path(resume)).load_config()
    elif isinstance(config, Config):
        cfg = config
    elif isinstance(config, Mapping):
        cfg = config_mod.from_dict(config)
    elif config is not None:
        cfg = config_mod.load(config)
    elif isinstance(env, str) or algo is not None:
        cfg = config_mod.ready_config_for_env(env if isinstance(env, str) else Config().env.id,
                                              algo or "avg")
    else:
        cfg = Config()
    sections: dict[str, dict] = {}
    if env is not None and resume is None:
        if callable(env):
            env_id = factory_env_id(env)
            register_env_factory(env_id, env)
        else:
            env_id = env
        sections.setdefault("env", {})["id"] = env_id
    for name, value in (("steps", steps), ("seed", seed), ("mode", mode)):
        if value is not None:
            sections.setdefault("run", {})[name] = value
    if algo is not None:
        sections.setdefault("agent", {})["algo"] = algo
    if wandb:
        sections.setdefault("tracking", {})["wandb"] = True
    if sections:
        cfg = cfg.replace(**sections)
    for text in _overrides(overrides):
        cfg = config_mod.apply_override(cfg, text)
    validate_env_config(cfg.env)
    if not algos.is_batch(cfg.agent.algo):
        algos.get(cfg.agent.algo)  # a learner of one's own that cannot load fails here
    return cfg


def train(config: str | Path | Mapping[str, Any] | Config | None = None, *,
          env: str | EnvFactory | None = None, algo: str | None = None,
          mode: str | None = None, steps: int | None = None, seed: int | None = None,
          overrides: Iterable[str] | Mapping[str, Any] = (),
          run_dir: str | Path | None = None, resume: str | Path | None = None,
          address: str | None = None, progress: bool = False,
          wandb: bool = False) -> TrainResult:
    """Train as ``rt-avg train`` does and return the run (its ``run_dir`` and
    ``summary``).

    ``env``: a Gymnasium id, ``module.path:EnvId`` (the module registers the id), or a
    factory: a callable returning the env (registered as ``rt_avg_api/<its name>-v0``; in
    the real-time modes it travels to the env's Ray worker by value, so it may live in a
    script or a test module).  ``mode``: inline, async or sequential.  ``run_dir``: where
    to write (default ``runs/<env>-s<seed>-<mode>-<time>``); ``resume``: a run directory to
    continue (with ``steps`` to go further).  The other arguments are those of
    :func:`resolve_config`.  Ctrl-C stops the run at the next step with a checkpoint."""
    cfg = resolve_config(config, env=env, algo=algo, mode=mode, steps=steps, seed=seed,
                         overrides=overrides, resume=resume, wandb=wandb)
    if resume is not None:
        run_path = Path(resume)
    else:
        run_path = Path(run_dir) if run_dir is not None else default_run_path(cfg)
        check_run_path(run_path, "run_dir", existing=False)
    with StopRequest() as stop:
        return run_config(cfg, run_path, resume=resume is not None, stop=stop,
                          progress=progress, address=address, print_summary=progress,
                          env_factory=env if callable(env) else None)


def inline_runner(cfg: Config) -> Callable[..., TrainResult]:
    """The inline runner of ``cfg``'s learner: ``train_inline`` for the incremental ones,
    ``train_sb3`` for the batch ones (same signature: cfg, run_path, resume=False,
    stop=None, progress=True -> TrainResult)."""
    if algos.is_batch(cfg.agent.algo):
        from rt_avg.baselines.sb3 import train_sb3

        return train_sb3
    from rt_avg.run.inline import train_inline

    return train_inline


def run_config(cfg: Config, run_path: Path, *, resume: bool = False,
               stop: StopRequest | None = None, progress: bool = True,
               address: str | None = None, env_factory: EnvFactory | None = None,
               print_summary: bool = True) -> TrainResult:
    """Run a checked config with the runner its mode and learner call for (what ``train``
    and ``rt-avg train`` end in)."""
    if cfg.run.mode == "inline":
        return inline_runner(cfg)(cfg, run_path, resume=resume, stop=stop, progress=progress)
    from rt_avg.actors.driver import train_realtime

    with _pickled_by_value(env_factory):
        return train_realtime(cfg, run_path, resume=resume, stop=stop, address=address,
                              progress=progress, print_summary=print_summary,
                              env_factory=env_factory)


@contextlib.contextmanager
def _pickled_by_value(factory: EnvFactory | None) -> Iterator[None]:
    """Ray pickles a class or function by reference (its module's name) unless told
    otherwise, and its workers could not import a script's or a test's module: send the
    factory's module by value."""
    module = sys.modules.get(getattr(factory, "__module__", "") or "")
    if factory is None or module is None or module.__name__ == "__main__" \
            or module.__name__.split(".")[0] in ("rt_avg", "gymnasium"):
        yield
        return
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        cloudpickle.unregister_pickle_by_value(module)


@dataclass
class Policy:
    """A trained run's policy: ``act(obs)`` takes the env's raw observation and returns the
    action to send to the env (in its bounds)."""

    act_fn: Callable[[np.ndarray, bool], np.ndarray]
    step: int
    """The env step of the checkpoint it was loaded from."""
    config: Config
    observation_space: gym.Space
    action_space: gym.Space

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """The action for ``obs``: deterministic (the mean action: evaluation) or sampled."""
        return self.act_fn(np.asarray(obs), deterministic)


def load(run_dir: str | Path, env: str | EnvFactory | gym.Env | None = None,
         trust_run_dir: bool = False) -> Policy:
    """The policy of a run's newest checkpoint, with frozen observation statistics.

    ``env`` gives the spaces when the run's ``env.id`` cannot be made here (a run trained
    from a factory: pass the factory again, or an env).  A module of one's own that the run's
    config.yaml names (``agent.algo``, or ``env.id`` when ``env`` is not given) is imported
    only with ``trust_run_dir``, as for ``rt-avg eval`` (:mod:`rt_avg.run.trust`)."""
    import torch

    from rt_avg.run.checkpoint import load_newest
    from rt_avg.core.environments import make_env
    from rt_avg.run.trust import check_run_dir_imports, module_of

    path = Path(run_dir)
    check_run_path(path, "run_dir", existing=True)
    rd = RunDirectory(path)
    cfg = rd.load_config()
    if not trust_run_dir:
        # an env passed here replaces the run's env.id, so that module is not imported
        replaced = module_of(cfg.env.id) if env is not None else None
        check_run_dir_imports(cfg, rd.config, {replaced} - {None},
                              f"rt_avg.load({str(path)!r}, trust_run_dir=True)",
                              name_again=False)
    ckpt = load_newest(rd.checkpoints)
    if ckpt is None:
        raise ConfigError(f"run_dir: {path} has no usable checkpoint to load a policy from")
    torch.set_num_threads(cfg.run.torch_threads)
    if isinstance(env, gym.Env):
        space_env, owned = env, False
    else:
        if callable(env):
            register_env_factory(cfg.env.id, env)
        elif isinstance(env, str):
            cfg = cfg.replace(env={"id": env})
        space_env, owned = make_env(cfg.env), True
    try:
        act_fn = (_batch_act(cfg, space_env, ckpt.learner) if algos.is_batch(cfg.agent.algo)
                  else _incremental_act(cfg, space_env, ckpt))
        return Policy(act_fn, ckpt.step, cfg, space_env.observation_space,
                      space_env.action_space)
    finally:
        if owned:
            space_env.close()


def _incremental_act(cfg: Config, env: gym.Env, ckpt: Any
                     ) -> Callable[[np.ndarray, bool], np.ndarray]:
    from rt_avg.nn.policy import env_dims

    algo = algos.get(cfg.agent.algo)
    learner = algo.make_learner(cfg, *env_dims(env))
    learner.load_state_dict(ckpt.learner)
    policy = algo.make_policy(cfg, env, None)
    policy.load_state_dict(ckpt.acting_state)
    policy.load_params(learner.policy_params(), learner.updates)
    policy.freeze()

    def act(raw: np.ndarray, deterministic: bool) -> np.ndarray:
        obs = policy.observe(raw)
        return policy.act_deterministic(obs) if deterministic else policy.act(obs).env_action

    return act


def _batch_act(cfg: Config, env: gym.Env, state: dict[str, Any]
               ) -> Callable[[np.ndarray, bool], np.ndarray]:
    from rt_avg.baselines.sb3 import build_model
    from rt_avg.baselines.state import load_model_state

    model = build_model(cfg, env)
    load_model_state(model, state)
    return lambda raw, deterministic: model.predict(raw, deterministic=deterministic)[0]

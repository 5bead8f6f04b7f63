"""Batch SAC, TD3 and PPO through Stable-Baselines3, on rt-avg's envs and run directory.

The env is :func:`rt_avg.core.environments.make_env` (the same wrappers), every episode is
reset with the run's per-episode seed (:func:`rt_avg.core.environments.episode_seed`, as the
incremental learners' runs), and the run directory is the common one: ``config.yaml``,
``episodes.csv`` (same columns), ``metrics.jsonl`` (SB3's ``train/...`` values as
``losses/...`` every ``run.metrics_every`` env steps) and ``checkpoints/step_<N>.pt``
(tensors and plain data, :mod:`rt_avg.baselines.state`).  Ctrl-C stops at the next step
with a checkpoint; ``--resume`` continues from it with the networks, optimisers, counters
and replay buffer, restarting the interrupted episode from its reset seed (and, for PPO,
starting a new rollout).

Settings (``batch`` section, SB3's defaults where null; networks of ``agent.hidden_sizes``
with SB3's activations, ``agent.gamma``):

- sac/td3: ``buffer_size`` is the replay capacity (capped at ``run.steps``, which it never
  exceeds anyway; a run continued to more steps gets a larger buffer that keeps the saved
  transitions, :func:`rt_avg.baselines.state.load_replay`), ``batch_size`` the minibatch
  (cut to ``buffer_size``), ``learning_starts`` the random warm-up; one gradient step per
  env step.  TD3 explores with Gaussian action noise of std 0.1 (its paper's setting).
  Buffer size 1: every update learns from the newest transition only.
- ppo: ``buffer_size`` is the rollout length ``n_steps``, ``batch_size`` the minibatch
  (cut to the rollout), ``n_epochs`` passes per rollout.  With a minibatch of one, the
  advantage is not normalised (the mean and spread of one number are undefined).

SB3 maps its policy's [-1, 1] output affinely onto the env's action bounds for SAC and
TD3 and clips PPO's Gaussian actions to them; ``env.action_mode`` applies to rt-avg's own
learners only.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch

from rt_avg.baselines.state import load_model_state, model_state, replay_transitions
from rt_avg.run.checkpoint import Checkpoint
from rt_avg.run.checkpoint_files import periodic_checkpoint
from rt_avg.core.config import Config, ConfigError
from rt_avg.core.environments import episode_seed, make_env
from rt_avg.run.inline import TrainResult
from rt_avg.run.progress import Progress
from rt_avg.run.resume import ResumeError, check_state, check_task, commit_resume, resume_checkpoint
from rt_avg.run.run_dir import RunClaim, RunDirectory
from rt_avg.run.shutdown import StopRequest
from rt_avg.run.sink import LocalSink

DEFAULTS = {"sac": {"buffer_size": 1_000_000, "batch_size": 256, "learning_starts": 100},
            "td3": {"buffer_size": 1_000_000, "batch_size": 256, "learning_starts": 100},
            "ppo": {"buffer_size": 2048, "batch_size": 64, "learning_starts": 0}}
TD3_NOISE_STD = 0.1
SETTINGS = ("train/n_updates", "train/learning_rate", "train/clip_range")
"""SB3 ``train/`` values that are counters or settings, not measurements."""


def resolved(cfg: Config) -> dict[str, int]:
    """The effective buffer_size, batch_size and learning_starts of ``cfg``'s batch learner."""
    algo = cfg.agent.algo
    if algo not in DEFAULTS:
        raise ConfigError(f"agent.algo: got {algo!r}, the batch learners are "
                          f"{', '.join(DEFAULTS)}")
    given = {k: getattr(cfg.batch, k) for k in DEFAULTS[algo]}
    out = {k: DEFAULTS[algo][k] if v is None else v for k, v in given.items()}
    if algo != "ppo":  # never more than the run's steps: the same buffer, less memory
        out["buffer_size"] = min(out["buffer_size"], cfg.run.steps)
    out["batch_size"] = min(out["batch_size"], out["buffer_size"])
    return out


class EpisodeBook(gym.Wrapper):
    """Resets every episode with the run's per-episode seed (whatever seed SB3 passes) and
    reports each finished episode (env steps so far, index, return, length)."""

    def __init__(self, env: gym.Env, seed: int, on_episode: Callable[..., None],
                 step: int = 0, episode: int = 0) -> None:
        super().__init__(env)
        self.run_seed, self.on_episode = seed, on_episode
        self.steps, self.episode = step, episode
        self.ret, self.length = 0.0, 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
        self.ret, self.length = 0.0, 0
        return self.env.reset(seed=episode_seed(self.run_seed, self.episode), options=options)

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        self.length += 1
        self.ret += float(reward)
        if terminated or truncated:
            self.on_episode(self.steps, self.episode, self.ret, self.length)
            self.episode += 1
        return obs, reward, terminated, truncated, info


def build_model(cfg: Config, env: gym.Env) -> Any:
    """The SB3 model ``cfg.agent.algo`` names, seeded with ``cfg.run.seed``, on the CPU."""
    from stable_baselines3 import PPO, SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise

    algo, knobs = cfg.agent.algo, resolved(cfg)
    common = {"learning_rate": cfg.batch.learning_rate, "gamma": cfg.agent.gamma,
              "seed": cfg.run.seed, "device": "cpu", "verbose": 0,
              "batch_size": knobs["batch_size"]}
    net = list(cfg.agent.hidden_sizes)
    if algo == "ppo":
        with warnings.catch_warnings():  # a rollout that is not a multiple of the minibatch
            warnings.filterwarnings("ignore", message=".*mini-batch size")
            return PPO("MlpPolicy", env, n_steps=knobs["buffer_size"],
                       n_epochs=cfg.batch.n_epochs,
                       normalize_advantage=knobs["batch_size"] > 1,
                       policy_kwargs={"net_arch": {"pi": net, "vf": net}}, **common)
    off_policy = {"buffer_size": knobs["buffer_size"], "learning_starts": knobs["learning_starts"],
                  "policy_kwargs": {"net_arch": net}, **common}
    if algo == "sac":
        return SAC("MlpPolicy", env, **off_policy)
    dim = env.action_space.shape[0]
    noise = NormalActionNoise(np.zeros(dim), TD3_NOISE_STD * np.ones(dim))
    return TD3("MlpPolicy", env, action_noise=noise, **off_policy)


def _sb3_callbacks(on_step: Callable[[int], bool], on_metrics: Callable[..., None]
                   ) -> tuple[Any, Any]:
    """A callback SB3 calls after every env step (return False to stop) and a logger
    output that receives SB3's recorded values when they are dumped."""
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import KVWriter

    class Hooks(BaseCallback):
        def _on_step(self) -> bool:
            return on_step(int(self.num_timesteps))

    class Metrics(KVWriter):
        def write(self, key_values: dict, key_excluded: dict, step: int = 0) -> None:
            losses = {f"losses/{k.split('/', 1)[1]}": float(v) for k, v in key_values.items()
                      if k.startswith("train/") and k not in SETTINGS
                      and isinstance(v, (int, float, np.number)) and np.isfinite(v)}
            if losses:
                on_metrics(step, int(key_values.get("train/n_updates", 0)), losses)

        def close(self) -> None:
            pass

    return Hooks(), Metrics()


def check_model_state(run_dir: RunDirectory, cfg: Config, ckpt: Checkpoint, model: Any) -> None:
    """Raise ResumeError unless ``model`` (built from ``cfg``) can continue from ``ckpt``
    (:func:`rt_avg.run.resume.check_state`: the task, the networks' shapes; and the replay
    buffer must hold the saved transitions); on success the checkpoint's state is loaded
    into ``model``."""
    check_task(run_dir.load_config(), cfg, ckpt)
    saved = ckpt.learner
    replay, buffer = saved.get("replay"), getattr(model, "replay_buffer", None)
    if replay is not None and buffer is not None and (
            replay_transitions(replay) > buffer.buffer_size):
        raise ResumeError(
            f"batch.buffer_size: the replay buffer of the checkpoint at step {ckpt.step} holds "
            f"{replay_transitions(replay)} transitions; this config's holds "
            f"{buffer.buffer_size} (batch.buffer_size {cfg.batch.buffer_size}, at most "
            f"run.steps {cfg.run.steps}). A resumed run keeps every transition it learned "
            f"from: keep batch.buffer_size at least {replay_transitions(replay)}. Nothing was "
            "changed")
    check_state(run_dir, cfg, ckpt, {"parameters": model.get_parameters()},
                {"parameters": saved.get("parameters")}, lambda: load_model_state(model, saved))


def train_sb3(cfg: Config, run_path: Path, resume: bool = False,
              stop: StopRequest | None = None, progress: bool = True) -> TrainResult:
    """Train ``cfg.agent.algo`` (sac, td3 or ppo) for ``cfg.run.steps`` env steps inline,
    writing ``run_path`` like :func:`rt_avg.run.inline.train_inline` (and, as it does, holding
    the run directory for the whole run: :class:`rt_avg.run.run_dir.RunClaim`)."""
    torch.set_num_threads(cfg.run.torch_threads)
    stop = stop if stop is not None else StopRequest()
    with RunClaim(run_path, resume) as claim:
        run_dir = claim.run_dir
        ckpt = resume_checkpoint(run_dir) if resume else None  # none: refused before anything
        if ckpt is not None:  # before the env and the model are built: the quick refusals
            check_task(run_dir.load_config(), cfg, ckpt)
        # A resumed run restarts the interrupted episode from its reset seed.  Episodes are
        # reported to the run's logs once they are open (_learn).
        env = EpisodeBook(make_env(cfg.env), cfg.run.seed, lambda *episode: None,
                          ckpt.step if ckpt else 0, int(ckpt.env_loop["episode"]) if ckpt else 0)
        try:
            model = build_model(cfg, env)
            if ckpt is not None:  # validate everything, then write (see rt_avg.run.resume)
                check_model_state(run_dir, cfg, ckpt, model)
                commit_resume(run_dir, cfg, ckpt)
            else:
                run_dir.create(cfg)
        except BaseException:
            env.close()
            raise
        claim.started()
        return _learn(cfg, run_dir, ckpt, env, model, stop, progress)


def _learn(cfg: Config, run_dir: RunDirectory, ckpt: Checkpoint | None, env: EpisodeBook,
           model: Any, stop: StopRequest, progress: bool) -> TrainResult:
    """The run itself, once its directory is set up (or its resume checked and recorded)."""
    from stable_baselines3.common.logger import Logger

    run_path = run_dir.path
    sink = LocalSink(cfg, run_dir, ckpt.wall_time_s if ckpt else 0.0)
    bar = Progress(cfg.run.steps, ckpt.step if ckpt else 0) if progress else None
    t_start = time.monotonic()

    wall = sink.wall_s

    def on_episode(step: int, episode: int, ret: float, length: int) -> None:
        sink.episode(step, episode, ret, length)
        if bar:
            bar.episode(ret)

    env.on_episode = on_episode

    def checkpoint() -> None:
        sink.save_checkpoint(Checkpoint(env.steps, wall(), cfg.agent.algo, model_state(model),
                                        {"step": env.steps, "episode": env.episode}))

    def on_metrics(step: int, updates: int, losses: dict[str, float]) -> None:
        row = {"step": step, "updates": updates, "wall_time_s": wall(), **losses}
        sink.metrics(row)

    def on_step(step: int) -> bool:
        if step % cfg.run.metrics_every == 0:
            model.logger.dump(step)
        if step % cfg.run.checkpoint_every == 0:
            periodic_checkpoint(checkpoint, cfg.run.checkpoint_errors)
        if bar:
            bar.update(step)
        # PPO checks the step budget between rollouts only: stop it mid-rollout at the end.
        return not stop.at_step(step) and (step < cfg.run.steps or cfg.agent.algo != "ppo")

    hooks, metrics = _sb3_callbacks(on_step, on_metrics)
    model.set_logger(Logger(None, [metrics]))
    try:
        if env.steps < cfg.run.steps:
            # SB3 counts the steps to take from where the model is (0 unless resumed).
            model.learn(cfg.run.steps - env.steps, callback=hooks, log_interval=None,
                        reset_num_timesteps=ckpt is None)
    finally:  # done, Ctrl-C or an exception: keep what was learned
        if env.steps % cfg.run.metrics_every:
            model.logger.dump(env.steps)
        checkpoint()
        sink.close()
        model.env.close()
        if bar:
            bar.close()
    return TrainResult(run_path, env.steps, env.episode, bool(stop), time.monotonic() - t_start,
                       stop.signal_name)

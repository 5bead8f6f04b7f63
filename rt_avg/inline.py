"""The inline runner: one process, no Ray; act, step, update, repeat.

This is the fastest way to run a simulated task (sweeps, debugging) and the reference
the sequential real-time mode must reproduce exactly.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from rt_avg import algos
from rt_avg.checkpoint import Checkpoint, CheckpointWriteError, save_checkpoint
from rt_avg.config import Config
from rt_avg.core import Learner
from rt_avg.env_loop import EnvLoop
from rt_avg.environments import make_env
from rt_avg.finite import (NonFiniteError, check_env_step, check_metrics, check_observation,
                           check_weights)
from rt_avg.metrics import MetricsWindow
from rt_avg.policy import env_dims
from rt_avg.progress import Progress
from rt_avg.result import TrainResult
from rt_avg.resume import check_resume, commit_resume, resume_checkpoint
from rt_avg.run_dir import RunDirectory, RunLog
from rt_avg.shutdown import StopRequest
from rt_avg.tracking.tracker import make_tracker


def make_checkpoint(cfg: Config, learner: Learner, loop: EnvLoop,
                    wall_time_s: float) -> Checkpoint:
    return Checkpoint(loop.state.step, wall_time_s, cfg.agent.algo, learner.state_dict(),
                      loop.state_dict())


def train_inline(cfg: Config, run_path: Path, resume: bool = False,
                 stop: StopRequest | None = None, progress: bool = True) -> TrainResult:
    """Train for ``cfg.run.steps`` env steps in one process, writing ``run_path``."""
    torch.set_num_threads(cfg.run.torch_threads)
    stop = stop if stop is not None else StopRequest()
    run_dir = RunDirectory(run_path)
    ckpt = resume_checkpoint(run_dir) if resume else None  # none: refused before anything
    algo = algos.get(cfg.agent.algo)
    env = make_env(cfg.env)
    try:
        learner = algo.make_learner(cfg, *env_dims(env))
        policy = algo.make_policy(cfg, env, learner)
        loop = EnvLoop(env, policy, cfg.run.seed)
        if ckpt is not None:  # validate everything, then write (see rt_avg.resume)
            check_resume(run_dir, cfg, ckpt, learner)
            loop.load_state_dict(ckpt.env_loop)
            commit_resume(run_dir, cfg, ckpt)
        else:
            run_dir.create(cfg)
            loop.start()
            check_observation(0, loop.state.obs)
    except BaseException:
        env.close()
        raise
    wall_offset = ckpt.wall_time_s if ckpt is not None else 0.0

    log = RunLog(run_dir)
    tracker = make_tracker(cfg, run_path)
    window = MetricsWindow()
    bar = Progress(cfg.run.steps, loop.state.step) if progress else None
    t_start = time.monotonic()
    unsaved = False  # the state is not finite, or the disk refused it: keep the last one
    try:
        while loop.state.step < cfg.run.steps and not stop:
            result = loop.step()
            step = loop.state.step
            tr = result.transition
            check_env_step(step, tr.reward, loop.state.obs,
                           tr.next_obs if result.episode is not None else None,
                           loop.state.raw_obs)
            if step > cfg.run.learning_starts:
                t0 = time.perf_counter_ns()
                metrics = learner.update(tr)
                update_ns = time.perf_counter_ns() - t0
                check_metrics(step, learner.updates, metrics)
                check_weights(step, learner.updates, learner.policy_params())
                window.add(metrics, update_ns)
                policy.load_params(learner.policy_params(), learner.updates)
            if result.episode is not None:
                ep = result.episode
                log.episode(ep.step, ep.episode, ep.ret, ep.length,
                            wall_offset + time.monotonic() - t_start)
                tracker.log_episode(ep.step, ep.episode, ep.ret, ep.length)
                if bar:
                    bar.episode(ep.ret)
            if len(window) >= cfg.run.metrics_every:
                row = window.flush(step=step, updates=learner.updates,
                                   wall_time_s=wall_offset + time.monotonic() - t_start)
                log.metrics(row)
                tracker.log_metrics(step, row)
            if step % cfg.run.checkpoint_every == 0:
                save_checkpoint(run_dir.checkpoints,
                                make_checkpoint(cfg, learner, loop,
                                                wall_offset + time.monotonic() - t_start),
                                cfg.run.keep_checkpoints)
            if bar:
                bar.update(step)
    except (NonFiniteError, CheckpointWriteError):
        unsaved = True
        raise
    finally:
        # Whatever ended the loop (done, Ctrl-C, an exception), keep what was learned.
        try:
            if len(window):
                row = window.flush(step=loop.state.step, updates=learner.updates,
                                   wall_time_s=wall_offset + time.monotonic() - t_start)
                log.metrics(row)
                tracker.log_metrics(loop.state.step, row)
            if not unsaved:
                save_checkpoint(run_dir.checkpoints,
                                make_checkpoint(cfg, learner, loop,
                                                wall_offset + time.monotonic() - t_start),
                                cfg.run.keep_checkpoints)
        finally:
            log.close()
            tracker.finish(run_path)
            env.close()
            if bar:
                bar.close()
    return TrainResult(run_path, loop.state.step, loop.state.episode, bool(stop),
                       time.monotonic() - t_start, stop.signal_name)

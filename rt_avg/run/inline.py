"""The inline runner: one process, no Ray; act, step, learn, repeat.

This is the fastest way to run a simulated task (sweeps, debugging) and the reference
the sequential real-time mode must reproduce exactly (both learn through
:class:`rt_avg.run.learn_step.LearnStep`).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from rt_avg import algos
from rt_avg.run.checkpoint import Checkpoint, CheckpointWriteError
from rt_avg.core.config import Config
from rt_avg.core import Acting, Learner
from rt_avg.run.env_loop import EnvLoop
from rt_avg.core.environments import make_env
from rt_avg.core.finite import NonFiniteError, check_env_step, check_observation
from rt_avg.run.learn_step import LearnStep
from rt_avg.nn.policy import env_dims
from rt_avg.run.progress import Progress
from rt_avg.core.result import TrainResult
from rt_avg.run.resume import check_resume, commit_resume, resume_checkpoint
from rt_avg.run.run_dir import RunClaim
from rt_avg.run.shutdown import StopRequest
from rt_avg.run.sink import LocalSink


def make_checkpoint(cfg: Config, learner: Learner, loop: EnvLoop,
                    wall_time_s: float) -> Checkpoint:
    return Checkpoint(loop.state.step, wall_time_s, cfg.agent.algo, learner.state_dict(),
                      loop.state_dict())


def train_inline(cfg: Config, run_path: Path, resume: bool = False,
                 stop: StopRequest | None = None, progress: bool = True) -> TrainResult:
    """Train for ``cfg.run.steps`` env steps in one process, writing ``run_path`` (which
    this process holds for the whole run: see :class:`rt_avg.run.run_dir.RunClaim`)."""
    torch.set_num_threads(cfg.run.torch_threads)
    stop = stop if stop is not None else StopRequest()
    with RunClaim(run_path, resume) as claim:
        run_dir = claim.run_dir
        ckpt = resume_checkpoint(run_dir) if resume else None  # none: refused before anything
        algo = algos.get(cfg.agent.algo)
        env = make_env(cfg.env)
        try:
            learner = algo.make_learner(cfg, *env_dims(env))
            policy = algo.make_policy(cfg, env, learner)
            loop = EnvLoop(env, policy, cfg.run.seed)
            if ckpt is not None:  # validate everything, then write (see rt_avg.run.resume)
                check_resume(run_dir, cfg, ckpt, learner)
                loop.load_state_dict(ckpt.env_loop)
                commit_resume(run_dir, cfg, ckpt)
            else:
                loop.start()
                check_observation(0, loop.state.obs)
                run_dir.create(cfg)
            sink = LocalSink(cfg, run_dir, ckpt.wall_time_s if ckpt is not None else 0.0)
        except BaseException:
            env.close()
            raise
        claim.started()
        return _run(cfg, learner, policy, loop, sink, stop, progress)


def _run(cfg: Config, learner: Learner, policy: Acting, loop: EnvLoop, sink: LocalSink,
         stop: StopRequest, progress: bool) -> TrainResult:
    def checkpoint(env_step: int) -> None:
        assert env_step == loop.state.step  # every step is learned from: no skips inline
        sink.save_checkpoint(make_checkpoint(cfg, learner, loop, sink.wall_s()))

    learn = LearnStep(cfg, learner, wall_s=sink.wall_s, metrics=sink.metrics,
                      checkpoint=checkpoint, start_step=loop.state.step,
                      publish=lambda: policy.load_params(learner.policy_params(),
                                                         learner.updates))
    bar = Progress(cfg.run.steps, loop.state.step) if progress else None
    t_start = time.monotonic()
    unsaved = False  # the state is not finite, or the disk refused it: keep the last one
    try:
        while loop.state.step < cfg.run.steps and not stop.at_step(loop.state.step):
            result = loop.step()
            step = loop.state.step
            tr = result.transition
            check_env_step(step, tr.reward, loop.state.obs,
                           tr.next_obs if result.episode is not None else None,
                           loop.state.raw_obs)
            if result.episode is not None:
                ep = result.episode
                sink.episode(ep.step, ep.episode, ep.ret, ep.length)
                if bar:
                    bar.episode(ep.ret)
            learn(tr, step)
            if bar:
                bar.update(step)
    except (NonFiniteError, CheckpointWriteError):
        unsaved = True
        raise
    finally:
        # Whatever ended the loop (done, Ctrl-C, an exception), keep what was learned.
        try:
            learn.flush_metrics()
            if not unsaved:
                checkpoint(loop.state.step)
        finally:
            sink.close()
            loop.env.close()
            if bar:
                bar.close()
    return TrainResult(sink.run_dir.path, loop.state.step, loop.state.episode, bool(stop),
                       time.monotonic() - t_start, stop.signal_name)

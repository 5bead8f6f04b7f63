"""Continuing a run (``rt-avg train --resume RUN_DIR``): check everything, then write.

Order, whatever the mode:

1. :func:`resume_checkpoint` - the newest checkpoint that loads (a truncated or damaged
   newest one is skipped with a message); none at all is an error, before anything starts.
2. :func:`check_resume` - the config (with the ``--set`` changes) must fit the checkpoint:
   the same ``agent.algo`` and ``env.id``, a ``run.steps`` not below the checkpoint's
   step, and a learner built from it must have the checkpoint's shapes
   (``agent.hidden_sizes`` and the env's sizes); the state is loaded into that learner.
   The batch learners do the same through :func:`check_state`
   (:mod:`rt_avg.baselines.sb3`), and their replay buffer must hold the saved one.
3. :func:`commit_resume` - the logs must be readable (:func:`check_logs`); only then the
   run directory changes: log rows newer than the checkpoint (which the resumed run
   writes again) are dropped, and ``config.yaml`` records the changed config.

A refused resume leaves the run directory byte-identical.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from typing import Any, Callable

import numpy as np
import torch

from rt_avg.core import config as config_mod
from rt_avg.run.checkpoint import Checkpoint, load_newest
from rt_avg.run.checkpoint_files import list_checkpoints
from rt_avg.core.config import Config, ConfigError
from rt_avg.core import Learner
from rt_avg.run.run_dir import RunDirectory


MAX_ACTION_SEARCH = 32  # action sizes tried for a checkpoint taken at an episode's start


class ResumeError(ConfigError):
    """The run cannot be continued as asked; nothing was changed."""


def resume_checkpoint(run_dir: RunDirectory) -> Checkpoint:
    """The newest usable checkpoint of ``run_dir``; ResumeError if there is none."""
    ckpt = load_newest(run_dir.checkpoints)
    if ckpt is None:
        if list_checkpoints(run_dir.checkpoints):  # all of them damaged
            raise ResumeError(f"--resume: {run_dir.path} has no usable checkpoint in "
                              f"{run_dir.checkpoints}; nothing was changed. Start a new run "
                              "with --run-dir instead")
        raise ResumeError(f"--resume: {run_dir.path} has no checkpoint in "
                          f"{run_dir.checkpoints} (the run stopped before its first one, "
                          "or they were removed), so there is no usable checkpoint to "
                          "continue from; nothing was changed. Start it again in place with "
                          f"rt-avg train --run-dir {run_dir.path} --restart (its config.yaml "
                          "is used), or start a new run with --run-dir")
    return ckpt


def _changed(old: Any, new: Any, prefix: str) -> list[str]:
    return [f"{prefix}.{f.name} {getattr(old, f.name)!r} -> {getattr(new, f.name)!r}"
            for f in dataclasses.fields(old) if getattr(old, f.name) != getattr(new, f.name)]


def _shape_mismatch(expected: Any, saved: Any, path: str) -> str | None:
    """The first tensor or array whose shape differs between a fresh learner's state and a
    saved one (or that the saved one lacks)."""
    if isinstance(expected, (torch.Tensor, np.ndarray)):
        if not isinstance(saved, (torch.Tensor, np.ndarray)):
            return f"{path} is missing from the checkpoint"
        if tuple(saved.shape) != tuple(expected.shape):
            return (f"{path} has shape {list(saved.shape)} in the checkpoint and "
                    f"{list(expected.shape)} with this config")
        return None
    if isinstance(expected, dict):
        for key, value in expected.items():
            sub = f"{path}.{key}"
            if not isinstance(saved, dict) or key not in saved:
                if isinstance(value, (torch.Tensor, np.ndarray, dict)):
                    return f"{sub} is missing from the checkpoint"
                continue
            if (found := _shape_mismatch(value, saved[key], sub)) is not None:
                return found
    elif isinstance(expected, (list, tuple)) and isinstance(saved, (list, tuple)):
        for i, (a, b) in enumerate(zip(expected, saved)):
            if (found := _shape_mismatch(a, b, f"{path}[{i}]")) is not None:
                return found
    return None


def check_task(old: Config, cfg: Config, ckpt: Checkpoint) -> None:
    """The same algorithm on the same task, continued to a step count it has not passed;
    or ResumeError."""
    if ckpt.algo != cfg.agent.algo:
        raise ResumeError(f"agent.algo: the checkpoint at step {ckpt.step} was written by "
                          f"{ckpt.algo!r}; it cannot continue as {cfg.agent.algo!r}. Nothing "
                          "was changed; start a new run with --run-dir for another algorithm")
    if old.env.id != cfg.env.id:
        raise ResumeError(f"env.id: the run trained on {old.env.id!r}; it cannot continue on "
                          f"{cfg.env.id!r}. Nothing was changed")
    if cfg.run.steps < ckpt.step:
        raise ResumeError(f"run.steps: got {cfg.run.steps}, but the run is at step "
                          f"{ckpt.step} already; continue it to more steps (e.g. --steps "
                          f"{2 * ckpt.step}). Nothing was changed")


def check_state(run_dir: RunDirectory, cfg: Config, ckpt: Checkpoint, expected: Any,
                saved: Any, load: Callable[[], None]) -> None:
    """Raise ResumeError unless ``cfg`` can continue from ``ckpt``: the same task
    (:func:`check_task`), a learner state ``expected`` (a fresh learner's, built from
    ``cfg``) with the shapes of ``saved`` (the checkpoint's), and ``load`` (which loads
    the saved state into that learner) succeeding."""
    old = run_dir.load_config()
    check_task(old, cfg, ckpt)
    changes = "; ".join(_changed(old.agent, cfg.agent, "agent")) or "no agent setting changed"
    mismatch = _shape_mismatch(expected, saved, "learner")
    if mismatch is None:
        try:
            load()
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
            mismatch = f"the learner refused its state ({type(exc).__name__}: {exc})"
    if mismatch is not None:
        raise ResumeError(f"the config does not fit the checkpoint at step {ckpt.step}: "
                          f"{mismatch} ({changes}). A run keeps the network of its "
                          "checkpoint: drop the --set that changes it (or restore "
                          "config.yaml), or start a new run with --run-dir. Nothing was "
                          "changed")


def check_resume(run_dir: RunDirectory, cfg: Config, ckpt: Checkpoint,
                 learner: Learner) -> None:
    """Raise ResumeError unless ``cfg`` can continue from ``ckpt``; on success the
    checkpoint's learner state is loaded into ``learner`` (built from ``cfg``)."""
    check_state(run_dir, cfg, ckpt, learner.state_dict(), ckpt.learner,
                lambda: learner.load_state_dict(ckpt.learner))


def check_resume_early(run_dir: RunDirectory, cfg: Config, ckpt: Checkpoint) -> None:
    """:func:`check_resume` before the env exists (the real-time modes make it in its own
    process, after the run directory is opened): the learner is built for the sizes the
    checkpoint shows (its observation; its episode's actions, or else the action size at
    which the run's own config fits it).  Without such sizes only the real check remains."""
    from rt_avg import algos

    old = run_dir.load_config()
    check_task(old, cfg, ckpt)
    obs = ckpt.env_loop.get("obs")
    if obs is None:
        return
    obs_dim = int(np.asarray(obs).shape[-1])
    actions = np.asarray(ckpt.env_loop.get("episode_actions", ()))
    sizes = [actions.shape[1]] if actions.ndim == 2 else range(1, MAX_ACTION_SEARCH + 1)
    make = algos.get(cfg.agent.algo).make_learner  # = the checkpoint's algorithm
    for act_dim in sizes:
        if _shape_mismatch(make(old, obs_dim, act_dim).state_dict(), ckpt.learner,
                           "learner") is None:
            learner = algos.get(cfg.agent.algo).make_learner(cfg, obs_dim, act_dim)
            check_resume(run_dir, cfg, ckpt, learner)
            return


def _episode_row(line: str) -> bool:
    fields = next(csv.reader([line]))
    if len(fields) != 5:
        return False
    int(fields[0]), int(fields[1]), float(fields[2]), int(fields[3]), float(fields[4])
    return True


def _metrics_row(line: str) -> bool:
    row = json.loads(line)
    return isinstance(row, dict) and isinstance(row.get("step", 0), int)


def check_logs(run_dir: RunDirectory) -> None:
    """ResumeError naming the file and line of a log row that cannot be read (a partial
    last row is not one: the resume drops it, with a note)."""
    for path, is_row, header, what in (
            (run_dir.episodes, _episode_row, 1, "row of step,episode,return,length,wall_time_s"),
            (run_dir.metrics, _metrics_row, 0, "JSON object with an integer step")):
        if not path.is_file():
            raise ResumeError(f"--resume: {path} is missing; {run_dir.path} is not a whole "
                              "run directory. Nothing was changed")
        with open(path, newline="") as f:
            lines = f.readlines()
        if lines and not lines[-1].endswith("\n"):
            lines = lines[:-1]
        for number, line in enumerate(lines[header:], start=header + 1):
            try:
                good = not line.strip() or is_row(line)
            except (ValueError, TypeError):
                good = False
            if not good:
                raise ResumeError(f"--resume: {path}, line {number}: {line.strip()[:60]!r} is "
                                  f"not a {what}; a resumed run appends to its logs as they "
                                  "are: repair or remove that line. Nothing was changed")


def commit_resume(run_dir: RunDirectory, cfg: Config, ckpt: Checkpoint) -> None:
    """After :func:`check_resume`: check the logs (:func:`check_logs`), drop their rows
    newer than the checkpoint (the resumed run writes them again), then record a changed
    config."""
    check_logs(run_dir)
    run_dir.truncate_after(ckpt.step)
    if run_dir.load_config() != cfg:
        config_mod.save(cfg, run_dir.config)

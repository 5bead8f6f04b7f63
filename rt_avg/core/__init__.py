"""The vocabulary every runner speaks: a transition, a learner and the acting side.

Beside it in this package: ``config`` (the typed run configuration), ``env_kwargs`` and
``environments`` (checking and making envs), ``actions`` (the [-1, 1] -> env bounds map),
``finite`` (NaN/inf stop a run), ``result`` (what a run returns) and ``pacing``
(fixed-period cycles, for the runners and for robot tasks that pace themselves).

A run, whatever its mode, is this loop (inline: one process; sequential and async: the
acting side in the env process, the learner in its own, meeting through channels; the
learning half is :class:`rt_avg.run.learn_step.LearnStep` in every mode)::

    learner = algo.make_learner(cfg, obs_dim, act_dim)         # learning side
    policy = algo.make_policy(cfg, env, learner)               # acting side (learner: None
                                                               # in the real-time modes)
    policy.load_params(learner.policy_params(), learner.updates)
    obs = policy.observe(env.reset())
    while running:
        sample = policy.act(obs)                               # microseconds
        raw, r, term, trunc, _ = env.step(sample.env_action)
        next_obs = policy.observe(raw)
        metrics = learner.update(Transition(obs, sample.action, sample.eps, r, next_obs,
                                            term, trunc, policy.version))
        policy.load_params(learner.policy_params(), learner.updates)  # every sync_every
        obs = next_obs (or the next episode's first observation)

Runners, evaluation, checkpoints and metrics use only what is declared here; which
algorithm runs is ``cfg.agent.algo`` (see :mod:`rt_avg.algos`).

Edge cases:

* Termination vs truncation: both end the episode; only ``terminated`` stops bootstrapping.
* A stale policy (async mode): ``action`` and ``eps`` are what the acting policy executed,
  possibly several updates older than the learner.  R and S' belong to ``action``.
* Observations in a transition are already normalised by the acting side.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # the acting side runs without torch
    import torch


class ConfigError(ValueError):
    """Bad input: a config value, flag or file that is unknown, of the wrong type or out of
    range; the message names the field and what is allowed (also importable from
    :mod:`rt_avg.core.config`)."""


@dataclass
class Transition:
    """One step of experience (observations normalised, float32)."""

    obs: np.ndarray
    action: np.ndarray  # the executed action in [-1, 1] (before mapping to env bounds)
    eps: np.ndarray  # the standard-normal noise that produced it: u = mu + std * eps
    reward: float
    next_obs: np.ndarray
    terminated: bool
    truncated: bool
    policy_version: int | None = None
    """``Learner.updates`` of the weights that acted; None: the learner's current ones."""


@dataclass
class ActionSample:
    """One sampled action: what the env gets, what the learner needs to recompute it."""

    env_action: np.ndarray  # mapped to the env's bounds, float64
    action: np.ndarray  # tanh(u), in [-1, 1]
    eps: np.ndarray  # the standard-normal noise: u = mu + std * eps


@runtime_checkable
class Learner(Protocol):
    """Learns from one transition at a time."""

    updates: int
    """Updates done so far (the version of the published policy parameters)."""

    def update(self, t: Transition) -> dict[str, float]:
        """One update from ``t``; returns metrics named ``losses/...`` (floats)."""

    def policy_params(self) -> "torch.Tensor":
        """The acting policy's parameters as one flat float32 vector (a live view: copy it
        before the next update if it must not change)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (tensors, numbers, strings, lists, dicts)."""

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class Acting(Protocol):
    """The acting side: normalises observations and samples actions (inference only)."""

    version: int
    """The version (``Learner.updates``) of the parameters it acts with."""

    def observe(self, raw_obs: np.ndarray) -> np.ndarray:
        """Normalise an env observation, updating the statistics unless frozen."""

    def act(self, obs: np.ndarray) -> ActionSample: ...

    def act_deterministic(self, obs: np.ndarray) -> np.ndarray:
        """The evaluation action, mapped to the env's bounds."""

    def warm_up(self, obs: np.ndarray) -> None:
        """A throw-away pass that changes no state (brings code and weights into cache)."""

    def load_params(self, flat: "torch.Tensor | np.ndarray", version: int) -> None:
        """Install parameters from :meth:`Learner.policy_params` (or a copy of them)."""

    def freeze(self) -> None:
        """Stop updating observation statistics (evaluation)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


# ----------------------------------------------------------------------------- robot tasks
# What a robot task offers a real-time runner.  A robot task sends its command in ``step``
# and then reads its sensors.  Read at once, the reading would describe the moment the
# command left, not the end of the control cycle, so the task lets the runner wait for the
# cycle boundary in between (``set_cycle_waiter``).  And whatever ends a run, the runner must
# be able to bring the robot to a standstill (``stop``).  Plain simulations implement neither.


class ResetInterrupted(RuntimeError):
    """A reset (a move home, a charging wait) was cut short by ``stop()``; the robot was
    stopped before this was raised."""


@runtime_checkable
class RealtimeTask(Protocol):
    """A task that drives a robot (or a twin on wall-clock time) from a real-time runner."""

    def set_cycle_waiter(self, fn: Callable[[], None] | None) -> bool:
        """Call ``fn()`` in ``step`` between sending the command and reading the sensors.

        Returns True when the task will call it (a robot, a twin on the wall clock); False
        when it keeps its own time (a twin stepped in simulated time), in which case the
        runner paces the cycles itself.  ``None`` removes the waiter.
        """
        ...

    def stop(self) -> None:
        """Bring the robot to a standstill now; idempotent, callable from any thread.

        A reset in progress (a move home, a charging wait) is cut short: it stops the robot
        and raises in the thread that runs it.
        """
        ...

"""Action Value Gradient (Vasan et al., NeurIPS 2024): incremental, no buffer, no target.

* :mod:`.reference` - the update in plain PyTorch (autograd, ``torch.optim.Adam``): read
  this first.
* :mod:`.learner` - the same update with hand-written backward passes and a flat Adam,
  a few hundred microseconds on one CPU thread; pinned to the reference by the tests.
"""

from __future__ import annotations

import gymnasium as gym

from rt_avg.algos import Algorithm
from rt_avg.algos.avg.learner import AVGLearner
from rt_avg.config import Config
from rt_avg.policy import Policy, build_policy


def make_learner(cfg: Config, obs_dim: int, act_dim: int) -> AVGLearner:
    return AVGLearner(obs_dim, act_dim, cfg.agent, cfg.run.seed)


def make_policy(cfg: Config, env: gym.Env, learner: AVGLearner | None = None) -> Policy:
    return build_policy(cfg, env, learner.actor if learner is not None else None)


ALGORITHM = Algorithm("avg", make_learner, make_policy)

__all__ = ["ALGORITHM", "AVGLearner"]

"""A learner that is not AVG, to show the runners know nothing of AVG.

It acts with the project's squashed-Gaussian policy (a tiny actor), and learns by a rule
no real algorithm uses: each update moves every actor parameter by lr * reward * sign of
the executed action's first component, counted in ``updates``.  Deterministic, cheap,
and its state (parameters, a running reward sum, the count) must survive checkpoints.
"""

from __future__ import annotations

from typing import Any

import torch

from rt_avg.algos import Algorithm
from rt_avg.core.config import Config
from rt_avg.core import Transition
from rt_avg.nn.networks import build_actor
from rt_avg.nn.policy import learner_policy


class FakeLearner:
    def __init__(self, cfg: Config, obs_dim: int, act_dim: int) -> None:
        torch.manual_seed(cfg.run.seed)
        self.actor = build_actor(obs_dim, act_dim, cfg.agent)
        self.lr = cfg.agent.actor_lr
        self.reward_sum = 0.0
        self.updates = 0

    def update(self, t: Transition) -> dict[str, float]:
        sign = 1.0 if t.action[0] >= 0 else -1.0
        self.actor.flat_param.add_(self.lr * t.reward * sign)
        self.reward_sum += t.reward
        self.updates += 1
        return {"losses/fake": t.reward * sign}

    def policy_params(self) -> torch.Tensor:
        return self.actor.flat_param

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.actor.flat_param.clone(), "reward_sum": self.reward_sum,
                "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.flat_param.copy_(state["params"])
        self.reward_sum = float(state["reward_sum"])
        self.updates = int(state["updates"])


ALGORITHM = Algorithm("fake", FakeLearner, learner_policy)

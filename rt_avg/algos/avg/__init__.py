"""Action Value Gradient (Vasan et al., NeurIPS 2024): incremental, no buffer, no target.

* :mod:`.reference` - the update in plain PyTorch (autograd, ``torch.optim.Adam``): read
  this first.
* :mod:`.learner` - the same update with hand-written backward passes and a flat Adam,
  a few hundred microseconds on one CPU thread; pinned to the reference by the tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rt_avg.algos import Algorithm
from rt_avg.core.config import Config
from rt_avg.nn.policy import learner_policy

if TYPE_CHECKING:
    from rt_avg.algos.avg.learner import AVGLearner


def make_learner(cfg: Config, obs_dim: int, act_dim: int) -> "AVGLearner":
    # Imported here: torch is loaded only in the process that learns (see rt_avg.nn.acting_net).
    from rt_avg.algos.avg.learner import AVGLearner

    return AVGLearner(obs_dim, act_dim, cfg.agent, cfg.run.seed)


ALGORITHM = Algorithm("avg", make_learner, learner_policy)

__all__ = ["ALGORITHM"]

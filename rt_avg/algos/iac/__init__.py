"""IAC: incremental one-step actor-critic, a baseline of the AVG paper (``iac``).

A state-value critic V(s) learns by semi-gradient TD(0); the actor, the same tanh-squashed
Gaussian as AVG's, follows the score-function (likelihood-ratio) gradient
log pi(A|S) * delta plus an entropy bonus.  No buffer, no target network, batch size 1.
The three normalisations (``agent.normalize_obs``, ``agent.penultimate_norm``,
``agent.scale_td``) switch on and off as for AVG.

* :mod:`.reference` - the update in plain PyTorch (autograd, ``torch.optim.Adam``).
* :mod:`.learner` - the same update with hand-derived gradients, pinned to the reference
  by the tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rt_avg.algos import Algorithm
from rt_avg.core.config import Config
from rt_avg.nn.policy import learner_policy

if TYPE_CHECKING:
    from rt_avg.algos.iac.learner import IACLearner


def make_learner(cfg: Config, obs_dim: int, act_dim: int) -> "IACLearner":
    # Imported here: torch is loaded only in the process that learns (see rt_avg.nn.acting_net).
    from rt_avg.algos.iac.learner import IACLearner

    return IACLearner(obs_dim, act_dim, cfg.agent, cfg.run.seed)


ALGORITHM = Algorithm("iac", make_learner, learner_policy)

__all__ = ["ALGORITHM"]

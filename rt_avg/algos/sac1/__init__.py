"""SAC-1: soft actor-critic with batch size 1 and no replay buffer, a baseline of the AVG
paper (``sac1``).

Twin Q critics with Polyak-averaged targets, a reparameterised actor (the same
tanh-squashed Gaussian as AVG's) and a learned temperature; every update uses only the
newest transition.  Its own settings are the ``sac1`` config section (alpha_lr,
init_temperature, tau); the three normalisations (``agent.normalize_obs``,
``agent.penultimate_norm``, ``agent.scale_td``) switch on and off as for AVG.

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
    from rt_avg.algos.sac1.learner import SAC1Learner


def make_learner(cfg: Config, obs_dim: int, act_dim: int) -> "SAC1Learner":
    # Imported here: torch is loaded only in the process that learns (see rt_avg.nn.acting_net).
    from rt_avg.algos.sac1.learner import SAC1Learner

    return SAC1Learner(obs_dim, act_dim, cfg.agent, cfg.sac1, cfg.run.seed)


ALGORITHM = Algorithm("sac1", make_learner, learner_policy)

__all__ = ["ALGORITHM"]

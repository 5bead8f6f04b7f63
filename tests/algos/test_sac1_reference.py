"""The fast SAC-1 learner against its readable reference, update after update.

Both run in float64 on one stream of real transitions with terminations, truncations and
stale (async) actions, with the normalisations on and off; the learner's noise stream
(A' then the actor's A~) is shared by construction (same seed).
"""

import pytest
import torch

from autograd_nets import float64  # noqa: F401
from reference_stream import assert_same_params, count_ends, pendulum_stream
from rt_avg.algos.sac1.learner import SAC1Learner
from rt_avg.algos.sac1.reference import ReferenceSAC1
from rt_avg.core.config import AgentConfig, Sac1Config

pytestmark = pytest.mark.usefixtures("float64")
RTOL = 1e-6


@pytest.mark.parametrize("pnorm,scale_td", [(True, True), (False, False)])
def test_fast_learner_follows_reference_for_300_updates(pnorm, scale_td):
    cfg = AgentConfig(hidden_sizes=(32, 32), actor_lr=3e-3, critic_lr=3e-3, beta1=0.9,
                      gamma=0.99, penultimate_norm=pnorm, scale_td=scale_td)
    sac = Sac1Config(alpha_lr=0.01, init_temperature=0.1, tau=0.05)
    fast, ref = SAC1Learner(4, 1, cfg, sac, seed=0), ReferenceSAC1(4, 1, cfg, sac, seed=0)
    nets = [(fast.actor, ref.actor), (fast.critics[0], ref.q1), (fast.critics[1], ref.q2),
            (fast.targets[0], ref.q1_target), (fast.targets[1], ref.q2_target)]
    for a, b in nets:
        b.load_state_dict(a.state_dict())
    seen = []
    for i, t in enumerate(pendulum_stream(300, fast.actor, fast.head)):
        m_fast, m_ref = fast.update(t), ref.update(t)
        for key in ("losses/td_error", "losses/td_sigma", "losses/q", "losses/alpha",
                    "losses/entropy"):
            assert m_fast[key] == pytest.approx(m_ref[key], rel=RTOL, abs=1e-9), (i, key)
        assert fast.log_alpha.item() == pytest.approx(ref.log_alpha.item(), rel=RTOL)
        assert_same_params(nets, f"update {i}", RTOL)
        seen.append(t)
    ends = count_ends(seen)
    assert min(ends.values()) >= 5, ends
    assert abs(ref.log_alpha.item() - torch.log(torch.tensor(0.1)).item()) > 0.5  # it moved

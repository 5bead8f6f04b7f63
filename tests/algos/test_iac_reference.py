"""The fast IAC learner against its readable reference, update after update.

Both run in float64 on one stream of real transitions with terminations, truncations and
stale (async) actions, with the normalisations on and off.
"""


import pytest

from autograd_nets import float64  # noqa: F401
from reference_stream import assert_same_params, count_ends, pendulum_stream
from rt_avg.algos.iac.learner import IACLearner
from rt_avg.algos.iac.reference import ReferenceIAC
from rt_avg.core.config import AgentConfig

pytestmark = pytest.mark.usefixtures("float64")
RTOL = 1e-6


@pytest.mark.parametrize("pnorm,scale_td", [(True, True), (False, False)])
def test_fast_learner_follows_reference_for_300_updates(pnorm, scale_td):
    cfg = AgentConfig(hidden_sizes=(32, 32), actor_lr=3e-3, critic_lr=3e-3, beta1=0.9,
                      entropy_coef=0.1, gamma=0.99, penultimate_norm=pnorm, scale_td=scale_td)
    fast, ref = IACLearner(4, 1, cfg, seed=0), ReferenceIAC(4, 1, cfg, seed=0)
    ref.actor.load_state_dict(fast.actor.state_dict())
    ref.critic.load_state_dict(fast.critic.state_dict())
    seen = []
    for i, t in enumerate(pendulum_stream(300, fast.actor, fast.head)):
        m_fast, m_ref = fast.update(t), ref.update(t)
        for key in ("losses/td_error", "losses/td_sigma", "losses/v", "losses/entropy"):
            assert m_fast[key] == pytest.approx(m_ref[key], rel=RTOL, abs=1e-9), (i, key)
        assert_same_params([(fast.actor, ref.actor), (fast.critic, ref.critic)],
                           f"update {i}", RTOL)
        seen.append(t)
    ends = count_ends(seen)
    assert min(ends.values()) >= 5, ends

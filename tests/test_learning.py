"""AVG learns: a return threshold on a small task within a couple of CPU minutes."""

import numpy as np
import pytest

from helpers import quick_config
from rt_avg.run.inline import train_inline
from rt_avg.run.run_dir import read_episodes

STEPS = 20_000
THRESHOLD = 150.0  # mean return of the last 20 episodes; a random policy gets about 10


@pytest.mark.slow
def test_avg_learns_inverted_pendulum(tmp_path):
    res = train_inline(quick_config(STEPS, seed=0), tmp_path / "run", progress=False)
    returns = [e["return"] for e in read_episodes(res.run_dir)]
    first, last = np.mean(returns[:20]), np.mean(returns[-20:])
    assert first < 30, first
    assert last >= THRESHOLD, (first, last)

"""AVG learns: a return threshold on a small task within a couple of CPU minutes (the run
stops once it is reached)."""

import pytest

from helpers import quick_config
from learning_runs import returns_until

STEPS = 20_000
THRESHOLD = 150.0  # mean return of the last 20 episodes; a random policy gets about 10


@pytest.mark.slow
def test_avg_learns_inverted_pendulum(tmp_path):
    first, last = returns_until(quick_config(STEPS, seed=0), tmp_path / "run", THRESHOLD)
    assert first < 30, first
    assert last >= THRESHOLD, (first, last)

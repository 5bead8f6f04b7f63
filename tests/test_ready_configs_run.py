"""Every kind of env the ready configs name runs through the inline runner (MuJoCo v5 and
dm_control through shimmy, whose dict observations are flattened)."""

import numpy as np
import pytest

from rt_avg.core import config as C
from rt_avg.run.inline import train_inline
from rt_avg.run.run_dir import read_metrics


@pytest.mark.parametrize("name", ["hopper", "humanoid", "reacher_hard", "finger_spin"])
def test_ready_config_runs_inline(tmp_path, name):
    cfg = C.load(name).replace(run={"steps": 300, "checkpoint_every": 10**9,
                                    "metrics_every": 100})
    res = train_inline(cfg, tmp_path / "run", progress=False)
    assert res.steps == 300
    rows = read_metrics(tmp_path / "run")
    assert len(rows) == 3 and all(np.isfinite(r["losses/critic"]) for r in rows)

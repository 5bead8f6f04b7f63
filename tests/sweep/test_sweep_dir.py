"""The sweep directory's bookkeeping (no Ray runtime started)."""

import json

import pytest
import yaml

from rt_avg.sweeps import spec as S
from rt_avg.core.config import ConfigError

sweep = pytest.importorskip("rt_avg.sweeps.tune")


def _spec_file(folder, seeds=2, name="bk"):
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "base": "default", "seeds": seeds}))
    return path


def test_sweep_dir_records_trials_and_refuses_a_changed_sweep(tmp_path):
    spec = S.load(_spec_file(tmp_path))
    trials = S.expand(spec)
    root = tmp_path / "sw"
    token = sweep._prepare_sweep_dir(root, spec, trials)
    data = json.loads((root / "sweep.json").read_text())
    assert data["token"] == token and data["name"] == "bk"
    assert [t["trial_id"] for t in data["trials"]] == ["c000-s0", "c000-s1"]
    assert data["trials"][1]["config"]["run"]["seed"] == 1
    assert (root / "sweep.yaml").read_text() == (tmp_path / "bk.yaml").read_text()
    assert sweep._prepare_sweep_dir(root, spec, trials) == token  # same sweep: continue it
    changed = S.load(_spec_file(tmp_path, seeds=3))
    with pytest.raises(ConfigError, match="--sweep-dir: .* holds sweep 'bk' with other trials"):
        sweep._prepare_sweep_dir(root, changed, S.expand(changed))


def test_bad_sweep_fails_before_ray_starts(tmp_path):
    import ray

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"base": "default", "seeds": 1,
                                   "space": {"agent.gamma": {"grid": [0.9, 1.5]}}}))
    with pytest.raises(ConfigError, match=r"c001 \(agent.gamma=1.5\).*agent.gamma: got 1.5"):
        sweep.run_sweep(str(bad), sweep_dir=str(tmp_path / "sw"))
    assert not ray.is_initialized() and not (tmp_path / "sw").exists()

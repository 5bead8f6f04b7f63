"""Sweep summary: grouping, ranking with bootstrap intervals, and the summary files."""

import json

import pytest

from rt_avg.analysis import stats
from rt_avg.analysis import sweep_summary as M
from rt_avg.analysis.runs import TRIAL_RECORD
from rt_avg.config import Config, ConfigError, to_dict
from rt_avg.run_dir import RunDirectory, RunLog
from rt_avg.sweeps import spec as S


def _fake_run(path, seed, returns, steps=100, done=True, actor_lr=1e-4):
    """A run directory whose episodes end at evenly spaced steps, all with these returns."""
    cfg = Config().replace(run={"steps": steps, "seed": seed}, agent={"actor_lr": actor_lr})
    rd = RunDirectory(path).create(cfg)
    log = RunLog(rd)
    for i, r in enumerate(returns):
        log.episode(steps * (i + 1) // len(returns), i + 1, r, 10, 0.1 * i)
    log.close()
    (path / TRIAL_RECORD).write_text(json.dumps({"status": "done" if done else "running"}))
    return cfg


def _fake_sweep(root):
    """c000: final returns 10, 20, 30; c001: 40, 41, 42 (+ one unfinished seed)."""
    trials = []
    for config_id, lr, finals in (("c000", 1e-4, [10, 20, 30]), ("c001", 1e-3, [40, 41, 42, None])):
        for seed, final in enumerate(finals):
            tid = f"{config_id}-s{seed}"
            rets = [0.0] * 9 + [float(final if final is not None else 99)]
            cfg = _fake_run(root / "runs" / tid, seed, rets, done=final is not None, actor_lr=lr)
            trials.append({"trial_id": tid, "config_id": config_id, "seed": seed,
                           "params": {"agent.actor_lr": lr}, "config": to_dict(cfg)})
    (root / "sweep.json").write_text(json.dumps({"name": "fake", "trials": trials}))


def test_summary_ranks_with_bootstrap_intervals(tmp_path):
    _fake_sweep(tmp_path)
    groups = M.summarize_dir(tmp_path)
    assert [(g.name, g.rank, len(g.counted), len(g.runs)) for g in groups] == [
        ("c001", 1, 3, 4), ("c000", 2, 3, 3)]
    best, second = groups
    # c001: finals 40, 41, 42 (the unfinished seed is left out); c000: 10, 20, 30
    assert best.final == stats.bootstrap_ci([40.0, 41.0, 42.0])
    assert best.final.mean == 41 and 40 <= best.final.low < 41 < best.final.high <= 42
    assert second.final == stats.bootstrap_ci([10.0, 20.0, 30.0])
    # 100 one-step bins: the last episode (step 100) fills the last bin, every earlier bin
    # holds (or repeats) a 0 return, so the normalised area is final / 100
    assert best.auc.mean == pytest.approx(41 / 100)


def test_main_summary_writes_table_markdown_json_and_png(tmp_path, capsys):
    _fake_sweep(tmp_path / "sw")
    assert M.main_summary(str(tmp_path / "sw"), str(tmp_path / "out")) == 0
    printed = capsys.readouterr().out
    assert "final return (95% CI)" in printed and "1 run(s) not complete" in printed
    md = (tmp_path / "out" / "summary.md").read_text()
    ci = stats.bootstrap_ci([40.0, 41.0, 42.0])
    assert f"| InvertedPendulum-v5 | 1 | c001 | 3/4 | 41 [{ci.low:.4g}, {ci.high:.4g}] |" in md
    assert "percentile bootstrap over seeds" in md
    data = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert data[0]["name"] == "c001" and data[0]["final_return"]["mean"] == 41
    assert (tmp_path / "out" / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_folder_of_plain_runs_is_grouped_by_config(tmp_path):
    for seed, final in enumerate([5, 7]):
        _fake_run(tmp_path / f"a{seed}", seed, [0.0, float(final)], actor_lr=1e-4)
    _fake_run(tmp_path / "b0", 0, [0.0, 50.0], actor_lr=1e-3)
    groups = M.summarize_dir(tmp_path)
    assert [(g.params, len(g.counted)) for g in groups] == [
        ({"agent.actor_lr": 1e-3}, 1), ({"agent.actor_lr": 1e-4}, 2)]
    assert groups[1].final.mean == 6.0


def test_summary_errors(tmp_path):
    with pytest.raises(ConfigError, match="is not a directory"):
        M.summarize_dir(tmp_path / "missing")
    with pytest.raises(ConfigError, match="no run directories"):
        M.summarize_dir(tmp_path)


def test_cli_argument_helpers_parse_the_documented_commands():
    import argparse

    p = argparse.ArgumentParser()
    S.add_sweep_arguments(p)
    a = p.parse_args(["configs/sweeps/smoke.yaml", "--address", "auto", "--sweep-dir", "d",
                      "--num-cpus", "2"])
    assert (a.sweep_file, a.address, a.sweep_dir, a.num_cpus) == (
        "configs/sweeps/smoke.yaml", "auto", "d", 2)
    p = argparse.ArgumentParser()
    M.add_summary_arguments(p)
    a = p.parse_args(["runs/sweeps/smoke"])
    assert (a.sweep_dir, a.out, a.top) == ("runs/sweeps/smoke", None, 5)

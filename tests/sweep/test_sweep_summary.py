"""Sweep statistics against hand calculations (no scipy), and the summary files."""

import json
import math

import numpy as np
import pytest

from rt_avg import sweep_spec as S
from rt_avg import sweep_summary as M
from rt_avg.config import Config, ConfigError, to_dict
from rt_avg.run_dir import RunDirectory, RunLog

# Two-sided 95% critical values of Student's t (printed tables).
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 9: 2.262, 29: 2.045, 120: 1.980}


@pytest.mark.parametrize("df, expected", sorted(T_TABLE.items()))
def test_t_quantile_matches_tables(df, expected):
    assert M.t_quantile(0.975, df) == pytest.approx(expected, abs=6e-4)
    assert M.t_quantile(0.025, df) == pytest.approx(-expected, abs=6e-4)


def test_t_cdf_closed_forms():
    for t in (-3.0, -0.5, 0.0, 0.7, 2.0, 10.0):
        # df = 1 is the Cauchy distribution; df = 2 has a closed form too.
        assert M.t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
        assert M.t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)
    assert M.t_cdf(1.96, 1e6) == pytest.approx(0.975, abs=1e-4)  # tends to the normal


def test_mean_ci_by_hand():
    # mean 3, s = sqrt(2.5), se = sqrt(2.5 / 5) = 0.70711, t(0.975, 4) = 2.77645
    mean, lo, hi = M.mean_ci([1, 2, 3, 4, 5])
    half = 2.776445105 * math.sqrt(0.5)
    assert mean == 3
    assert (lo, hi) == pytest.approx((3 - half, 3 + half), rel=1e-9)
    assert half == pytest.approx(1.96324, abs=1e-5)
    mean, lo, hi = M.mean_ci([7.0, float("nan")])  # nan is ignored; one value: no interval
    assert mean == 7.0 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in M.mean_ci([]))
    curves = np.array([[1.0, 2.0], [3.0, 6.0]])
    mean, lo, hi = M.pointwise_ci(curves)
    # n = 2: s = |a - b| / sqrt(2), half = t(0.975, 1) * s / sqrt(2) = 12.7062 * |a - b| / 2
    assert mean.tolist() == [2.0, 4.0]
    assert hi - mean == pytest.approx([12.7062047, 2 * 12.7062047], rel=1e-6)


def test_curve_final_return_and_auc_by_hand():
    steps, returns = [10, 25, 35, 90], [1.0, 3.0, 5.0, 7.0]
    # bins (0,25], (25,50], (50,75], (75,100]: [mean(1,3), 5, empty -> 5, 7]
    x, curve = M.learning_curve(steps, returns, 100, points=4)
    assert x.tolist() == [25, 50, 75, 100] and curve.tolist() == [2.0, 5.0, 5.0, 7.0]
    assert M.area_under_curve(steps, returns, 100, points=4) == pytest.approx(19 / 4)
    assert M.final_return(steps, returns, 100) == 7.0  # nothing after step 90: last episode
    assert M.final_return(steps + [95, 100], returns + [9.0, 11.0], 100) == 10.0
    _, curve = M.learning_curve([60], [2.0], 100, points=4)  # leading empty bins
    assert curve.tolist() == [2.0] * 4
    assert math.isnan(M.final_return([], [], 100)) and math.isnan(M.area_under_curve([], [], 100))


def _fake_run(path, seed, returns, steps=100, done=True, actor_lr=1e-4):
    """A run directory whose episodes end at evenly spaced steps, all with these returns."""
    cfg = Config().replace(run={"steps": steps, "seed": seed}, agent={"actor_lr": actor_lr})
    rd = RunDirectory(path).create(cfg)
    log = RunLog(rd)
    for i, r in enumerate(returns):
        log.episode(steps * (i + 1) // len(returns), i + 1, r, 10, 0.1 * i)
    log.close()
    (path / M.TRIAL_RECORD).write_text(json.dumps({"status": "done" if done else "running"}))
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


def test_summary_ranks_with_t_intervals(tmp_path):
    _fake_sweep(tmp_path)
    groups = M.summarize(tmp_path)
    assert [(g.config_id, g.rank, len(g.done), len(g.runs)) for g in groups] == [
        ("c001", 1, 3, 4), ("c000", 2, 3, 3)]
    best, second = groups
    # c001: mean 41, s = 1, half = 4.3027 / sqrt(3); c000: mean 20, s = 10
    assert best.final == pytest.approx((41, 41 - 4.302653 / 3 ** 0.5, 41 + 4.302653 / 3 ** 0.5))
    assert second.final[2] - 20 == pytest.approx(4.302653 * 10 / 3 ** 0.5)
    # 100 one-step bins: the last episode (step 100) fills the last bin, every earlier bin
    # holds (or repeats) a 0 return, so the normalised area is final / 100
    assert best.auc[0] == pytest.approx(41 / 100)


def test_main_summary_writes_table_markdown_json_and_png(tmp_path, capsys):
    _fake_sweep(tmp_path / "sw")
    assert M.main_summary(str(tmp_path / "sw"), str(tmp_path / "out")) == 0
    printed = capsys.readouterr().out
    assert "final return (95% CI)" in printed and "1 run(s) not complete" in printed
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "| InvertedPendulum-v5 | 1 | c001 | 3/4 | 41 [38.52, 43.48] |" in md
    assert "Student-t" in md
    data = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert data[0]["config_id"] == "c001" and data[0]["final_return"]["mean"] == 41
    assert (tmp_path / "out" / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_folder_of_plain_runs_is_grouped_by_config(tmp_path):
    for seed, final in enumerate([5, 7]):
        _fake_run(tmp_path / f"a{seed}", seed, [0.0, float(final)], actor_lr=1e-4)
    _fake_run(tmp_path / "b0", 0, [0.0, 50.0], actor_lr=1e-3)
    groups = M.summarize(tmp_path)
    assert [(g.params, len(g.done)) for g in groups] == [
        ({"agent.actor_lr": 1e-3}, 1), ({"agent.actor_lr": 1e-4}, 2)]
    assert groups[1].final[0] == 6.0


def test_summary_errors(tmp_path):
    with pytest.raises(ConfigError, match="is not a directory"):
        M.summarize(tmp_path / "missing")
    with pytest.raises(ConfigError, match="no run directories"):
        M.summarize(tmp_path)


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

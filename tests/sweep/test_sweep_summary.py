"""Sweep summary: grouping, ranking by IQM with rliable intervals, P(ref > this), the
summary files, across-task aggregates, and the figures read back from their axes."""

import json

import numpy as np
import pytest

from rt_avg.analysis import aggregate, stats
from rt_avg.analysis import sweep_summary as M
from rt_avg.analysis.runs import TRIAL_RECORD
from rt_avg.core.config import Config, ConfigError, to_dict
from rt_avg.run.run_dir import RunDirectory, RunLog
from rt_avg.sweeps import spec as S


def _fake_run(path, seed, returns, steps=100, done=True, actor_lr=1e-4, env=None,
              status=None):
    """A run directory whose episodes end at evenly spaced steps, with these returns."""
    cfg = Config().replace(run={"steps": steps, "seed": seed}, agent={"actor_lr": actor_lr},
                           **({"env": {"id": env}} if env else {}))
    rd = RunDirectory(path).create(cfg)
    log = RunLog(rd)
    for i, r in enumerate(returns):
        log.episode(steps * (i + 1) // len(returns), i + 1, r, 10, 0.1 * i)
    log.close()
    (path / TRIAL_RECORD).write_text(json.dumps(
        {"status": status or ("done" if done else "running")}))
    return cfg


def _fake_sweep(root, finals=((10, 20, 30), (40, 41, 42, None))):
    """c000: final returns 10, 20, 30; c001: 40, 41, 42 (+ one unfinished seed). The last
    of 10 episodes spans the last 10% of the steps, so it is the run's final return."""
    trials = []
    for (config_id, lr), these in zip((("c000", 1e-4), ("c001", 1e-3)), finals):
        for seed, final in enumerate(these):
            tid = f"{config_id}-s{seed}"
            rets = [0.0] * 9 + [float(final if final is not None else 99)]
            cfg = _fake_run(root / "runs" / tid, seed, rets, done=final is not None, actor_lr=lr)
            trials.append({"trial_id": tid, "config_id": config_id, "seed": seed,
                           "params": {"agent.actor_lr": lr}, "config": to_dict(cfg)})
    (root / "sweep.json").write_text(json.dumps({"name": "fake", "trials": trials}))


def test_summary_ranks_by_iqm_with_rliable_intervals(tmp_path):
    _fake_sweep(tmp_path)
    groups = M.summarize_dir(tmp_path)
    assert [(g.name, g.rank, len(g.counted), len(g.runs)) for g in groups] == [
        ("c001", 1, 3, 4), ("c000", 2, 3, 3)]
    best, second = groups
    # c001: finals 40, 41, 42 (the unfinished seed is listed, not counted)
    assert best.final_stats == aggregate.interval_estimates([40.0, 41.0, 42.0])
    assert best.final.mean == 41 and 40 <= best.final.low < 41 < best.final.high <= 42
    assert second.final_iqm == aggregate.interval_estimates([10.0, 20.0, 30.0])["iqm"]
    assert best.seeds_text() == "3* (+1 unfinished)" and best.few_seeds
    # P(c001 > c000): every run of c001 beats every run of c000
    assert best.improvement is None and second.reference == "c001"
    assert second.improvement.mean == 1.0
    # AUC: the curve is 0 up to step 90, then its 10-step window slides onto the last
    # episode: (x - 90) / 10 of it at x = 91..100, a mean of 41 * 5.5 / 100
    assert best.auc.mean == pytest.approx(41 * 5.5 / 100)


def test_main_summary_writes_table_markdown_json_and_figures(tmp_path, capsys):
    _fake_sweep(tmp_path / "sw")
    assert M.main_summary(str(tmp_path / "sw"), str(tmp_path / "out")) == 0
    printed = capsys.readouterr().out
    assert "final return IQM (95% CI)" in printed and "1 run(s) unfinished" in printed
    assert "env steps spent: 700 of 700 planned" in printed
    md = (tmp_path / "out" / "summary.md").read_text()
    ci = aggregate.interval_estimates([40.0, 41.0, 42.0])
    iqm, mean = ci["iqm"], ci["mean"]
    assert (f"| InvertedPendulum-v5 | 1 | c001 | 3* (+1 unfinished) | {iqm.mean:.4g} "
            f"[{iqm.low:.4g}, {iqm.high:.4g}]* | 41 [{mean.low:.4g}, {mean.high:.4g}]* |") in md
    assert "stratified bootstrap" in md and "fewer than 5 seeds" in md
    data = json.loads((tmp_path / "out" / "summary.json").read_text())
    first = data["configurations"][0]
    assert first["name"] == "c001" and first["final_return"]["mean"] == 41
    assert data["configurations"][1]["improvement"]["mean"] == 1.0
    for png in ("summary.png", "intervals.png"):
        assert (tmp_path / "out" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_interval_figure_is_rliable_called_directly(tmp_path):
    """The figure against rliable on the same scores, read back from its axes."""
    from rliable import library as rly
    from rliable import metrics

    finals = ((10, 20, 30, 35, 12), (40, 41, 42, 60, 45))
    _fake_sweep(tmp_path, finals)
    groups = M.summarize_dir(tmp_path)
    plotted = M.plot_intervals(groups, tmp_path / "intervals.png")
    lines = {label: x for label, x, _ in plotted.lines}
    for config_id, scores in (("c000", finals[0]), ("c001", finals[1])):
        np.random.seed(aggregate.BOOTSTRAP_SEED)
        _, ci = rly.get_interval_estimates(
            {config_id: np.array(scores, dtype=float).reshape(-1, 1)},
            lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)]),
            reps=aggregate.REPS)
        rank = 1 if config_id == "c001" else 2
        row = f"#{rank} {config_id}"  # one env: named in the title, not in every row
        np.testing.assert_allclose(lines[f"IQM: {row}"], ci[config_id][:, 0])
        np.testing.assert_allclose(lines[f"mean: {row}"], ci[config_id][:, 1])
    # one colour per configuration in both panels, and the titles say what they show
    assert plotted.colours["IQM: #1 c001"] == plotted.colours["mean: #1 c001"]
    assert plotted.titles == ["IQM", "mean"]


def test_across_tasks_aggregates_and_profiles(tmp_path, capsys):
    """Two methods (actor_lr) on two tasks: normalised per task, aggregated across."""
    for env, scale in (("InvertedPendulum-v5", 1.0), ("Hopper-v5", 100.0)):
        for lr, finals in ((1e-3, (8.0, 9.0)), (1e-4, (1.0, 2.0))):
            for seed, final in enumerate(finals):
                _fake_run(tmp_path / "runs" / f"{env}-{lr}-{seed}", seed,
                          [0.0, final * scale], actor_lr=lr, env=env)
    groups = M.summarize_dir(tmp_path)
    agg = M.across_tasks(groups)
    assert agg.tasks == ["Hopper-v5", "InvertedPendulum-v5"]
    a, b = "agent.actor_lr=0.001", "agent.actor_lr=0.0001"
    # per task: 1 -> 0, 2 -> 1/8, 8 -> 7/8, 9 -> 1 (min-max over the task's runs)
    np.testing.assert_allclose(agg.scores[a], [[7 / 8, 7 / 8], [1, 1]])
    assert agg.estimates[a]["mean"].mean == pytest.approx(15 / 16)
    assert agg.reference == a and agg.improvement[b].mean == 1.0
    assert M.main_summary(str(tmp_path), str(tmp_path / "out")) == 0
    assert "across tasks (Hopper-v5, InvertedPendulum-v5)" in capsys.readouterr().out
    data = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert data["across_tasks"]["methods"][b]["improvement"]["mean"] == 1.0
    assert (tmp_path / "out" / "profiles.png").exists()


def test_duplicate_seeds_are_warned_about(tmp_path, capsys):
    for i in range(3):
        _fake_run(tmp_path / f"r{i}", 0, [0.0, 5.0 + i])
    assert M.main_summary(str(tmp_path), str(tmp_path / "out")) == 0
    out = capsys.readouterr().out
    assert "g000: seed(s) 0 appear more than once" in out


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


def test_stats_definition_is_what_the_tables_print():
    assert stats.DEFINITION in M.summary.CI_TEXT

"""`make_report` over runs made here: files are real PNGs and the figures show the runs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from rt_avg.report import ReportError, main_report, make_report
from rt_avg.run_dir import read_episodes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_png(path):
    import matplotlib.image

    assert path.exists() and path.read_bytes()[:8] == PNG_SIGNATURE
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def _expected_curve(run_dirs, grid, window=10):
    """Independent of the report code: trailing mean over `window` episodes, np.interp."""
    curves = []
    for path in run_dirs:
        eps = read_episodes(path)
        steps = np.array([e["step"] for e in eps], float)
        rets = np.array([e["return"] for e in eps], float)
        smoothed = np.array([rets[max(0, i + 1 - window): i + 1].mean()
                             for i in range(len(rets))])
        curves.append(np.interp(grid, steps, smoothed))
    return np.mean(curves, axis=0)


@pytest.fixture(scope="module")
def report(tiny_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return make_report([tiny_runs["a0"], tiny_runs["a1"], tiny_runs["b0"]], out)


def test_learning_curves_show_one_mean_per_config_group(report, tiny_runs):
    _check_png(report.figures["learning_curves"])
    assert len(report.groups) == 2
    by_runs = {tuple(p.name for p in g.runs): g for g in report.groups}
    a, b = by_runs[("a0", "a1")], by_runs[("b0",)]
    assert a.seeds == [0, 1] and b.seeds == [0]
    lines = report.plotted["learning_curves"]
    assert len(lines) == len(report.groups)
    for group, (label, x, y) in zip(report.groups, lines):
        assert group.label in label
        np.testing.assert_allclose(x, group.step_grid)
        np.testing.assert_allclose(y, group.mean)
        np.testing.assert_allclose(y, _expected_curve(group.runs, group.step_grid))
    assert np.all(a.low <= a.mean + 1e-9) and np.all(a.mean <= a.high + 1e-9)
    assert np.any(a.high > a.low)  # two seeds differ
    np.testing.assert_array_equal(b.low, b.high)  # one seed: no band
    first = max(read_episodes(p)[0]["step"] for p in a.runs)
    last = min(read_episodes(p)[-1]["step"] for p in a.runs)
    assert a.step_grid[0] == first and a.step_grid[-1] == last


def test_timing_histograms_from_inline_metrics(report, tiny_runs):
    _check_png(report.figures["timing_histograms"])
    hists = report.histograms["update_us"]
    assert len(hists) == 2 and all(h.source == "metrics.jsonl" for h in hists)
    assert hists[0].samples == 2 * 6 and hists[0].counts.sum() == hists[0].samples
    assert "action_latency_us" not in report.histograms
    assert any("no timing_steps.npz" in n for n in report.notes)


def test_summary_table(report, tiny_runs):
    text = report.summary_md.read_text()
    assert "| run/group | mode | seeds |" in text
    rets = [e["return"] for e in read_episodes(tiny_runs["b0"])][-10:]
    b_row = next(r for r in report.group_rows if r.seeds == [0] and "actor_lr" in r.name)
    assert b_row.final_return_mean == pytest.approx(np.mean(rets))
    assert f"{np.mean(rets):.2f}" in text
    assert b_row.steps_per_s and b_row.steps_per_s > 0 and b_row.latency_p50_us is None


def _as_mode(src, dst, mode, seed_offset, latency_us):
    """A copy of an inline run dressed as a real-time run (mode, timing files)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoints", "wandb"))
    cfg = yaml.safe_load((dst / "config.yaml").read_text())
    cfg["run"]["mode"] = mode
    (dst / "config.yaml").write_text(yaml.safe_dump(cfg))
    rng = np.random.default_rng(seed_offset)
    n = 600
    np.savez(dst / "timing_steps.npz",
             action_latency_us=rng.normal(latency_us, 10, n),
             cycle_ms=rng.normal(40.0, 0.5, n),
             update_us=np.where(rng.random(n) < 0.1, np.nan, rng.normal(900, 50, n)))
    (dst / "timing.json").write_text(json.dumps(
        {"action_latency_us": {"p50": latency_us, "p99": latency_us * 3},
         "env_steps_per_s": 25.0}))


def test_async_vs_sequential(tiny_runs, tmp_path, capsys):
    runs = []
    for mode, latency in (("async", 150.0), ("sequential", 1100.0)):
        for name in ("a0", "a1"):
            dst = tmp_path / "runs" / f"{mode}-{name}"
            _as_mode(tiny_runs[name], dst, mode, len(runs), latency)
            runs.append(dst)
    assert main_report([str(tmp_path / "runs")], str(tmp_path / "out")) == 0
    printed = capsys.readouterr().out
    assert "async" in printed and "sequential" in printed and "summary.md" in printed
    res = make_report(runs, tmp_path / "out2")
    _check_png(res.figures["async_vs_sequential"])
    _check_png(res.figures["timing_histograms"])
    curves = res.comparison["async_vs_sequential"]
    assert [c.label for c in curves["steps"]] == ["async", "sequential"]
    assert [c.seeds for c in curves["wall_time"]] == [[0, 1], [0, 1]]
    np.testing.assert_allclose(curves["steps"][0].mean,
                               _expected_curve(runs[:2], curves["steps"][0].step_grid))
    assert len(res.plotted["async_vs_sequential"]) == 4  # 2 modes x (steps, wall time)
    rows = {r.mode: r for r in res.group_rows}
    assert rows["async"].latency_p50_us == 150.0 and rows["sequential"].latency_p99_us == 3300.0
    assert rows["async"].steps_per_s == 25.0
    lat = {h.label: h for h in res.histograms["action_latency_us"]}
    assert set(lat) == {"mode=async", "mode=sequential"}
    assert all(h.samples == 2 * 600 and h.counts.sum() == h.samples for h in lat.values())
    upd = res.histograms["update_us"][0]
    assert upd.source == "timing_steps.npz" and upd.samples < 2 * 600  # NaN (no update) dropped


def test_bad_run_directory(tmp_path, capsys):
    with pytest.raises(ReportError, match="not an rt-avg run directory"):
        make_report([tmp_path], tmp_path / "out")
    assert main_report([str(tmp_path / "missing")], None) == 2
    assert "rt-avg: error:" in capsys.readouterr().err

"""`make_report` over runs made here: files are real PNGs and the figures show the runs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from rt_avg.analysis.report import main_report, make_report
from rt_avg.analysis.runs import RunDataError
from final_return_by_hand import curve as curve_by_hand
from final_return_by_hand import run_final_return
from rt_avg.run.run_dir import read_episodes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_png(path):
    import matplotlib.image

    assert path.exists() and path.read_bytes()[:8] == PNG_SIGNATURE
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def _expected_curve(run_dirs, total, points=100):
    """Independent of the analysis code (tests/final_return_by_hand.py): each run's curve,
    then the mean over runs."""
    curves = []
    for path in run_dirs:
        eps = read_episodes(path)
        curves.append(curve_by_hand([e["step"] for e in eps], [e["return"] for e in eps],
                                    total, points))
    return np.mean(curves, axis=0)


def _final_return(path, total):
    return run_final_return(path, total)


@pytest.fixture(scope="module")
def report(tiny_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return make_report([tiny_runs["a0"], tiny_runs["a1"], tiny_runs["b0"]], out)


def test_learning_curves_show_one_mean_per_config_group(report, tiny_runs):
    _check_png(report.figures["learning_curves"])
    assert len(report.curves) == 2
    assert report.plotted["learning_curves"].titles == ["InvertedPendulum-v5"]
    by_runs = {tuple(p.name for p in c.runs): c for c in report.curves}
    a, b = by_runs[("a0", "a1")], by_runs[("b0",)]
    assert a.seeds == [0, 1] and b.seeds == [0]
    lines = report.plotted["learning_curves"].lines
    assert len(lines) == len(report.curves)
    for curve, (label, x, y) in zip(report.curves, lines):
        assert curve.label in label
        np.testing.assert_allclose(x, curve.x)
        np.testing.assert_allclose(y, curve.mean)
        np.testing.assert_allclose(y, _expected_curve(curve.runs, 600))
    assert np.all(a.low <= a.mean + 1e-9) and np.all(a.mean <= a.high + 1e-9)
    np.testing.assert_allclose(a.low, a.per_run.min(axis=0))  # two seeds: their range
    np.testing.assert_allclose(a.high, a.per_run.max(axis=0))
    np.testing.assert_array_equal(b.low, b.high)  # one seed: no band
    np.testing.assert_allclose(a.x, np.linspace(0, 600, 101)[1:])  # bins of the 600 steps


def test_inline_runs_have_no_timing_histogram(report, tiny_runs):
    # inline runs log a handful of update-time window medians: too few for a histogram
    assert report.histograms == {} and "timing_histograms" not in report.figures
    assert any("no per-step timing" in n for n in report.notes)


def test_summary_table(report, tiny_runs):
    text = report.summary_md.read_text()
    assert ("| run/group | env | mode | seeds | final return IQM (95% CI) | "
            "final return mean (95% CI) | AUC (95% CI) | status |") in text
    final = _final_return(tiny_runs["b0"], 600)
    b_row = next(g for g in report.groups if g.seeds == [0] and "actor_lr" in g.label)
    assert b_row.final.mean == pytest.approx(final)
    assert f"{final:.4g}" in text
    a_row = next(g for g in report.groups if g.seeds == [0, 1])
    finals = [_final_return(tiny_runs[n], 600) for n in ("a0", "a1")]
    assert a_row.final.mean == pytest.approx(np.mean(finals))
    assert a_row.final.low == pytest.approx(min(finals))  # two seeds: bootstrap = the two
    assert a_row.final.high == pytest.approx(max(finals))
    assert a_row.few_seeds and "fewer than 5 seeds" in text
    assert a_row.mean_of(lambda r: r.steps_per_s()) > 0
    assert a_row.mean_of(lambda r: r.latency_us("p50")) is None


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
    np.testing.assert_allclose(curves["steps"][0].mean, _expected_curve(runs[:2], 600))
    assert len(res.plotted["async_vs_sequential"].lines) == 4  # 2 modes x (steps, wall time)
    rows = {g.mode: g for g in res.groups}
    assert rows["async"].mean_of(lambda r: r.latency_us("p50")) == 150.0
    assert rows["sequential"].mean_of(lambda r: r.latency_us("p99")) == 3300.0
    assert rows["async"].mean_of(lambda r: r.steps_per_s()) == 25.0
    lat = {h.label: h for h in res.histograms["action_latency_us"]}
    assert set(lat) == {"mode=async", "mode=sequential"}
    assert all(h.samples == 2 * 600 and h.counts.sum() == h.samples for h in lat.values())
    upd = res.histograms["update_us"][0]
    assert upd.samples < 2 * 600  # NaN (no update) dropped
    (cycle,) = [h for h in res.histograms["cycle_ms"] if h.label == "mode=async"]
    assert cycle.dt_ms == pytest.approx(1.0)  # the dt line of the cycle-time panel


def test_bad_run_directory(tmp_path, capsys):
    with pytest.raises(RunDataError, match="not an rt-avg run directory"):
        make_report([tmp_path], tmp_path / "out")
    assert main_report([str(tmp_path / "missing")], None) == 2
    assert "rt-avg: error:" in capsys.readouterr().err

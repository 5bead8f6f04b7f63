"""Figures read back from their axes: legend labels from the keys that differ (never cut
into duplicates), one colour per group in every panel, env ids in panel titles, a dt line
on cycle-time histograms, no histogram of a few window medians, and bands that say when
they are the range of few seeds."""

from __future__ import annotations

import numpy as np

from rt_avg.analysis.report import make_report
from rt_avg.core.config import Config
from rt_avg.run.run_dir import RunDirectory, RunLog


def _run(path, seed=0, steps=1000, final=100.0, timing=False, **sections):
    """A run directory: 10 episodes, the last one's return ``final``; real-time runs get
    per-step timing arrays."""
    sections["run"] = {"steps": steps, "seed": seed, **sections.get("run", {})}
    cfg = Config().replace(**sections)
    rd = RunDirectory(path).create(cfg)
    log = RunLog(rd)
    for i in range(10):
        log.episode(steps * (i + 1) // 10, i + 1, final if i == 9 else 1.0 + seed, 10, 0.1 * i)
    log.close()
    if timing:
        rng = np.random.default_rng(seed)
        np.savez(path / "timing_steps.npz", action_latency_us=rng.normal(200, 10, 500),
                 cycle_ms=rng.normal(cfg.realtime.dt_s * 1e3, 0.05, 500),
                 update_us=rng.normal(900, 50, 500))
    return path


def test_labels_colours_titles_and_dt_lines(tmp_path):
    runs = []
    # The case: three inline groups that differ in run.steps only, beside runs of
    # another env and real-time runs at another dt, so env.id, run.mode and
    # realtime.dt_s all vary across the folder.
    for steps in (1000, 2000, 3000):
        runs += [_run(tmp_path / f"inline-{steps}-{s}", s, steps) for s in (0, 1)]
    runs.append(_run(tmp_path / "hopper", env={"id": "Hopper-v5"}))
    for mode in ("async", "sequential"):
        runs += [_run(tmp_path / f"{mode}-{s}", s, timing=True, run={"mode": mode},
                      realtime={"dt_s": 0.004}) for s in (0, 1)]
    report = make_report(runs, tmp_path / "out")

    curves = report.plotted["learning_curves"]
    assert curves.titles == ["InvertedPendulum-v5", "Hopper-v5"]
    pendulum = curves.legends[0]
    assert len(set(pendulum)) == len(pendulum) == 5
    for steps in (1000, 2000, 3000):  # the key that differs is shown, dt is not (inline)
        assert any(f"steps={steps}" in label and "dt_s" not in label for label in pendulum)
    assert not any("..." in label or "InvertedPendulum" in label for label in pendulum)
    assert any("mode=async" in label and "dt_s=0.004" in label for label in pendulum)

    hists = report.plotted["timing_histograms"]
    assert "InvertedPendulum-v5: cycle time" in hists.titles
    assert not any("Hopper" in t for t in hists.titles)  # no per-step timing there
    cycle = hists.legends[hists.titles.index("InvertedPendulum-v5: cycle time")]
    assert "dt" in cycle
    dt = [x for label, x, _ in hists.lines if label == "dt"]
    assert dt  # the legend entry of the dashed dt lines
    # one colour per group across every panel of both figures (read back per artist)
    for group in report.groups:
        drawn = {c for label, c in {**curves.colours, **hists.colours}.items()
                 if label.startswith(group.label + " (") or label.startswith(group.label + ",")}
        assert len(drawn) <= 1, (group.label, drawn)
    async_label = next(g.label for g in report.groups if g.mode == "async")
    in_curves = next(c for lab, c in curves.colours.items() if lab.startswith(async_label))
    in_hists = {c for lab, c in hists.colours.items() if lab.startswith(async_label)}
    assert in_hists == {in_curves}


def test_dt_line_is_at_the_groups_dt(tmp_path):
    runs = [_run(tmp_path / f"a{s}", s, timing=True, run={"mode": "async"},
                 realtime={"dt_s": 0.004}) for s in (0, 1)]
    report = make_report(runs, tmp_path / "out")
    (cycle,) = report.histograms["cycle_ms"]
    assert cycle.dt_ms == 4.0 and cycle.samples == 1000


def test_inline_runs_get_no_histogram_of_window_medians(tmp_path):
    runs = [_run(tmp_path / f"r{s}", s) for s in (0, 1)]
    report = make_report(runs, tmp_path / "out")
    assert report.histograms == {} and "timing_histograms" not in report.figures
    assert any("no per-step timing" in n for n in report.notes)


def test_few_seeds_band_is_the_range_and_says_so(tmp_path):
    runs = [_run(tmp_path / f"r{s}", s, final=10.0 * (s + 1)) for s in range(3)]
    report = make_report(runs, tmp_path / "out")
    (curve,) = report.curves
    np.testing.assert_allclose(curve.low, curve.per_run.min(axis=0))
    np.testing.assert_allclose(curve.high, curve.per_run.max(axis=0))
    (label,) = report.plotted["learning_curves"].legends[0]
    assert label.endswith("(3 seeds, range)")
    assert "fewer than 5 seeds" in report.summary_md.read_text()


def test_a_long_legend_goes_beside_the_panel():
    from rt_avg.analysis import plots

    for n, inside in ((plots.MAX_LEGEND_INSIDE, True), (plots.MAX_LEGEND_INSIDE + 1, False)):
        fig, (ax,) = plots.figure()
        for i in range(n):
            ax.plot([0, 1], [i, i], label=f"group {i}")
        plots.finish_axes(ax, "title", "x", "y")
        fig.draw_without_rendering()
        legend, panel = ax.get_legend().get_window_extent(), ax.get_window_extent()
        assert bool(legend.x1 <= panel.x1) == inside
        assert bool(legend.x0 >= panel.x1) == (not inside)

"""`rt-avg study`: study files, their variants, and the three studies end to end at a tiny
budget on a small local Ray, with the figures checked against the runs they came from."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import yaml

from final_return_by_hand import run_final_return
from rt_avg.core.config import ConfigError
from rt_avg.sweeps import spec as sweep_spec
from rt_avg.sweeps import study as S
from rt_avg.actors.local_ray import SYSTEM_CONFIG

STEPS = 300
TINY = {"agent.hidden_sizes": [16, 16], "run.metrics_every": 100,
        "run.checkpoint_every": 10**6, "batch.learning_starts": 50, "batch.n_epochs": 1}


@pytest.mark.parametrize("data, message", [
    ({"study": "sizes"}, "study.study: got 'sizes', expected one of 'buffer-size'"),
    ({"steps": 0}, "study.steps: got 0, allowed range is [1, inf]"),
    ({"methods": ["avg"]}, "study.methods: got 'avg', allowed for buffer-size: sac, td3, ppo"),
    ({"sizes": [0]}, "study.sizes: got 0, expected buffer sizes >= 1 or 'full'"),
    ({"study": "ablation", "sizes": [1]}, "study.sizes: only the buffer-size study has sizes"),
    ({"method_overrides": {"iac": {}}}, "study.method_overrides.iac: expected a method of"),
    ({"bogus": 1}, "study.bogus: unknown field"),
])
def test_study_file_errors_name_the_field(data, message):
    with pytest.raises(ConfigError) as err:
        S.parse({"study": "buffer-size", "steps": 10, "seeds": 1, **data})
    assert message in str(err.value)


def test_variants_of_each_study():
    bs = S.variants(S.parse({"study": "buffer-size", "steps": 5000, "seeds": 1,
                             "sizes": [100, 1, "full", 10**6]}))
    assert [(v.name, v.buffer_size) for v in bs if v.method == "sac"] == [
        ("sac-b1", 1), ("sac-b100", 100), ("sac-b5000", 5000)]  # full = steps; none above
    assert bs[-1].reference and bs[-1].overrides == {"agent.algo": "avg"}
    inc = {v.name: v.overrides for v in S.variants(S.parse(
        {"study": "incremental", "steps": 10, "seeds": 1}))}
    assert inc["sac-b1"] == {"agent.algo": "sac", "batch.buffer_size": 1}
    assert inc["td3-b1"] == {"agent.algo": "td3", "batch.buffer_size": 1}
    installed = {m for m in ("avg", "iac", "sac1") if S.available(m)}
    assert installed <= set(inc) and inc["avg"] == {"agent.algo": "avg"}
    abl = S.variants(S.parse({"study": "ablation", "steps": 10, "seeds": 1, "methods": ["avg"],
                              "method_overrides": {"avg": {"agent.gamma": 0.9}}}))
    flags = {tuple(v.overrides[k] for k in ("agent.normalize_obs", "agent.penultimate_norm",
                                             "agent.scale_td")) for v in abl}
    assert flags == set(itertools.product([False, True], repeat=3))  # every subset
    assert all(v.overrides["agent.gamma"] == 0.9 for v in abl)
    named = {v.name: v.norms for v in abl}
    assert named["avg-none"] == () and named["avg-all"] == ("obs", "pnorm", "td")
    assert named["avg-obs+td"] == ("obs", "td")


@pytest.mark.parametrize("name", ["buffer-size", "incremental", "ablation"])
@pytest.mark.parametrize("budget", ["small", "published"])
def test_ready_study_files_expand_into_valid_trials(name, budget):
    f = S.load(f"{name}-{budget}")
    assert f.study == name
    vs = S.variants(f)
    trials = sweep_spec.expand(sweep_spec.parse(S.sweep_data("t", f, vs)))
    assert len(trials) == len(vs) * f.seeds
    assert {t.config.run.steps for t in trials} == {f.steps}
    if budget == "published":
        assert f.steps >= 1_000_000 and f.seeds >= 10
        assert {t.config.env.id for t in trials} == {"Hopper-v5"}


# ----------------------------------------------------------------------------- end to end


def _final(path) -> float:
    """Independent of the analysis code: tests/final_return_by_hand.py."""
    return run_final_return(path, STEPS)


def _variant_runs(out) -> dict[str, list]:
    trials = json.loads((out / "sweep.json").read_text())["trials"]
    runs: dict[str, list] = {}
    for t in trials:
        runs.setdefault(t["params"]["variant"], []).append(out / "runs" / t["trial_id"])
    return runs


@pytest.fixture(scope="module")
def local_ray():
    import ray

    # A Ray of its own: without an address ray.init joins a cluster someone started here
    # (`ray start`, or a test's ray.cluster_utils.Cluster) if there is one.
    ray.init(address="local", num_cpus=2, include_dashboard=False, _system_config=SYSTEM_CONFIG, logging_level="WARNING")
    yield
    ray.shutdown()


def _study(tmp_path, name: str, **fields) -> tuple[int, object]:
    from rt_avg.cli import main

    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"study": name, "steps": STEPS, "overrides": TINY,
                                    **fields}))
    out = tmp_path / "out"
    return main(["study", name, "--file", str(path), "--out", str(out)]), out


@pytest.mark.slow
@pytest.mark.ray
def test_buffer_size_study_plots_the_runs_final_returns(local_ray, tmp_path, capsys):
    code, out = _study(tmp_path, "buffer-size", seeds=2, methods=["sac", "ppo"],
                       sizes=[1, "full"])
    assert code == 0
    printed = capsys.readouterr().out
    assert ("| variant | method | setting | seeds | steps | final return IQM (95% CI) | "
            "final return mean (95% CI) | AUC (95% CI) | P(ref > this) (95% CI) |") in printed
    assert "| avg | avg |" in printed  # AVG is the reference: P(AVG > each variant)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["study"] == "buffer-size" and summary["steps"] == STEPS
    runs = _variant_runs(out)
    by_name = {v["name"]: v for v in summary["variants"]}
    assert set(by_name) == {"sac-b1", "sac-b300", "ppo-b1", "ppo-b300", "avg"}
    assert by_name["avg"]["improvement"] is None
    assert by_name["sac-b1"]["improvement"]["reference"] == "avg"
    for name, paths in runs.items():
        finals = [_final(p) for p in paths]
        v = by_name[name]
        assert v["final_return"]["mean"] == pytest.approx(np.mean(finals))
        assert v["final_return"]["low"] <= v["final_return"]["mean"] <= v["final_return"]["high"]
        assert v["seeds"] == [0, 1] and v["steps"] == STEPS
    from rt_avg.analysis.study import write_study_report

    result = write_study_report(out)  # what the figure shows, read back from its axes
    assert (out / "buffer_size.png").read_bytes()[:4] == b"\x89PNG"
    shown = result.plotted["buffer_size"]
    assert "IQM over seeds" in shown.titles[0]
    assert "bars: about the range of the seeds (fewer than 5" in shown.titles[0]
    lines = {label: (x, y) for label, x, y in shown.lines}
    for method in ("sac", "ppo"):
        x, y = lines[method.upper()]
        assert x.tolist() == [1, STEPS]
        # the IQM of two seeds is their mean
        expected = [np.mean([_final(p) for p in runs[f"{method}-b{s}"]]) for s in (1, STEPS)]
        np.testing.assert_allclose(y, expected)
    (ref_label,) = [k for k in lines if k.startswith("AVG")]
    assert lines[ref_label][1][0] == pytest.approx(np.mean([_final(p) for p in runs["avg"]]))

    # resumable: the same command again trains nothing and reports the same numbers
    stamps = {p: (p / "episodes.csv").stat().st_mtime_ns for ps in runs.values() for p in ps}
    code, _ = _study(tmp_path, "buffer-size", seeds=2, methods=["sac", "ppo"],
                     sizes=[1, "full"])
    assert code == 0
    assert stamps == {p: (p / "episodes.csv").stat().st_mtime_ns for p in stamps}
    assert json.loads((out / "summary.json").read_text())["variants"] == summary["variants"]


@pytest.mark.slow
@pytest.mark.ray
def test_incremental_study_plots_the_runs_learning_curves(local_ray, tmp_path):
    methods = [m for m in ("avg", "sac1", "sac") if S.available(m)]
    code, out = _study(tmp_path, "incremental", seeds=2, methods=methods)
    assert code == 0
    names = [f"{m}-b1" if m == "sac" else m for m in methods]
    from rt_avg.analysis.study import write_study_report

    result = write_study_report(out)
    assert (out / "incremental.png").read_bytes()[:4] == b"\x89PNG"
    runs = _variant_runs(out)
    lines = result.plotted["incremental"].lines
    assert [label.split(" (")[0] for label, _, _ in lines] == names
    for label, x, y in lines:
        paths = runs[label.split(" (")[0]]
        # the curve's last point is the mean over seeds of each run's final return
        assert x[-1] == STEPS and y[-1] == pytest.approx(np.mean([_final(p) for p in paths]))
    summary = json.loads((out / "summary.json").read_text())
    assert [v["name"] for v in summary["variants"]] == names
    assert summary["variants"][-1]["buffer_size"] == 1


@pytest.mark.slow
@pytest.mark.ray
def test_ablation_study_plots_every_subset(local_ray, tmp_path):
    code, out = _study(tmp_path, "ablation", seeds=1, methods=["avg"])
    assert code == 0
    from rt_avg.analysis.study import write_study_report

    result = write_study_report(out)
    assert (out / "ablation.png").read_bytes()[:4] == b"\x89PNG"
    runs = _variant_runs(out)
    bars = result.plotted["ablation"].bars
    assert len(bars) == 8
    assert "bars: one seed: no interval" in result.plotted["ablation"].titles[0]
    for label, height in bars:
        (path,) = runs[label]
        assert height == pytest.approx(_final(path))
        cfg = yaml.safe_load((path / "config.yaml").read_text())["agent"]
        on = {k for k, key in (("obs", "normalize_obs"), ("pnorm", "penultimate_norm"),
                               ("td", "scale_td")) if cfg[key]}
        assert label == "avg-" + ("all" if len(on) == 3 else "+".join(
            k for k in ("obs", "pnorm", "td") if k in on) or "none")

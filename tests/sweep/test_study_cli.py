"""Through the real command line: one final return for a run in every command, study and
sweep requests refused before anything is written or Ray starts, and upper bounds."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, run_cli

ENV = "long_last_episode_env:LongLastEpisode-v0"
STEPS = 1000
LAST = 150.0
"""The scripted task: 85 episodes of 10 steps, then one of 150 steps that ends at step
1,000, spanning the last 10% of the run; its return is 150 (a reward of 1 per step)."""
TINY = {"agent.hidden_sizes": [16, 16], "run.metrics_every": 100,
        "run.checkpoint_every": 10**6}
MEMORY = 4 * 2**30
"""Address-space cap of the commands that must be refused: a command that instead started
expanding a billion trials fails on memory here rather than filling the machine's."""


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


@pytest.fixture
def scripted_env(monkeypatch):
    """The scripted task importable in the command and in the Ray workers it starts."""
    path = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (path, os.environ.get("PYTHONPATH")) if p))


def _study_file(folder: Path, seeds: int = 1) -> Path:
    path = folder / "incremental.yaml"
    path.write_text(yaml.safe_dump({"study": "incremental", "steps": STEPS, "seeds": seeds,
                                    "methods": ["avg"], "overrides": TINY}))
    return path


def _number_after(text: str, marker: str) -> float:
    return float(text.split(marker, 1)[1].split()[0].strip("|,"))


@pytest.mark.slow
@pytest.mark.ray
def test_final_return_is_the_same_in_every_command(tmp_path, scripted_env):
    """The last episode spans the last 10% of the steps: train's summary line, eval,
    report, study, sweep-summary and the metric reported to Tune all give its return."""
    run = tmp_path / "run"
    done = run_cli("train", "--env", ENV, "--steps", str(STEPS), "--run-dir", str(run),
                   "--quiet", "--set", "agent.hidden_sizes=[16,16]")
    assert done.returncode == 0, done.stderr
    assert _number_after(done.stdout, "final return ") == LAST

    evaluated = run_cli("eval", str(run), "--episodes", "1", "--json", "--trust-run-dir")
    if evaluated.returncode == 2 and "--trust-run-dir" in evaluated.stderr:  # older CLI
        evaluated = run_cli("eval", str(run), "--episodes", "1", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["training_final_return"] == LAST

    report = run_cli("report", str(run), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    row = next(line for line in report.stdout.splitlines() if "InvertedPendulum" not in line
               and "LongLastEpisode" in line)
    assert f" {LAST:g} " in row

    study_dir = tmp_path / "study"
    study = run_cli("study", "incremental", "--file", str(_study_file(tmp_path)), "--env", ENV,
                    "--out", str(study_dir), "--num-cpus", "1")
    assert study.returncode == 0, study.stdout + study.stderr
    variant = json.loads((study_dir / "summary.json").read_text())["variants"][0]
    assert variant["final_return"]["mean"] == LAST and variant["final_return_iqm"]["mean"] == LAST
    (record,) = [json.loads(p.read_text()) for p in study_dir.glob("runs/*/sweep_trial.json")]
    assert record["final_return"] == LAST  # what the trial reported to Tune at its end

    summary = run_cli("sweep-summary", str(study_dir), "--out", str(tmp_path / "summary"))
    assert summary.returncode == 0, summary.stderr
    data = json.loads((tmp_path / "summary" / "summary.json").read_text())
    assert data["configurations"][0]["final_return"]["mean"] == LAST


@pytest.mark.slow
@pytest.mark.ray
def test_study_files_are_written_only_once_the_request_is_accepted(tmp_path):
    out = tmp_path / "study"
    first = run_cli("study", "incremental", "--file", str(_study_file(tmp_path)), "--steps",
                    "50", "--out", str(out), "--num-cpus", "1")
    assert first.returncode == 0, first.stdout + first.stderr
    before = {p.name: p.read_bytes() for p in out.glob("*.json")}
    assert {"study.json", "sweep.json", "summary.json"} <= set(before)
    # the same folder with other seeds, or other steps: refused, every file left as it was
    for flag, value in (("--seeds", "2"), ("--steps", "60")):
        again = run_cli("study", "incremental", "--file", str(_study_file(tmp_path)), "--steps",
                        "50", flag, value, "--out", str(out), "--num-cpus", "1")
        assert again.returncode == 2 and "holds sweep" in again.stderr, again.stderr
        assert {p.name: p.read_bytes() for p in out.glob("*.json")} == before


def test_study_refuses_what_train_refuses_before_ray_starts(tmp_path):
    out = tmp_path / "study"
    train = run_cli("train", "--env", "CartPole-v1", "--steps", "10", "--run-dir",
                    str(tmp_path / "run"), "--quiet")
    study = run_cli("study", "incremental", "--env", "CartPole-v1", "--steps", "100",
                    "--seeds", "1", "--out", str(out), "--num-cpus", "1", timeout=300)
    assert train.returncode == study.returncode == 2
    assert "action space Discrete" in train.stderr and "action space Discrete" in study.stderr
    assert not out.exists()  # nothing written, no trial started
    assert "Ray" not in study.stdout + study.stderr and "Traceback" not in study.stderr


@pytest.mark.parametrize("command, message", [
    (["sweep", "{file}"], "sweep.samples: got 1000000000, allowed range is [1, 100000]"),
    (["study", "ablation", "--seeds", "100000000", "--out", "{dir}"],
     "study.seeds: got 100000000, allowed range is [1, 1000]"),
])
def test_sweep_samples_and_study_seeds_have_upper_bounds(tmp_path, command, message):
    sweep = tmp_path / "huge.yaml"
    sweep.write_text(yaml.safe_dump({
        "base": "default", "seeds": 3, "samples": 10**9,
        "space": {"agent.gamma": {"choice": [0.9, 0.99]}}}))
    args = [a.format(file=sweep, dir=tmp_path / "out") for a in command]
    done = run_cli(*args, timeout=300, preexec_fn=_capped)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_sweep_with_a_scheduler_needs_reports_and_one_task(tmp_path):
    base = {"base": "default", "seeds": 1, "overrides": {"run.steps": 2000},
            "scheduler": {"name": "asha"}}
    for extra, message in (({}, "sweep.scheduler: asha needs results during a trial"),
                           ({"report_every": 500, "base": ["default", "hopper"]},
                            "compares returns of one task")):
        path = tmp_path / "s.yaml"
        path.write_text(yaml.safe_dump({**base, **extra}))
        done = run_cli("sweep", str(path), "--sweep-dir", str(tmp_path / "sw"))
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert not (tmp_path / "sw").exists()


def test_ready_sweeps_with_asha_parse():
    from rt_avg.sweeps import spec as S

    for name in ("pendulum-asha", "avg-random-search-asha"):
        spec = S.load(ROOT / "configs" / "sweeps" / f"{name}.yaml")
        assert spec.file.scheduler.name == "asha" and spec.file.report_every

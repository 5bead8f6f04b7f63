"""Robot-budget figures and tables from hand-made run directories."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from rt_avg.analysis import robot_budgets
from rt_avg.analysis.runs import load_run


def fake_run(path: Path, seed: int, dt_s: float, returns: list[float], length: int,
             planned: int) -> Path:
    path.mkdir(parents=True)
    config = {"env": {"id": "rt_avg/UR5-Reacher-v0", "kwargs": {"dt_s": dt_s}},
              "run": {"seed": seed, "steps": planned, "mode": "inline"}}
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    rows = ["step,episode,return,length,wall_time_s"]
    rows += [f"{(i + 1) * length},{i},{r},{length},{(i + 1) * 0.5}" for i, r in enumerate(returns)]
    (path / "episodes.csv").write_text("\n".join(rows) + "\n")
    return path


def test_table_row_by_hand(tmp_path):
    returns = [float(i) for i in range(30)]  # 30 episodes of 100 steps
    run = load_run(fake_run(tmp_path / "s2", 2, 0.04, returns, 100, 400_000))
    row = robot_budgets.seed_row(run)
    assert row["seed"] == 2 and row["steps"] == 3000 and row["planned"] == 400_000
    assert row["episodes"] == 30
    assert row["first10"] == pytest.approx(4.5)    # mean of 0..9
    assert row["last10"] == pytest.approx(24.5)    # mean of 20..29
    assert row["wall_h"] == pytest.approx(15.0 / 3600)
    assert row["robot_h"] == pytest.approx(3000 * 0.04 / 3600)
    text = robot_budgets.table([row])
    assert "| 2 | 3,000 (400,000) | 30 | 4.5 | 24.5 | 0.00 | 0.03 |" in text


def test_figure_has_steps_and_robot_hours(tmp_path):
    task = tmp_path / "runs" / "create2_mover"
    for seed in range(3):
        fake_run(task / f"s{seed}", seed, 0.15, [10.0 * seed + i for i in range(40)], 600,
                 100_000)
    out = tmp_path / "img"
    assert robot_budgets.main([str(tmp_path / "runs"), "--out", str(out)]) == 0
    assert (out / "robot_create2_mover.png").stat().st_size > 0
    plotted = robot_budgets.plot_task("Create-Mover", robot_budgets.task_runs(task),
                                      out / "again.png")
    (_, x_steps, y_steps), (_, x_hours, y_hours) = plotted.lines
    np.testing.assert_allclose(x_hours, x_steps * 0.15 / 3600)
    np.testing.assert_allclose(y_hours, y_steps)
    assert x_steps[-1] == pytest.approx(40 * 600)
    assert plotted.titles == ["Create-Mover: return against env steps",
                              "Create-Mover: return against robot time"]


def test_no_runs_is_an_error_exit(tmp_path, capsys):
    assert robot_budgets.main([str(tmp_path)]) == 1
    assert "no runs" in capsys.readouterr().out


def test_a_run_without_a_period_is_refused(tmp_path):
    path = fake_run(tmp_path / "s0", 0, 0.04, [1.0], 100, 1000)
    (path / "config.yaml").write_text(yaml.safe_dump({"run": {"seed": 0, "steps": 1000}}))
    with pytest.raises(ValueError, match="dt_s"):
        robot_budgets.seed_row(load_run(path))

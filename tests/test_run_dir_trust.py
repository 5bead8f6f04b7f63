"""Opening a run directory imports no module its config.yaml names (agent.algo or env.id as
module.path:NAME) unless that module is part of rt-avg or the user allows it on the
command line: ``--trust-run-dir``, or naming the module again with ``--set``."""

import uuid

import pytest
import yaml

from helpers import quick_config, run_cli
from rt_avg.run.inline import train_inline
from test_checkpoint import snapshot


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """A finished run and an importable module that leaves a marker file when imported
    (what ``this:X`` or ``venv.__main__:X`` would do: run code)."""
    name = f"planted_{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "imported"
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / f"{name}.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
        "from rt_avg.algos.avg import ALGORITHM  # noqa: F401\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "mods"))
    run = tmp_path / "run"
    train_inline(quick_config(200, agent={"hidden_sizes": [16, 16]},
                              run={"checkpoint_every": 100}), run, progress=False)
    return run, name, marker


def _name_in_config(run, field, value):
    data = yaml.safe_load((run / "config.yaml").read_text())
    section, key = field.split(".")
    data[section][key] = value
    (run / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize("field, value", [("agent.algo", "{m}:ALGORITHM"),
                                          ("env.id", "{m}:InvertedPendulum-v5")])
@pytest.mark.parametrize("command", [["eval", "{run}", "--episodes", "1"],
                                     ["train", "--resume", "{run}", "--steps", "300", "--quiet"]])
def test_a_module_named_in_a_run_directory_is_not_imported(planted, field, value, command):
    run, name, marker = planted
    _name_in_config(run, field, value.format(m=name))
    before = snapshot(run)
    res = run_cli(*[a.format(run=run) for a in command])
    assert res.returncode == 2, res.stderr
    assert not marker.exists(), "the module was imported"
    assert "Traceback" not in res.stderr
    for part in (field, f"{name!r}", "--trust-run-dir", "Nothing was imported"):
        assert part in res.stderr, (part, res.stderr)
    assert snapshot(run) == before


def test_the_user_may_allow_it(planted):
    run, name, marker = planted
    _name_in_config(run, "env.id", f"{name}:InvertedPendulum-v5")
    res = run_cli("eval", str(run), "--episodes", "1", "--trust-run-dir")
    assert res.returncode == 0, res.stderr
    assert marker.exists()
    marker.unlink()
    # naming the same module again on the command line allows it too
    res = run_cli("train", "--resume", str(run), "--steps", "300", "--quiet",
                  "--set", f"env.id={name}:InvertedPendulum-v5")
    assert res.returncode == 0, res.stderr
    assert marker.exists()


@pytest.mark.parametrize("field, value", [("agent.algo", "{m}:ALGORITHM"),
                                          ("env.id", "{m}:InvertedPendulum-v5")])
def test_the_python_api_imports_no_module_a_run_directory_names(planted, field, value,
                                                                monkeypatch):
    import sys

    import rt_avg
    from rt_avg.core.config import ConfigError

    run, name, marker = planted
    monkeypatch.syspath_prepend(str(run.parent / "mods"))
    _name_in_config(run, field, value.format(m=name))
    with pytest.raises(ConfigError, match="trust_run_dir=True"):
        rt_avg.load(run)
    assert not marker.exists(), "the module was imported"
    assert name not in sys.modules
    policy = rt_avg.load(run, trust_run_dir=True)
    assert marker.exists()
    assert policy.act(policy.observation_space.sample()).shape == policy.action_space.shape

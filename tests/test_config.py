"""Config loading: ready files, and clear errors (field + what is allowed) for bad input."""

import pytest
import yaml

from helpers import run_cli
from rt_avg.core import config as C
from rt_avg.cli import main
from rt_avg.core.environments import validate_env_id


@pytest.mark.parametrize("path", sorted(C.config_dir().glob("*.yaml")), ids=lambda p: p.stem)
def test_ready_configs_load_and_name_known_envs(path):
    cfg = C.load(path)
    validate_env_id(cfg.env.id)


def test_published_settings_are_in_the_ready_files():
    hopper = C.load("hopper").agent
    assert (hopper.actor_lr, hopper.critic_lr, hopper.beta1, hopper.entropy_coef,
            hopper.gamma) == (1.1e-5, 7.7e-5, 0.0, 0.3, 0.99)
    finger = C.load("finger_spin").agent
    assert (finger.beta1, finger.gamma, finger.entropy_coef) == (0.9, 0.95, 0.006)
    assert C.ready_config_for_env("Humanoid-v5").agent.actor_lr == 6.3e-3
    assert C.ready_config_for_env("Swimmer-v5").env.id == "Swimmer-v5"


def test_round_trip(tmp_path):
    cfg = C.load("humanoid")
    C.save(cfg, tmp_path / "c.yaml")
    assert C.load(tmp_path / "c.yaml") == cfg


BAD = [
    ({"agent": {"lr": 1e-3}}, ["agent.lr", "unknown field", "actor_lr"]),
    ({"agent": {"gamma": 1.5}}, ["agent.gamma", "1.5", "[0, 1]"]),
    ({"agent": {"actor_lr": 0}}, ["agent.actor_lr", "(0, 1]"]),
    ({"run": {"steps": "ten"}}, ["run.steps", "'ten'", "an integer"]),
    ({"run": {"steps": 10.5}}, ["run.steps", "an integer"]),
    ({"run": {"mode": "fast"}}, ["run.mode", "'inline'", "'async'", "'sequential'"]),
    ({"env": {"action_mode": "squash"}}, ["env.action_mode", "'clip'", "'rescale'"]),
    ({"agent": {"hidden_sizes": [256, 0]}}, ["agent.hidden_sizes"]),
    ({"agent": {"log_std_min": 3.0}}, ["agent.log_std_min", "agent.log_std_max"]),
    ({"bogus": {}}, ["bogus", "unknown field", "agent"]),
    ({"agent": {"normalize_obs": "yes"}}, ["agent.normalize_obs", "true/false"]),
]


@pytest.mark.parametrize("data,words", BAD, ids=[next(iter(b[0])) + "." + next(iter(b[0][next(iter(b[0]))] or {"x": 0})) for b in BAD])
def test_bad_values_are_rejected_with_clear_messages(data, words):
    with pytest.raises(C.ConfigError) as err:
        C.from_dict(data)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_unknown_env_id_suggests_close_match():
    with pytest.raises(C.ConfigError) as err:
        validate_env_id("Hoper-v5")
    assert "env.id" in str(err.value) and "'Hopper-v5'" in str(err.value)


def _write(tmp_path, data):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize("data,words", [
    ({"agent": {"gamma": 2}}, ["agent.gamma", "allowed range"]),
    ({"env": {"id": "Hoper-v5"}}, ["env.id", "Hopper-v5"]),
    ({"run": {"steps": -3}}, ["run.steps", "[1, inf]"]),
])
def test_cli_rejects_bad_config_without_traceback(tmp_path, capsys, data, words):
    code = main(["train", "--config", _write(tmp_path, data), "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("rt-avg: error: ")
    for w in words:
        assert w in err
    assert not (tmp_path / "r").exists()  # nothing started


def test_cli_rejects_bad_flags(tmp_path, capsys):
    assert main(["train", "--set", "agent.gamma=9", "--run-dir", str(tmp_path / "r")]) == 2
    assert "agent.gamma" in capsys.readouterr().err
    assert main(["train", "--set", "gamma=9"]) == 2
    assert "section.key=value" in capsys.readouterr().err
    assert main(["train", "--config", "no-such-config"]) == 2
    assert "ready ones: " in capsys.readouterr().err
    assert main(["train", "--env", "CartPole-v1", "--run-dir", str(tmp_path / "r")]) == 2
    assert "1-D continuous Box" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_cli_bad_config_in_a_real_process(tmp_path):
    res = run_cli("train", "--config", _write(tmp_path, {"agent": {"gamma": "high"}}))
    assert res.returncode == 2
    assert "agent.gamma" in res.stderr and "a number" in res.stderr
    assert "Traceback" not in res.stderr


def test_cpu_affinity_is_checked():
    assert C.from_dict({"realtime": {"cpu_affinity": {"env": [0], "learner": [1]}}})
    with pytest.raises(C.ConfigError, match=r"realtime.cpu_affinity.gpu: unknown field"):
        C.from_dict({"realtime": {"cpu_affinity": {"gpu": [0]}}})
    with pytest.raises(C.ConfigError, match=r"realtime.cpu_affinity.env: got 'all'"):
        C.from_dict({"realtime": {"cpu_affinity": {"env": "all"}}})


def test_nested_override_and_unknown_env_kwargs():
    cfg = C.apply_override(C.load("ur5_reacher2_hardware"), "env.kwargs.host=10.0.0.2")
    assert cfg.env.kwargs["host"] == "10.0.0.2"
    from rt_avg.core.environments import validate_env_config
    bad = C.apply_override(cfg, "env.kwargs.hots=1")
    with pytest.raises(C.ConfigError, match=r"env.kwargs.hots: .* no such parameter"):
        validate_env_config(bad.env)


def test_a_learner_without_a_file_for_the_task_takes_its_published_settings():
    sac1 = C.ready_config_for_env("InvertedPendulum-v5", "sac1")
    assert sac1.env.id == "InvertedPendulum-v5" and sac1.agent.algo == "sac1"
    assert (sac1.agent.actor_lr, sac1.agent.beta1, sac1.sac1.alpha_lr) == (6e-5, 0.9, 0.6)
    assert sac1.run == C.Config().run  # the task's run settings, not Hopper's 1M steps

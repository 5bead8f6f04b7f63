"""Sweep files: parsing errors name the field, expansion is deterministic and validated."""

import pytest
import yaml

from rt_avg.sweeps import spec as S
from rt_avg.core.config import ConfigError


def _spec(**fields):
    data = {"name": "t", "base": "default", "seeds": 2}
    data.update(fields)
    return S.parse(data)


@pytest.mark.parametrize("fields, message", [
    ({"seeds": 0}, "sweep.seeds: got 0, expected a number of seeds in [1, 1000]"),
    ({"seeds": [1, 1]}, "sweep.seeds: got [1, 1], expected distinct seeds"),
    ({"seeds": "3"}, "sweep.seeds: got '3'"),
    ({"bogus": 1}, "sweep.bogus: unknown field; allowed: base, max_concurrent, max_failures, name"),
    ({"space": {"agent.actr_lr": {"grid": [1e-4]}}},
     "sweep.space: unknown field 'agent.actr_lr'; allowed in agent: algo, actor_lr"),
    ({"space": {"agents.actor_lr": {"grid": [1e-4]}}},
     "sweep.space: unknown section 'agents' in 'agents.actor_lr'; allowed: env, agent"),
    ({"space": {"gamma": {"grid": [0.9]}}}, "sweep.space: got key 'gamma', expected section.key"),
    ({"space": {"agent.gamma": {"uniform": [0.9, 1]}}},
     "sweep.space['agent.gamma'].uniform: unknown field; allowed: choice, grid"),
    ({"space": {"agent.gamma": {"grid": [0.9], "choice": [1.0]}}},
     "sweep.space['agent.gamma']: got {'grid': [0.9], 'choice': [1.0]}, expected {grid: [values...]}"),
    ({"space": {"agent.gamma": {"grid": []}}},
     "sweep.space['agent.gamma'].grid: got [], expected a non-empty list"),
    ({"space": {"agent.actor_lr": {"choice": {"mantissa": [5, 1], "exponent": [-6, -4]}}}},
     "sweep.space['agent.actor_lr'].choice.mantissa: got [5, 1], expected [lo, hi] with lo <= hi"),
    ({"space": {"agent.actor_lr": {"choice": {"mantissa": [1, 9]}}}},
     "sweep.space['agent.actor_lr'].choice: got {'mantissa': [1, 9]}, expected a list of "
     "values or {mantissa: ..., exponent: ...}"),
    ({"samples": 3}, "sweep.samples: got 3, but the space has no choice parameter"),
    ({"overrides": {"run.stepz": 10}}, "sweep.overrides: unknown field 'run.stepz'"),
    ({"resources": {"gpu": 1}}, "sweep.resources.gpu: unknown field; allowed: cpu"),
    ({"resources": {"cpu": 0}}, "sweep.resources.cpu: got 0.0, allowed range is (0, inf]"),
    ({"storage": "s3"}, "sweep.storage: got 's3', expected one of 'auto', 'shared', 'upload'"),
    ({"name": "a b"}, "sweep.name: got 'a b'"),
    ({"max_failures": -1}, "sweep.max_failures: got -1, allowed range is [0, inf]"),
    ({"variants": {"a": 3}}, "sweep.variants.a: got 3, expected a mapping of section.key"),
    ({"variants": {"a": {"agent.algoo": "sac"}}}, "sweep.variants.a: unknown field 'agent.algoo'"),
])
def test_parse_errors_name_the_field(fields, message):
    with pytest.raises(ConfigError) as err:
        _spec(**fields)
    assert message in str(err.value)


def test_missing_base_and_seeds():
    with pytest.raises(ConfigError, match="sweep.base: missing"):
        S.parse({"name": "x", "seeds": 1})
    with pytest.raises(ConfigError, match="sweep.seeds: missing"):
        S.parse({"name": "x", "base": "hopper"})
    with pytest.raises(ConfigError, match="sweep.name: missing"):
        S.parse({"base": "hopper", "seeds": 1})
    with pytest.raises(ConfigError, match="sweep: expected a mapping"):
        S.parse([1, 2])


def test_every_trial_config_is_validated_up_front():
    # 0 is outside agent.actor_lr's range (0, 1]: the second grid value fails the sweep.
    spec = _spec(space={"agent.actor_lr": {"grid": [1e-4, 0.0]}})
    with pytest.raises(ConfigError) as err:
        S.expand(spec)
    assert "configuration c001 (agent.actor_lr=0.0)" in str(err.value)
    assert "agent.actor_lr: got 0.0, allowed range is (0, 1]" in str(err.value)
    with pytest.raises(ConfigError, match="sweep.base: 'no_such_config'"):
        S.expand(_spec(base="no_such_config"))
    spec = _spec(overrides={"env.id": "NoSuchEnv-v0"})
    with pytest.raises(ConfigError, match="env.id: unknown environment 'NoSuchEnv-v0'"):
        S.check_envs(S.expand(spec))


def test_grid_times_seeds_and_overrides():
    spec = _spec(seeds=[3, 5], overrides={"run.steps": 100, "agent.hidden_sizes": [8]},
                 space={"agent.gamma": {"grid": [0.9, 0.99]},
                        "agent.beta1": {"grid": [0.0, 0.9]}})
    trials = S.expand(spec)
    assert [t.trial_id for t in trials] == ["c000-s3", "c000-s5", "c001-s3", "c001-s5",
                                            "c002-s3", "c002-s5", "c003-s3", "c003-s5"]
    assert dict(trials[2].params) == {"agent.gamma": 0.9, "agent.beta1": 0.9}
    assert trials[2].config.agent.beta1 == 0.9 and trials[2].config.run.seed == 3
    assert all(t.config.run.steps == 100 and t.config.agent.hidden_sizes == (8,) for t in trials)
    assert trials[0].config.env.id == "InvertedPendulum-v5"  # base: default
    assert S.fingerprint(trials) == S.fingerprint(S.expand(spec))
    assert S.fingerprint(trials) != S.fingerprint(S.expand(_spec(seeds=[3])))


def test_random_choices_are_deterministic_per_sample_seed():
    space = {"agent.actor_lr": {"choice": {"mantissa": [1, 99], "exponent": [-6, -4]}},
             "agent.gamma": {"grid": [0.95, 0.99]}}
    a = S.expand(_spec(seeds=1, space=space, samples=4, sample_seed=1))
    b = S.expand(_spec(seeds=1, space=space, samples=4, sample_seed=1))
    c = S.expand(_spec(seeds=1, space=space, samples=4, sample_seed=2))
    assert len(a) == 8 and [t.params for t in a] == [t.params for t in b]
    assert [t.params for t in a] != [t.params for t in c]
    assert [dict(t.params)["agent.gamma"] for t in a] == [0.95] * 4 + [0.99] * 4


def test_wandb_trials_share_the_sweep_group(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"tracking": {"wandb": True, "group": "other"}}))
    sweep = tmp_path / "sw.yaml"
    sweep.write_text(yaml.safe_dump({"name": "grouped", "base": "base.yaml", "seeds": 2}))
    trials = S.expand(S.load(sweep))  # base resolves beside the sweep file
    assert {t.config.tracking.group for t in trials} == {"grouped"}
    assert S.load(sweep).name == "grouped"
    no_wandb = S.expand(_spec())
    assert {t.config.tracking.group for t in no_wandb} == {None}


def test_published_search_space_file():
    spec = S.load("avg-random-search")
    space = {p.key: p for p in spec.space}
    lr = space["agent.actor_lr"].values
    assert space["agent.actor_lr"].kind == "choice" and len(lr) == 3 * 99
    assert {1e-4, 9.9e-3, 1e-5, 9.9e-4, 1e-6, 9.9e-5, 6.3e-5} <= set(lr)
    assert space["agent.critic_lr"].values == lr
    assert sorted(space["agent.beta1"].values) == [0.0, 0.9]
    eta = space["agent.entropy_coef"].values
    assert len(eta) == 5 * 9 and min(eta) == 1e-5 and max(eta) == 0.9 and 7e-3 in eta
    assert space["agent.gamma"].values == (0.95, 0.97, 0.99, 0.995, 1.0)
    trials = S.expand(spec)
    assert len(trials) == spec.file.samples * len(spec.seeds)
    assert {t.config.env.id for t in trials} == {"Hopper-v5"}


@pytest.mark.parametrize("name, bases", [
    ("replicate-mujoco", ["hopper", "walker2d", "ant", "halfcheetah", "humanoid"]),
    ("replicate-dmc", ["reacher_hard", "finger_spin", "dog_stand", "dog_walk", "dog_trot",
                       "dog_run"]),
])
def test_replication_files_cover_every_ready_config(name, bases):
    from rt_avg.core.config import load

    spec = S.load(name)
    trials = S.expand(spec)
    assert list(spec.bases) == bases and len(spec.seeds) >= 5
    for t in trials:
        published = load(dict(t.params)["base"])
        assert t.config.agent == published.agent and t.config.run.steps == published.run.steps
    # every ready AVG config of a published (simulated benchmark) task; robot tasks are
    # rt_avg/..., and the baselines' ready configs (iac, sac1) are not AVG's settings
    ready = {p.stem for p in S.sweeps_dir().parent.glob("*.yaml")
             if not load(p).env.id.startswith("rt_avg/") and load(p).agent.algo == "avg"}
    covered = set(S.load("replicate-mujoco").bases) | set(S.load("replicate-dmc").bases)
    assert covered == ready


def test_unknown_ready_sweep_lists_the_ready_ones():
    with pytest.raises(ConfigError, match="ready ones: .*smoke"):
        S.load("no-such-sweep")

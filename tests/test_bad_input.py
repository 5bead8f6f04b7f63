"""Bad input through the real command line: a clear error naming the input and what is
allowed, no traceback, and nothing changed where the input was rejected.  NaN or inf from
the env or the learner stops a run (inline, and the real-time workers) before the value
is acted on, learned from or checkpointed."""

import threading

import numpy as np
import pytest

import nonfinite_env  # noqa: F401  (registers test/NonFinite-v0)
from helpers import HANG_S, quick_config, run_cli, wait_for
from rt_avg.realtime.channels import LatestChannel, transition_dtype, weights_dtype
from rt_avg.run.checkpoint import latest_checkpoint, load_checkpoint
from rt_avg.core.finite import NonFiniteError
from rt_avg.run.inline import train_inline
from rt_avg.realtime.env_worker import EnvWorker
from rt_avg.realtime.learner_worker import LearnerWorker
from test_checkpoint import snapshot

NONFINITE = "tests.nonfinite_env:test/NonFinite-v0"  # importable from the repository root
SHORT_RUN = ["--run-dir", "{new}", "--steps", "400", "--set", "run.checkpoint_every=100"]
BLOW_UP = ["--env", NONFINITE, "--set", "env.kwargs.what=reward", "--set",
           "agent.scale_td=false", *SHORT_RUN]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A finished run, a plain file, a config file that is not UTF-8, a path for new runs."""
    root = tmp_path_factory.mktemp("bad_input")
    train_inline(quick_config(200, run={"checkpoint_every": 100}), root / "run", progress=False)
    (root / "a_file").write_text("not a directory\n")
    (root / "latin1.yaml").write_bytes("run:\n  steps: 100  # d\xe9j\xe0 vu\n".encode("latin-1"))
    return root


# (arguments, exit code, what the message must name); {run}, {file}, {cfg}, {new} are paths
CASES = {
    "config not UTF-8": (["train", "--config", "{cfg}", "--run-dir", "{new}"], 2,
                         ["latin1.yaml", "not UTF-8", "0xe9"]),
    "seed too large": (["train", "--seed", "99999999999999999999", "--run-dir", "{new}"], 2,
                       ["run.seed", "99999999999999999999", "[0, 4294967295]"]),
    "--set not YAML": (["train", "--set", "agent.hidden_sizes=[64,", "--run-dir", "{new}"], 2,
                       ["--set", "agent.hidden_sizes", "'[64,'", "not valid YAML"]),
    "--run-dir is a file": (["train", "--run-dir", "{file}"], 2, ["--run-dir", "is a file"]),
    "--run-dir inside a file": (["train", "--run-dir", "{file}/run"], 2,
                                ["--run-dir", "a file"]),
    "--resume is a file": (["train", "--resume", "{file}"], 2, ["--resume", "is a file"]),
    "eval of a file": (["eval", "{file}"], 2, ["run_dir", "is a file"]),
    "hidden sizes huge": (["train", "--set", "agent.hidden_sizes=[1000000, 1000000]",
                           "--run-dir", "{new}"], 2,
                          ["agent.hidden_sizes", "[1000000, 1000000]", "4096", "16,777,216"]),
    "too many weights": (["train", "--set", "agent.hidden_sizes=[4096, 4096, 4096]",
                          "--run-dir", "{new}"], 2, ["agent.hidden_sizes", "16,777,216"]),
    "torch threads too large": (["train", "--set", "run.torch_threads=99999999999999999999",
                                 "--run-dir", "{new}"], 2, ["run.torch_threads", "[1, 1024]"]),
    "UR5 host not set": (["train", "--config", "ur5_reacher2_hardware", "--run-dir", "{new}"],
                         2, ["env.kwargs", "placeholder '<robot-ip>'", "env.kwargs.host="]),
    "--env empty": (["train", "--env", "", "--run-dir", "{new}"], 2, ["--env", "''", "Hopper"]),
    "--config empty": (["train", "--config", "", "--run-dir", "{new}"], 2, ["--config", "''"]),
    "--resume empty": (["train", "--resume", ""], 2, ["--resume", "''"]),
    "--resume with --env": (["train", "--resume", "{run}", "--env", "Hopper-v5"], 2,
                            ["--env", "cannot be combined with --resume"]),
    "resume, seed too large": (["train", "--resume", "{run}", "--seed", "99999999999999999999"],
                               2, ["run.seed", "4294967295"]),
    "resume, --set not YAML": (["train", "--resume", "{run}", "--set",
                                "agent.hidden_sizes=[64,"], 2, ["not valid YAML"]),
    "resume, hidden sizes huge": (["train", "--resume", "{run}", "--set",
                                   "agent.hidden_sizes=[1000000, 1000000]"], 2, ["4096"]),
    "resume, other network": (["train", "--resume", "{run}", "--set",
                               "agent.hidden_sizes=[64, 64]", "--steps", "400"], 2,
                              ["does not fit the checkpoint", "learner.actor", "(64, 64)"]),
    # env.kwargs are checked by value against the env's signature before anything starts
    "env kwarg of the wrong type": (["train", "--set", "env.kwargs.reset_noise_scale=abc",
                                     "--run-dir", "{new}"], 2,
                                    ["env.kwargs.reset_noise_scale", "'abc'", "a number"]),
    "env kwarg null": (["train", "--env", "Pendulum-v1", "--set", "env.kwargs.g=null",
                        "--run-dir", "{new}"], 2, ["env.kwargs.g", "None", "a number"]),
    "render_mode human": (["train", "--set", "env.kwargs.render_mode=human",
                           "--run-dir", "{new}"], 2,
                          ["env.kwargs.render_mode", "'human'", "rgb_array"]),
    "render_mode human, async": (["train", "--env", "Pendulum-v1", "--mode", "async", "--set",
                                  "env.kwargs.render_mode=human", "--run-dir", "{new}"], 2,
                                 ["env.kwargs.render_mode", "'human'"]),
    "eval no episodes": (["eval", "{run}", "--episodes", "0"], 2, ["--episodes", "got 0", ">= 1"]),
    "eval negative episodes": (["eval", "{run}", "--episodes", "-3"], 2, ["--episodes", "-3"]),
    "NaN observation": (["train", "--env", NONFINITE, "--set", "env.kwargs.bad_step=240",
                         *SHORT_RUN], 1,
                        ["non-finite observation", "[0] = nan", "step 240"]),
    "inf reward": (["train", "--env", NONFINITE, "--set", "env.kwargs.bad_step=240",
                    "--set", "env.kwargs.what=reward", "--set", "env.kwargs.value=.inf",
                    *SHORT_RUN], 1,
                   ["non-finite reward (inf)", "step 240"]),
    # Finite rewards too large for the learner (TD scaling off).  1e200 at step 250: the
    # critic loss (delta / sigma)^2 overflows to inf at that update.  1e25 at step 240: the
    # losses stay finite, but the squared gradients overflow float32 and Adam's second
    # moments become inf, which the next checkpoint (step 300) refuses.
    "losses blow up": (["train", *BLOW_UP, "--set", "env.kwargs.value=1e200",
                        "--set", "env.kwargs.bad_step=250"], 1,
                       ["losses became non-finite at step 250", "losses/critic = inf"]),
    "optimiser state blows up": (["train", *BLOW_UP, "--set", "env.kwargs.value=1e25",
                                  "--set", "env.kwargs.bad_step=240"], 1,
                                 ["non-finite by step 300", "learner.critic_opt"]),
}
STARTED = {"NaN observation", "inf reward", "losses blow up", "optimiser state blows up"}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_table(work, tmp_path, case):
    args, code, names = CASES[case]
    new = tmp_path / "new"
    paths = {"{run}": work / "run", "{file}": work / "a_file", "{cfg}": work / "latin1.yaml",
             "{new}": new}
    for key, value in paths.items():
        args = [a.replace(key, str(value)) for a in args]
    before = snapshot(work)
    res = run_cli(*args, *(["--quiet"] if args[0] == "train" else []))
    assert res.returncode == code, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    for name in names:
        assert name in res.stderr, (name, res.stderr)
    assert snapshot(work) == before  # the run directory and the files are unchanged
    if case in STARTED:  # the last checkpoint is the last finite one, from before the fault
        newest = latest_checkpoint(new / "checkpoints")
        assert newest.name == "step_0000000200.pt"
        load_checkpoint(newest)  # loads: no NaN or inf in it
    else:
        assert not new.exists()


# ------------------------------------------------------------------ the real-time workers


class Sink:
    def __init__(self):
        self.snapshots, self.events = [], []

    def episode(self, *a):
        pass

    def metrics(self, row):
        pass

    def timing(self, role, chunk):
        pass

    def snapshot(self, role, step, state):
        self.snapshots.append((role, step, state))

    def event(self, *a):
        self.events.append(a)


def test_env_worker_stops_the_robot_on_a_nan_observation():
    cfg = quick_config(100, env={"id": "test/NonFinite-v0", "kwargs": {"bad_step": 30}},
                       agent={"hidden_sizes": [16, 16]},
                       run={"mode": "async", "steps": 100, "checkpoint_every": 10},
                       realtime={"dt_s": 0.0})
    sink = Sink()
    worker = EnvWorker(cfg, sink)
    transitions = LatestChannel.create(transition_dtype(worker.obs_dim, worker.act_dim))
    weights = LatestChannel.create(weights_dtype(worker.policy.actor.flat.size))
    weights.write(version=0, env_step=0, values=worker.policy.actor.flat)
    learner_side = LatestChannel.attach(transitions.spec)
    worker.connect(transitions, LatestChannel.attach(weights.spec))
    try:
        with pytest.raises(NonFiniteError, match="observation .* at step 30"):
            worker.run()
        assert worker.env.unwrapped.stopped >= 1  # the robot was told to stop
        assert int(learner_side.read_latest()["env_step"]) == 29  # never sent to the learner
        assert [s for _, s, _ in sink.snapshots] == [10, 20]  # finite ones only
        with pytest.raises(NonFiniteError):  # its state is never checkpointed
            worker.state()
    finally:
        worker.close()
        learner_side.close()
        weights.close()


def test_learner_worker_stops_before_publishing_non_finite_weights():
    obs_dim, act_dim = 3, 1
    cfg = quick_config(100, agent={"hidden_sizes": [16, 16], "scale_td": False},
                       run={"mode": "async", "steps": 100, "checkpoint_every": 10**9},
                       realtime={"sync_every": 1})
    worker = LearnerWorker(cfg, obs_dim, act_dim, Sink())
    transitions = LatestChannel.create(transition_dtype(obs_dim, act_dim))
    weights = LatestChannel.create(weights_dtype(worker.n_weights))
    env_side = LatestChannel.attach(weights.spec)
    worker.connect(LatestChannel.attach(transitions.spec), weights)
    failure = []

    def run():
        try:
            worker.run()
        except NonFiniteError as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert env_side.wait_newer(0, timeout_s=HANG_S) is not None  # the initial weights
        # A finite reward too large for float32 gradients: the critic's weights become NaN
        # in update 1 (its losses, from the weights before it, are finite), update 2's
        # losses are NaN.
        for step, reward in ((1, 1e38), (2, 0.0), (3, 0.0)):
            transitions.write(obs=np.full(obs_dim, 0.1), eps=np.zeros(act_dim), reward=reward,
                              next_obs=np.full(obs_dim, 0.2), env_step=step,
                              policy_version=step - 1)
            # A latest-value channel: the next write waits until the learner has this one.
            wait_for(lambda: worker.transitions_seen >= step or not thread.is_alive(),
                     f"the learner takes transition {step}", poll_s=0.002)
            if not thread.is_alive():
                break
        thread.join(timeout=HANG_S)
        assert failure and "losses became non-finite at step 2" in str(failure[0]), failure
        latest = env_side.read_latest()
        assert int(latest["version"]) == 1  # update 2's weights never reached the env
        assert np.isfinite(latest["values"]).all()
        with pytest.raises(NonFiniteError):
            worker.state()
    finally:
        worker.stop()
        thread.join(timeout=10)
        worker.close()
        env_side.close()
        transitions.close()

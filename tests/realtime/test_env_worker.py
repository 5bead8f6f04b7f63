"""The env worker without Ray: pacing, and tasks that wait for the cycle inside step()."""

import threading
import time

import gymnasium as gym
import numpy as np

from helpers import HANG_S, quick_config, wait_for
from rt_avg.realtime.channels import LatestChannel, transition_dtype
from rt_avg.run.env_loop import EnvLoop
from rt_avg.realtime.env_worker import EnvWorker
from rt_avg.core import ResetInterrupted
from rt_avg.realtime.channels import weights_dtype


class ListSink:
    def __init__(self):
        self.episodes, self.timings, self.events = [], [], []

    def episode(self, *a):
        self.episodes.append(a)

    def metrics(self, row):
        pass

    def timing(self, role, chunk):
        self.timings.append(chunk)

    def snapshot(self, role, step, state):
        pass

    def event(self, *a):
        self.events.append(a)


class SensorTask(gym.Env):
    """A robot-like task: step sends a command, waits for the cycle, then reads sensors."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self, use_waiter=True):
        self.use_waiter = use_waiter
        self.waiter = None
        self.sent, self.read = [], []
        self.stopped = 0
        self.n = 0

    def set_cycle_waiter(self, waiter):
        self.waiter = waiter if self.use_waiter else None
        return self.waiter is not None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.n = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.sent.append(time.monotonic_ns())
        if self.waiter:
            self.waiter()
        self.read.append(time.monotonic_ns())
        self.n += 1
        return np.full(2, 0.1, np.float32), 0.0, False, self.n >= 10, {}

    def stop(self):
        self.stopped += 1


gym.register("test/SensorTask-v0", entry_point=SensorTask)


class SlowResetTask(SensorTask):
    """A robot whose reset (think: a charging wait) lasts until ``stop()`` cuts it short."""

    def __init__(self, use_waiter=False):
        super().__init__(use_waiter)
        self.resets = 0
        self.charged = threading.Event()
        self._abort = threading.Event()

    def reset(self, *, seed=None, options=None):
        self.resets += 1
        while self.resets > 1 and not self.charged.wait(0.01):  # waits for the charger
            if self._abort.is_set():
                self._abort.clear()
                raise ResetInterrupted("charging wait cut short")
        return super().reset(seed=seed)

    def stop(self):
        super().stop()
        self._abort.set()


gym.register("test/SlowResetTask-v0", entry_point=SlowResetTask)


class RecordingWriter:
    """The transition channel, keeping the fields of every record the worker writes."""

    def __init__(self, channel):
        self.channel, self.records = channel, []

    def write(self, **fields):
        self.records.append(fields)
        return self.channel.write(**fields)

    def close(self):
        self.channel.close()


def _worker(dt_s, steps, use_waiter=True, task="test/SensorTask-v0"):
    cfg = quick_config(steps, env={"id": task, "kwargs": {"use_waiter": use_waiter}},
                       realtime={"dt_s": dt_s}, agent={"hidden_sizes": [16, 16]},
                       run={"mode": "async", "steps": steps, "checkpoint_every": 10**9})
    sink = ListSink()
    worker = EnvWorker(cfg, sink)
    transitions = RecordingWriter(
        LatestChannel.create(transition_dtype(worker.obs_dim, worker.act_dim)))
    n = worker.policy.actor.flat.size
    weights = LatestChannel.create(weights_dtype(n))
    weights.write(version=0, env_step=0, values=worker.policy.actor.flat)
    worker.connect(transitions, LatestChannel.attach(weights.spec))
    return worker, sink, weights, transitions.records


def _run_timed(worker, records, dt_s):
    """Run the worker; return, per step, the task's command-sent and sensors-read times and
    the transition's observation-in and action-out times, and the episodes' step ranges.

    The pacer never starts a cycle early: the k-th cycle of an episode starts at least
    k * dt after the schedule (re)started, which is after the run started (first episode)
    or after the last sensor read of the episode before.  Checked here for every step, on
    the worker's own time stamps; no speed is assumed, load only makes cycles later.
    """
    t0 = time.monotonic_ns()
    worker.run()
    task = worker.env.unwrapped
    sent, read = np.array(task.sent), np.array(task.read)
    t_obs = np.array([r["t_obs_ns"] for r in records])
    t_act = np.array([r["t_act_ns"] for r in records])
    assert [r["env_step"] for r in records] == list(range(1, len(sent) + 1))
    ends = [i for i, r in enumerate(records) if r["terminated"] or r["truncated"]]
    episodes = [range(a + 1, b + 1) for a, b in zip([-1, *ends], ends)]
    dt_ns = int(dt_s * 1e9)
    for episode in episodes:
        start = t0 if episode.start == 0 else read[episode.start - 1]
        for k, i in enumerate(episode):
            assert t_obs[i] >= start + k * dt_ns, (episode, k)
    # Observation in, then action out, then the command goes to the task.
    assert np.all(t_obs <= t_act) and np.all(t_act <= sent)
    return sent, read, t_obs, episodes


def test_task_reads_sensors_at_the_cycle_boundary():
    worker, sink, weights, records = _worker(dt_s=0.02, steps=30)
    try:
        sent, read, t_obs, episodes = _run_timed(worker, records, 0.02)
        assert [len(e) for e in episodes] == [10, 10, 10] and len(sink.episodes) == 3
        # Inside an episode the cycle starts between the command and the sensor read: the
        # wait is in the task's step, and the observation comes in at the cycle start
        # (after the wait, so the action latency does not hold it).
        for episode in episodes:
            for i in episode[1:]:
                assert sent[i - 1] <= t_obs[i] <= read[i - 1], i
        assert worker.env.unwrapped.stopped >= 1  # left safe
    finally:
        worker.close()
        weights.close()


def test_task_without_waiter_is_paced_by_the_worker():
    worker, sink, weights, records = _worker(dt_s=0.02, steps=20, use_waiter=False)
    try:
        sent, read, t_obs, episodes = _run_timed(worker, records, 0.02)
        assert [len(e) for e in episodes] == [10, 10]
        # The worker waits between steps: each cycle starts after the previous sensor read.
        for episode in episodes:
            for i in episode[1:]:
                assert read[i - 1] <= t_obs[i], i
    finally:
        worker.close()
        weights.close()


def test_stop_cuts_a_reset_short_and_the_next_run_resets_again():
    """Ctrl-C or a dead learner during a reset that would last long (a charging wait): the
    worker stops the task, the reset ends at once, the episode that just ended is still
    logged, and a run resumed from that state starts with the reset it missed."""
    worker, sink, weights, _ = _worker(dt_s=0.0, steps=1000, task="test/SlowResetTask-v0")
    try:
        runner = threading.Thread(target=worker.run)
        runner.start()
        task = worker.env.unwrapped
        wait_for(lambda: task.resets >= 2, "the second reset")
        assert task.resets == 2
        worker.stop()
        # The charger is never done: the reset can only end because stop() cut it short.
        runner.join(timeout=HANG_S)
        assert not runner.is_alive() and not task.charged.is_set()
        assert len(sink.episodes) == 1 and sink.episodes[0][3] == 10  # the 10-step episode
        state = worker.state()
        assert state["reset_pending"] and state["step"] == 10
        resumed = EnvLoop(worker.env, worker.policy, seed=0)
        task.charged.set()  # the charger is done: the missed reset goes through
        resumed.load_state_dict(state)
        assert task.resets == 3 and not resumed.state.reset_pending
        assert resumed.state.episode == 1 and resumed.state.episode_actions == []
    finally:
        worker.close()
        weights.close()

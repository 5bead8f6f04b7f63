"""The env worker without Ray: pacing, and tasks that wait for the cycle inside step()."""

import threading
import time

import gymnasium as gym
import numpy as np

from helpers import quick_config
from rt_avg.channels import LatestChannel, transition_dtype
from rt_avg.env_loop import EnvLoop
from rt_avg.realtime.env_worker import EnvWorker
from rt_avg.core import ResetInterrupted
from rt_avg.channels import weights_dtype


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


def _worker(dt_s, steps, use_waiter=True, task="test/SensorTask-v0"):
    cfg = quick_config(steps, env={"id": task, "kwargs": {"use_waiter": use_waiter}},
                       realtime={"dt_s": dt_s}, agent={"hidden_sizes": [16, 16]},
                       run={"mode": "async", "steps": steps, "checkpoint_every": 10**9})
    sink = ListSink()
    worker = EnvWorker(cfg, sink)
    transitions = LatestChannel.create(transition_dtype(worker.obs_dim, worker.act_dim))
    n = worker.policy.actor.flat.size
    weights = LatestChannel.create(weights_dtype(n))
    weights.write(version=0, env_step=0, values=worker.policy.actor.flat)
    worker.connect(transitions, LatestChannel.attach(weights.spec))
    return worker, sink, weights


def test_task_reads_sensors_at_the_cycle_boundary():
    worker, sink, weights = _worker(dt_s=0.02, steps=30)
    try:
        worker.run()
        task = worker.env.unwrapped
        sent, read = np.array(task.sent), np.array(task.read)
        # The read happens a cycle after the send (the waiter slept to the deadline).
        gaps_ms = (read - sent) / 1e6
        assert np.median(gaps_ms) > 10, gaps_ms
        chunk = {k: np.concatenate([c[k] for c in sink.timings]) for k in sink.timings[0]}
        cycles = chunk["cycle_ms"][~np.isnan(chunk["cycle_ms"])]
        assert abs(np.median(cycles) - 20.0) < 2.0, cycles
        # Observation in (cycle start) -> action out is the policy time, not the cycle.
        assert np.median(chunk["action_latency_us"]) < 5000
        assert task.stopped >= 1  # left safe
        assert len(sink.episodes) == 3
    finally:
        worker.close()
        weights.close()


def test_task_without_waiter_is_paced_by_the_worker():
    worker, sink, weights = _worker(dt_s=0.02, steps=20, use_waiter=False)
    try:
        t0 = time.monotonic()
        worker.run()
        assert time.monotonic() - t0 > 0.3  # 20 cycles of 20 ms, minus the resets
        task = worker.env.unwrapped
        gaps_ms = (np.array(task.read) - np.array(task.sent)) / 1e6
        assert np.median(gaps_ms) < 5
    finally:
        worker.close()
        weights.close()


def test_stop_cuts_a_reset_short_and_the_next_run_resets_again():
    """Ctrl-C or a dead learner during a reset that would last long (a charging wait): the
    worker stops the task, the reset ends at once, the episode that just ended is still
    logged, and a run resumed from that state starts with the reset it missed."""
    worker, sink, weights = _worker(dt_s=0.0, steps=1000, task="test/SlowResetTask-v0")
    try:
        runner = threading.Thread(target=worker.run)
        runner.start()
        task = worker.env.unwrapped
        deadline = time.monotonic() + 30
        while task.resets < 2 and time.monotonic() < deadline:  # in the second reset
            time.sleep(0.01)
        assert task.resets == 2
        t0 = time.monotonic()
        worker.stop()
        runner.join(timeout=5)
        assert not runner.is_alive() and time.monotonic() - t0 < 1.0
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

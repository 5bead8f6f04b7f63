"""The env worker without Ray: pacing, and tasks that wait for the cycle inside step()."""

import time

import gymnasium as gym
import numpy as np

from helpers import quick_config
from rt_avg.channels import LatestChannel, transition_dtype
from rt_avg.realtime.env_worker import EnvWorker
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


def _worker(dt_s, steps, use_waiter=True):
    cfg = quick_config(steps, env={"id": "test/SensorTask-v0", "kwargs": {"use_waiter": use_waiter}},
                       realtime={"dt_s": dt_s}, agent={"hidden_sizes": [16, 16]},
                       run={"mode": "async", "steps": steps, "checkpoint_every": 10**9})
    sink = ListSink()
    worker = EnvWorker(cfg, sink)
    transitions = LatestChannel.create(transition_dtype(worker.obs_dim, worker.act_dim))
    n = worker.policy.actor.flat_param.numel()
    weights = LatestChannel.create(weights_dtype(n))
    weights.write(version=0, env_step=0, values=worker.policy.actor.flat_param.numpy())
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

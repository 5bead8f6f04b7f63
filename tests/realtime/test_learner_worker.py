"""The learner worker without Ray: skipped transitions, the stall watchdog, weight sync."""

import threading

import numpy as np

from helpers import HANG_S, quick_config, wait_for
from test_env_worker import ListSink
from rt_avg.realtime.channels import LatestChannel, transition_dtype
from rt_avg.realtime.channels import weights_dtype
from rt_avg.realtime.learner_worker import LearnerWorker

OBS, ACT = 4, 1


def _worker(**realtime):
    cfg = quick_config(100, agent={"hidden_sizes": [16, 16]},
                       run={"mode": "async", "steps": 100, "checkpoint_every": 10**9,
                            "metrics_every": 10},
                       realtime={"watchdog_s": 0.1, **realtime})
    sink = ListSink()
    worker = LearnerWorker(cfg, OBS, ACT, sink)
    transitions = LatestChannel.create(transition_dtype(OBS, ACT))
    weights = LatestChannel.create(weights_dtype(worker.n_weights))
    worker.connect(LatestChannel.attach(transitions.spec), weights)
    return worker, sink, transitions, LatestChannel.attach(weights.spec)


def _write(ch, step):
    ch.write(obs=np.full(OBS, 0.1 * step), eps=np.zeros(ACT), reward=1.0,
             next_obs=np.full(OBS, 0.1 * step + 0.1), env_step=step)


def test_stall_is_reported_and_skips_are_counted():
    worker, sink, transitions, weights = _worker(sync_every=2)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        first = weights.wait_newer(0, timeout_s=HANG_S)
        assert first is not None and int(first["version"]) == 0  # initial weights
        for step in (1, 2, 3):  # three writes in a row: the learner may skip some
            _write(transitions, step)
        # Nothing new comes after step 3: once the learner has it, watchdog_s later it
        # reports a stall (at env step 3; a stall before the writes would say step 0).
        wait_for(lambda: [e for e in sink.events if e[0] == "stall" and e[2] == 3],
                 "a stall reported after env step 3")
    finally:
        worker.stop()
        thread.join(timeout=HANG_S)
    used = worker.transitions_seen
    assert used + worker.skipped == 3 and used >= 1
    assert worker.learner.updates == used
    latest = weights.read_latest()
    # published every 2 updates (plus the initial weights)
    assert int(latest["version"]) == (used // 2) * 2
    worker.close()
    transitions.close()

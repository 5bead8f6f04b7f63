"""EnvActor and LearnerActor: thin Ray wrappers around the library's real-time workers.

Both are threaded actors: ``run`` occupies one thread for the whole run while ``stop``,
``progress`` and ``state`` answer from another.  Each sets torch to one thread and, when
the config asks for it, pins itself to CPUs.
"""

from __future__ import annotations

import os
from typing import Any

import ray

from rt_avg.actors.mailbox import current_node_id, open_channel
from rt_avg.actors.sink import RaySink
from rt_avg.channels import transition_dtype, weights_dtype
from rt_avg.config import from_dict
from rt_avg.realtime.env_worker import EnvWorker
from rt_avg.realtime.learner_worker import LearnerWorker


def _pin(cfg_data: dict, role: str) -> None:
    cpus = (cfg_data.get("realtime", {}).get("cpu_affinity") or {}).get(role)
    if cpus:
        os.sched_setaffinity(0, set(cpus))


class _WorkerActor:
    """What both roles share: run the worker, flush the lossless path, answer control calls."""

    worker: EnvWorker | LearnerWorker
    sink: RaySink

    def run(self) -> dict[str, Any]:
        try:
            return self.worker.run()
        finally:
            self.sink.flush()

    def stop(self) -> None:
        self.worker.stop()

    def state(self) -> dict:
        return self.worker.state()

    def close(self) -> None:
        self.worker.close()


@ray.remote(max_concurrency=4)
class EnvActor(_WorkerActor):
    def __init__(self, cfg_data: dict, logger: ray.actor.ActorHandle) -> None:
        _pin(cfg_data, "env")
        self.sink = RaySink(logger)
        self.worker = EnvWorker(from_dict(cfg_data), self.sink)

    def info(self) -> dict[str, Any]:
        return {"obs_dim": self.worker.obs_dim, "act_dim": self.worker.act_dim,
                "node_id": current_node_id(), "pid": os.getpid(),
                "cpus": sorted(os.sched_getaffinity(0))}

    def open_transitions(self, reader_node_id: str) -> Any:
        self._transitions = open_channel(
            transition_dtype(self.worker.obs_dim, self.worker.act_dim),
            reader_node_id=reader_node_id, label="transitions")
        return self._transitions.spec

    def attach_weights(self, spec: Any) -> None:
        self.worker.connect(self._transitions, spec.open_reader())

    def restore(self, env_loop_state: dict) -> None:
        self.worker.restore(env_loop_state)

    def progress(self) -> dict[str, Any]:
        return self.worker.progress()


@ray.remote(max_concurrency=4)
class LearnerActor(_WorkerActor):
    def __init__(self, cfg_data: dict, obs_dim: int, act_dim: int,
                 logger: ray.actor.ActorHandle, update_delay_s: float = 0.0) -> None:
        _pin(cfg_data, "learner")
        self.sink = RaySink(logger)
        self.worker = LearnerWorker(from_dict(cfg_data), obs_dim, act_dim, self.sink,
                                    update_delay_s)

    def info(self) -> dict[str, Any]:
        return {"node_id": current_node_id(), "pid": os.getpid(),
                "cpus": sorted(os.sched_getaffinity(0))}

    def open_weights(self, reader_node_id: str) -> Any:
        self._weights = open_channel(weights_dtype(self.worker.n_weights),
                                     reader_node_id=reader_node_id, label="weights")
        return self._weights.spec

    def attach_transitions(self, spec: Any) -> None:
        self.worker.connect(spec.open_reader(), self._weights)

    def restore(self, learner_state: dict, env_step: int) -> None:
        self.worker.restore(learner_state, env_step)

"""EnvActor and LearnerActor: thin Ray wrappers around the library's real-time workers.

Both are threaded actors: ``run`` occupies one thread for the whole run while ``stop``,
``progress`` and ``state`` answer from another.  Each sets torch to one thread and, when
the config asks for it, pins itself to CPUs.

The workers (and with them torch) are imported inside the actors only: the driver imports
this module to name the actor classes and must stay free of torch.  States leave the actors
as bytes: the env's pickled, a checkpoint encoded by the learner (``encode_checkpoint``),
so the logger and the driver store and pass them on without torch.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ray

from rt_avg.actors.mailbox import current_node_id, open_channel
from rt_avg.actors.sink import RaySink
from rt_avg.realtime.channels import transition_dtype, weights_dtype
from rt_avg.core.config import from_dict
from rt_avg.bench.footprint import tree_footprint

if TYPE_CHECKING:
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

    def ping(self) -> bool:
        """Answers while ``run`` runs (another thread): the driver's liveness check."""
        return True

    def close(self) -> None:
        self.worker.close()

    def footprint(self) -> dict[str, Any]:
        """This process and its children (e.g. a resource tracker): pids, PSS in MiB."""
        return tree_footprint()


@ray.remote(max_concurrency=4)
class EnvActor(_WorkerActor):
    def __init__(self, cfg_data: dict, logger: ray.actor.ActorHandle,
                 env_factory: Callable[..., Any] | None = None) -> None:
        """``env_factory``: a callable that returns the env, to register as ``env.id``
        here (the Python API's env factories travel by value)."""
        from rt_avg.realtime.env_worker import EnvWorker

        _pin(cfg_data, "env")
        cfg = from_dict(cfg_data)
        if env_factory is not None:
            from rt_avg.core.environments import register_env_factory

            register_env_factory(cfg.env.id, env_factory)
        self.sink = RaySink(logger, timeout_s=cfg.realtime.actor_timeout_s)
        self.worker = EnvWorker(cfg, self.sink)

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

    def state(self) -> bytes:
        """The env loop's state, pickled (for a checkpoint the learner encodes)."""
        return pickle.dumps(self.worker.state(), protocol=pickle.HIGHEST_PROTOCOL)

    def progress(self) -> dict[str, Any]:
        return self.worker.progress()


@ray.remote(max_concurrency=4)
class LearnerActor(_WorkerActor):
    def __init__(self, cfg_data: dict, obs_dim: int, act_dim: int,
                 logger: ray.actor.ActorHandle, update_delay_s: float = 0.0) -> None:
        from rt_avg.realtime.learner_worker import LearnerWorker

        _pin(cfg_data, "learner")
        self.cfg = from_dict(cfg_data)
        self.sink = RaySink(logger, encode=self._encode,
                            timeout_s=self.cfg.realtime.actor_timeout_s)
        self.worker = LearnerWorker(self.cfg, obs_dim, act_dim, self.sink, update_delay_s)

    def info(self) -> dict[str, Any]:
        return {"node_id": current_node_id(), "pid": os.getpid(),
                "cpus": sorted(os.sched_getaffinity(0))}

    def open_weights(self, reader_node_id: str) -> Any:
        self._weights = open_channel(weights_dtype(self.worker.n_weights),
                                     reader_node_id=reader_node_id, label="weights")
        return self._weights.spec

    def attach_transitions(self, spec: Any) -> None:
        self.worker.connect(spec.open_reader(), self._weights)

    def restore(self, learner_state: dict, env_step: int, wall_time_s: float) -> None:
        self.worker.restore(learner_state, env_step, wall_time_s)

    def checkpoint(self, env_state: bytes | None, wall_s: float) -> tuple[int, bytes] | None:
        """The learner's current state and the env's pickled ``env_state``, encoded as a
        checkpoint file's bytes (with its env step); None without an env state."""
        return None if env_state is None else self._encode(self.worker.state(), env_state,
                                                           wall_s)

    def _encode(self, learner_state: dict, env_state: bytes, wall_s: float) -> tuple[int, bytes]:
        from rt_avg.run.checkpoint import Checkpoint, encode_checkpoint

        env_loop = pickle.loads(env_state)  # noqa: S301 - pickled by this run's env actor
        ckpt = Checkpoint(int(env_loop["step"]), wall_s, self.cfg.agent.algo, learner_state,
                          env_loop)
        return ckpt.step, encode_checkpoint(ckpt)

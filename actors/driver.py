"""The real-time driver: start Ray (or join a cluster), place the three actors, connect the
channels, watch the run, and shut everything down safely whatever happens.

    rt-avg train --mode async|sequential [--address auto|HOST:PORT]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayActorError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from rt_avg.actors.logger_actor import LoggerActor
from rt_avg.actors.roles import EnvActor, LearnerActor
from rt_avg.channels import cleanup_stale
from rt_avg import algos
from rt_avg.checkpoint import Checkpoint, latest_checkpoint
from rt_avg.config import Config, ConfigError, to_dict
from rt_avg.finite import NonFiniteError
from rt_avg.inline import TrainResult
from rt_avg.progress import Progress
from rt_avg.realtime import RealtimeFault
from rt_avg.resume import check_resume, commit_resume, resume_checkpoint
from rt_avg.run_dir import RunDirectory
from rt_avg.shutdown import StopRequest

ROBOT_RESOURCE_SLIVER = 0.01  # leaves room for tools (a twin, a monitor) on the same resource


def init_ray(address: str | None, num_cpus: int | None = None) -> bool:
    """Join ``address`` or start a local Ray without a dashboard; True if we started it."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if address:
        ray.init(address=address, logging_level="WARNING", log_to_driver=True)
        return True
    # address="local": always a fresh instance, never a cluster someone else started here.
    ray.init(address="local", num_cpus=num_cpus or max(2, os.cpu_count() or 2),
             include_dashboard=False, logging_level="WARNING", log_to_driver=True)
    return True


def _cause(exc: BaseException) -> BaseException:
    """The user-facing exception inside a RayTaskError (e.g. a ConfigError in an actor)."""
    if isinstance(exc, RayTaskError) and exc.cause is not None:
        return exc.cause
    return exc


class _Run:
    """The actors of one run and the order they are started and stopped in."""

    def __init__(self, cfg: Config, run_path: Path, ckpt: Checkpoint | None,
                 update_delay_s: float) -> None:
        self.cfg, self.run_path = cfg, run_path
        data = to_dict(cfg)
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self.logger = LoggerActor.options(scheduling_strategy=here).remote(
            data, str(run_path), ckpt is not None, ckpt.wall_time_s if ckpt else 0.0)
        ray.get(self.logger.ready.remote())  # the run directory exists from here on
        env_opts: dict[str, Any] = {"num_cpus": 1}
        if cfg.realtime.robot_resource:
            env_opts["resources"] = {cfg.realtime.robot_resource: ROBOT_RESOURCE_SLIVER}
        self.env = EnvActor.options(**env_opts).remote(data, self.logger)
        self.learner = None
        try:
            env_info = ray.get(self.env.info.remote())
            if ckpt is not None:  # the env's sizes are known: check, then write
                _prepare_resume(cfg, RunDirectory(run_path), ckpt, env_info)
            self.learner = LearnerActor.options(num_cpus=1).remote(
                data, env_info["obs_dim"], env_info["act_dim"], self.logger, update_delay_s)
            learner_info = ray.get(self.learner.info.remote())
            t_spec = ray.get(self.env.open_transitions.remote(learner_info["node_id"]))
            w_spec = ray.get(self.learner.open_weights.remote(env_info["node_id"]))
            ray.get([self.env.attach_weights.remote(w_spec),
                     self.learner.attach_transitions.remote(t_spec)])
            if ckpt is not None:
                ray.get([self.env.restore.remote(ckpt.env_loop),
                         self.learner.restore.remote(ckpt.learner, ckpt.step)])
        except (RayTaskError, RayActorError) as exc:
            cause = _cause(exc)
            self.shutdown()
            if isinstance(cause, ConfigError):
                raise cause from None
            raise RealtimeFault(f"could not start the actors: {cause}") from None
        except ConfigError:
            self.shutdown()
            raise
        self.env_info, self.learner_info = env_info, learner_info
        self.placement = {
            "env": env_info, "learner": learner_info,
            "transport": "shm" if env_info["node_id"] == learner_info["node_id"] else "mailbox",
        }
        (Path(run_path) / "actors.json").write_text(json.dumps(self.placement, indent=2))

    @property
    def newest_checkpoint(self) -> Path | None:
        return latest_checkpoint(RunDirectory(self.run_path).checkpoints)

    def shutdown(self) -> None:
        for actor in (self.env, self.learner):
            if actor is None:
                continue
            try:
                ray.get(actor.close.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - a dead actor has nothing left to close
                pass
        try:
            ray.get(self.logger.close.remote(), timeout=60)
        except Exception:  # noqa: BLE001
            pass
        for actor in (self.env, self.learner, self.logger):
            if actor is not None:
                ray.kill(actor, no_restart=True)
        cleanup_stale()  # segments of processes that died without unlinking


def train_realtime(cfg: Config, run_path: Path, resume: bool = False,
                   stop: StopRequest | None = None, address: str | None = None,
                   progress: bool = True, update_delay_s: float = 0.0,
                   print_summary: bool = True) -> TrainResult:
    """Run ``cfg`` in async or sequential mode with Ray actors; see docs/realtime.md."""
    stop = stop if stop is not None else StopRequest()
    # Before anything starts: no usable checkpoint means nothing to resume.
    ckpt = resume_checkpoint(RunDirectory(Path(run_path))) if resume else None
    started = init_ray(address)
    stop.install()  # after ray.init, which installs handlers of its own
    t_start = time.monotonic()
    run = None
    try:
        run = _Run(cfg, Path(run_path), ckpt, update_delay_s)
        result, summary = _watch(run, stop, progress)
        if print_summary:
            print(format_timing(summary), file=sys.stderr)
        if cfg.tracking.wandb:  # the logger's own hint does not reach this terminal
            from rt_avg.tracking.wandb_tracker import sync_command

            if cmd := sync_command(Path(run_path)):
                print(f"wandb ran offline; upload later with: {cmd}", file=sys.stderr)
        return TrainResult(Path(run_path), result["env_steps"], result["episodes"], bool(stop),
                           time.monotonic() - t_start, stop.signal_name)
    finally:
        if run is not None:
            run.shutdown()
        if started:
            ray.shutdown()


def _watch(run: _Run, stop: StopRequest, progress: bool) -> tuple[dict, dict]:
    env_ref, learner_ref = run.env.run.remote(), run.learner.run.remote()
    bar = Progress(run.cfg.run.steps) if progress else None
    fault: str | None = None
    env_result: dict | None = None
    stop_sent = False
    try:
        while True:
            done, _ = ray.wait([env_ref, learner_ref], num_returns=1, timeout=0.25)
            if stop and not stop_sent:
                run.env.stop.remote()
                stop_sent = True
            if env_ref in done:
                try:
                    env_result = ray.get(env_ref)
                except (RayActorError, RayTaskError) as exc:
                    fault = _died("env", exc)
                break
            if learner_ref in done:
                try:
                    ray.get(learner_ref)
                    fault = "the learner stopped unexpectedly"
                except (RayActorError, RayTaskError) as exc:
                    fault = _died("learner", exc)
                run.env.stop.remote()
                try:
                    env_result = ray.get(env_ref, timeout=60)
                except (RayActorError, RayTaskError):
                    pass
                break
            if bar:
                try:
                    p = ray.get(run.env.progress.remote(), timeout=1)
                    bar.overruns = p["overruns"]
                    if p["recent_return"] is not None:
                        bar.returns.clear()
                        bar.returns.append(p["recent_return"])
                    bar.update(p["step"])
                except Exception:  # noqa: BLE001 - progress is best effort
                    pass
    finally:
        if bar:
            bar.close()
    learner_result = _finish_learner(run, learner_ref)
    env_state = _state(run.env) if env_result is not None else None
    if env_state is None:
        env_state = ray.get(run.logger.latest_snapshot.remote("env"))
    learner_state = _state(run.learner)
    saved, save_error = False, None
    if learner_state is not None and env_state is not None:
        try:
            ray.get(run.logger.checkpoint.remote(learner_state, env_state))
            saved = True
        except RayTaskError as exc:  # e.g. a full disk: the older checkpoints stay
            save_error = _cause(exc)
    env_steps = env_result["env_steps"] if env_result else int(env_state["step"] if env_state else 0)
    summary = ray.get(run.logger.finalize.remote(
        env_steps, learner_result.get("updates", 0), learner_result.get("skipped", 0),
        learner_result.get("stalls", 0), env_result["wall_s"] if env_result else 0.0,
        run.placement))
    if fault:
        failed = f" (the final checkpoint failed: {save_error})" if save_error else ""
        raise RealtimeFault(f"{fault}. The env was stopped safely; {_kept(run, saved)}{failed}")
    if save_error is not None:
        raise save_error
    episodes = env_result["episodes"] if env_result else 0
    return {"env_steps": env_steps, "episodes": episodes}, summary


def _prepare_resume(cfg: Config, run_dir: RunDirectory, ckpt: Checkpoint,
                    env_info: dict[str, Any]) -> None:
    """Check the checkpoint against a learner built here from ``cfg`` (the learner actor
    restores it later), then record the config and trim the logs (rt_avg.resume)."""
    learner = algos.get(cfg.agent.algo).make_learner(cfg, env_info["obs_dim"],
                                                     env_info["act_dim"])
    check_resume(run_dir, cfg, ckpt, learner)
    commit_resume(run_dir, cfg, ckpt)


def _died(role: str, exc: BaseException) -> str:
    cause = _cause(exc)
    if isinstance(cause, NonFiniteError):
        return f"the {role} stopped: {cause}"
    return f"the {role} actor died ({cause!r})"


def _kept(run: _Run, final_saved: bool) -> str:
    """What a failed run leaves to resume from, as the user will find it."""
    newest = run.newest_checkpoint
    if newest is None:
        return (f"no checkpoint was written (the first comes after "
                f"{run.cfg.run.checkpoint_every} updates), so the run cannot be resumed; "
                f"the logs are in {run.run_path}")
    which = "a final checkpoint" if final_saved else "the last periodic checkpoint"
    return f"{which} ({newest.name}) and the logs are in {run.run_path}"


def _finish_learner(run: _Run, learner_ref: ray.ObjectRef) -> dict:
    try:
        run.learner.stop.remote()
        return ray.get(learner_ref, timeout=60)
    except Exception:  # noqa: BLE001 - a dead learner reports nothing
        return {}


def _state(actor: ray.actor.ActorHandle) -> dict | None:
    try:
        return ray.get(actor.state.remote(), timeout=60)
    except Exception:  # noqa: BLE001
        return None


def format_timing(s: dict) -> str:
    """A few lines a user reads first after a real-time run."""
    lat, cyc, upd = s.get("action_latency_us", {}), s.get("cycle_ms", {}), s.get("update_us", {})
    lines = [
        f"timing ({s['mode']}, dt {s['dt_ms']:.1f} ms): {s['env_steps']} env steps at "
        f"{s['env_steps_per_s']:.0f}/s, {s['updates']} updates ({s['learned_fraction']:.0%} "
        f"of transitions), {s['overruns']} overruns, {s['stalls']} stalls",
    ]
    if lat:
        lines.append(f"  action latency us: p50 {lat['p50']:.0f}  p99 {lat['p99']:.0f}  "
                     f"max {lat['max']:.0f}")
    if cyc:
        lines.append(f"  cycle ms:          p50 {cyc['p50']:.2f}  p99 {cyc['p99']:.2f}  "
                     f"max {cyc['max']:.2f}")
    if upd:
        lines.append(f"  update us:         p50 {upd['p50']:.0f}  p99 {upd['p99']:.0f}")
    st = s.get("staleness_steps", {})
    if st:
        lines.append(f"  policy staleness:  p50 {st['p50']:.0f}  p99 {st['p99']:.0f} steps")
    return "\n".join(lines)

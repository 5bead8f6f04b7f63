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
from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from rt_avg.actors.local_ray import helper_pids, init_ray, shutdown_ray, worker_logs_dir
from rt_avg.actors.logger_actor import LoggerActor
from rt_avg.actors.roles import EnvActor, LearnerActor
from rt_avg.actors.worker_output import WorkerOutput
from rt_avg.channels import cleanup_stale
from rt_avg.checkpoint_files import latest_checkpoint
from rt_avg.config import Config, ConfigError, to_dict
from rt_avg.finite import NonFiniteError
from rt_avg.footprint import by_role, process_tree
from rt_avg.progress import Progress
from rt_avg.realtime import RealtimeFault
from rt_avg.result import TrainResult
from rt_avg.run_dir import RunDirectory
from rt_avg.shutdown import StopRequest

if TYPE_CHECKING:  # the driver of a fresh run never imports torch (docs/realtime.md)
    from rt_avg.checkpoint import Checkpoint

__all__ = ["format_timing", "init_ray", "train_realtime"]

ROBOT_RESOURCE_SLIVER = 0.01  # leaves room for tools (a twin, a monitor) on the same resource


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
        logger_info = ray.get(self.logger.ready.remote())  # the run directory exists now
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
            "env": env_info, "learner": learner_info, "logger": logger_info,
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
    # Before anything starts: no usable checkpoint, or a config that does not fit it,
    # means nothing to resume.
    ckpt = None
    if resume:
        from rt_avg.resume import check_resume_early, resume_checkpoint

        ckpt = resume_checkpoint(RunDirectory(Path(run_path)))
        check_resume_early(RunDirectory(Path(run_path)), cfg, ckpt)
    robot = cfg.realtime.robot_resource
    # A local Ray runs on the machine wired to the robot: it holds the robot resource.
    started = init_ray(address, resources={robot: 1.0} if robot else None)
    if robot and not ray.cluster_resources().get(robot):
        where = ray.get_runtime_context().gcs_address
        if started:
            shutdown_ray()
        raise ConfigError(f"realtime.robot_resource: the Ray cluster at {where} has no "
                          f"{robot!r} resource, so the env actor could never be placed; start "
                          "the node wired to the robot with: ray start --head "
                          f"--resources='{{\"{robot}\": 1}}'")
    stop.install()  # after ray.init, which installs handlers of its own
    t_start = time.monotonic()
    run = output = None
    try:
        run = _Run(cfg, Path(run_path), ckpt, update_delay_s)
        if (logs := worker_logs_dir()) is not None:  # no log monitor: copy it ourselves
            output = WorkerOutput(logs, {role: run.placement[role]["pid"]
                                         for role in ("env", "learner", "logger")}).start()
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
        if output is not None:
            output.stop()
        if started:
            shutdown_ray()


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
    footprint = measure_footprint(run)  # before anything is shut down
    learner_result = _finish_learner(run, learner_ref)
    # The env's pickled state (an ObjectRef: the driver passes it on without unpickling).
    env_state = (run.env.state.remote() if env_result is not None
                 else run.logger.latest_snapshot.remote("env"))
    saved, save_error = False, None
    try:  # the learner encodes (torch lives there), the logger writes the bytes
        encoded = run.learner.checkpoint.remote(env_state, run.logger.wall_s.remote())
        saved = ray.get(run.logger.write_checkpoint.remote(encoded), timeout=120) is not None
    except (RayActorError, GetTimeoutError):  # the learner (or the env's state) is gone
        pass
    except RayTaskError as exc:  # e.g. a full disk: the older checkpoints stay
        if not isinstance(_cause(exc), NonFiniteError):  # a poisoned state is never saved
            save_error = _cause(exc)
    env_steps = (env_result["env_steps"] if env_result
                 else ray.get(run.logger.latest_step.remote("env")))
    summary = ray.get(run.logger.finalize.remote(
        env_steps, learner_result.get("updates", 0), learner_result.get("skipped", 0),
        learner_result.get("stalls", 0), env_result["wall_s"] if env_result else 0.0,
        run.placement, footprint))
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
    from rt_avg import algos
    from rt_avg.resume import check_resume, commit_resume

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


def measure_footprint(run: _Run) -> dict[str, Any]:
    """PSS by role of every process this run started (docs/realtime.md, "Memory").

    Each actor measures its own process tree where it runs; ``driver`` is this process and
    its helpers; ``ray`` is every other process below this one (the Ray runtime that
    ``init_ray`` started: GCS, raylet, agents, idle workers; none when joining a cluster)."""
    actors = {"env": run.env, "learner": run.learner, "logger": run.logger}
    reports: dict[str, dict] = {}
    for role, actor in actors.items():
        try:
            reports[role] = ray.get(actor.footprint.remote(), timeout=10)
        except Exception:  # noqa: BLE001 - a dead actor holds no memory
            reports[role] = {"pids": [], "pss_mb": 0.0}
    me = os.getpid()
    ours = {p for r in reports.values() for p in r["pids"]}
    helpers = {me, *helper_pids()}
    ray_pids = [p for p in process_tree(me) if p not in ours and p not in helpers]
    local = by_role({"driver": helpers, "ray": ray_pids})
    roles_mb = {role: r["pss_mb"] for role, r in reports.items()} | local["roles_mb"]
    processes = {role: len(r["pids"]) for role, r in reports.items()} | local["processes"]
    return {"total_mb": round(sum(roles_mb.values()), 1), "roles_mb": roles_mb,
            "processes": processes, "measure": "PSS, /proc/<pid>/smaps_rollup"}


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
    if fp := s.get("footprint"):
        parts = "  ".join(f"{role} {mb:.0f}" for role, mb in fp["roles_mb"].items())
        lines.append(f"  memory MB (PSS):   {fp['total_mb']:.0f} = {parts}")
    return "\n".join(lines)

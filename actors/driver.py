"""The real-time driver: start Ray (or join a cluster), place the three actors, connect the
channels, watch the run, and shut everything down safely whatever happens.

    rt-avg train --mode async|sequential [--address auto|HOST:PORT]

The driver holds the run directory's lock (``rt_avg.run.run_dir.RunClaim``) for the whole run.
Every wait has a bound: an actor gets ``realtime.actor_timeout_s`` to answer (a liveness
check every second while the run goes, the final checkpoint, the logs) and
``STARTUP_S`` to start.  An actor that dies or stops answering ends the run with one line;
the final checkpoint then comes from whoever still holds the state (the learner encodes it;
the logger writes it, or the driver when the logger is gone).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from rt_avg.actors.local_ray import helper_pids, init_ray, shutdown_ray, worker_logs_dir
from rt_avg.actors.logger_actor import LoggerActor
from rt_avg.actors.roles import EnvActor, LearnerActor
from rt_avg.actors.worker_output import WorkerOutput
from rt_avg.realtime.channels import cleanup_stale
from rt_avg.run.checkpoint_files import (CheckpointWriteError, latest_checkpoint,
                                     write_checkpoint_bytes)
from rt_avg.core.config import Config, ConfigError, to_dict
from rt_avg.core.finite import NonFiniteError
from rt_avg.bench.footprint import by_role, process_tree
from rt_avg.run.progress import Progress
from rt_avg.realtime import RealtimeFault
from rt_avg.core.result import TrainResult
from rt_avg.run.run_dir import RunClaim, RunDirectory
from rt_avg.run.shutdown import StopRequest

if TYPE_CHECKING:  # the driver of a fresh run never imports torch (docs/realtime.md)
    import gymnasium as gym

    from rt_avg.run.checkpoint import Checkpoint

__all__ = ["format_timing", "init_ray", "train_realtime"]

ROBOT_RESOURCE_SLIVER = 0.01  # leaves room for tools (a twin, a monitor) on the same resource
STARTUP_S = 300.0  # an actor's start: a Ray worker, imports (torch), the env (a robot's link)
PING_S = 1.0  # how often the driver checks that the actors answer
KNOWN_ENV_MODULES = ("gymnasium.", "rt_avg.", "shimmy.")  # ids every Ray worker registers


def _cause(exc: BaseException) -> BaseException:
    """The user-facing exception inside a RayTaskError (e.g. a ConfigError in an actor)."""
    if isinstance(exc, RayTaskError) and exc.cause is not None:
        return exc.cause
    return exc


class _NoAnswer(RealtimeFault):
    """An actor did not answer within its bound (or is gone)."""


def _get(ref: Any, timeout_s: float, what: str) -> Any:
    """``ray.get`` with a bound; ``what`` names who should have answered, for the message."""
    try:
        return ray.get(ref, timeout=timeout_s)
    except GetTimeoutError:
        raise _NoAnswer(f"{what} did not answer within {timeout_s:g} s") from None


def check_workers_can_make(env_id: str) -> None:
    """Raise ConfigError unless the Ray workers can make ``env_id`` (before anything is
    written): ids that gymnasium, rt-avg or shimmy register are known everywhere; another
    one is checked in a fresh Python with the path a local Ray gives its workers (this
    folder and the script's), which finds an id registered only in this process."""
    import gymnasium as gym

    name = env_id.split(":", 1)[-1]
    spec = gym.envs.registry.get(name)
    if ":" not in env_id and spec is not None and isinstance(spec.entry_point, str) \
            and spec.entry_point.startswith(KNOWN_ENV_MODULES):
        return
    paths = [os.path.abspath(os.curdir)]
    script_dir = os.path.dirname(os.path.realpath(sys.argv[0])) if sys.argv[0] else ""
    if script_dir and script_dir in sys.path:
        paths.append(script_dir)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [*paths, *filter(None, [os.environ.get("PYTHONPATH")])]))
    code = ("import sys, gymnasium as gym\n"
            "from rt_avg.core.environments import validate_env_id\n"
            "try:\n    validate_env_id(sys.argv[1])\n"
            "except Exception as exc:\n    print(exc); sys.exit(1)\n")
    try:
        res = subprocess.run([sys.executable, "-c", code, env_id], env=env, cwd=paths[0],
                             capture_output=True, text=True, timeout=STARTUP_S)
    except subprocess.TimeoutExpired:
        return  # nothing learned: the env actor reports it if it fails
    if res.returncode != 0:
        raise ConfigError(
            f"env.id: {env_id!r} is known in this Python process only; the Ray workers of the "
            f"async and sequential modes could not make it ({res.stdout.strip()[:200]}). "
            "Register it in a module the workers can import (this folder or an installed "
            "package) and name it as module.path:EnvId (docs/your-task.md), or run inline")


class _Run:
    """The actors of one run and the order they are started and stopped in."""

    def __init__(self, cfg: Config, run_path: Path, ckpt: Checkpoint | None,
                 update_delay_s: float, env_factory: Callable[..., gym.Env] | None) -> None:
        self.cfg, self.run_path = cfg, run_path
        self.timeout_s = cfg.realtime.actor_timeout_s
        self.start_wall_s = ckpt.wall_time_s if ckpt else 0.0
        self.lost: dict[str, str] = {}  # role -> why it was given up on
        data = to_dict(cfg)
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self.logger = LoggerActor.options(scheduling_strategy=here).remote(
            data, str(run_path), self.start_wall_s)
        env_opts: dict[str, Any] = {"num_cpus": 1}
        if cfg.realtime.robot_resource:
            env_opts["resources"] = {cfg.realtime.robot_resource: ROBOT_RESOURCE_SLIVER}
        self.env = EnvActor.options(**env_opts).remote(data, self.logger, env_factory)
        self.learner = None
        startup = max(STARTUP_S, self.timeout_s)
        try:
            logger_info = _get(self.logger.ready.remote(), startup, "the logger actor")
            env_info = _get(self.env.info.remote(), startup, "the env actor (making the env)")
            if ckpt is not None:  # the env's sizes are known: check, then write
                _prepare_resume(cfg, RunDirectory(run_path), ckpt, env_info)
            self.learner = LearnerActor.options(num_cpus=1).remote(
                data, env_info["obs_dim"], env_info["act_dim"], self.logger, update_delay_s)
            learner_info = _get(self.learner.info.remote(), startup, "the learner actor")
            t_spec = _get(self.env.open_transitions.remote(learner_info["node_id"]),
                          self.timeout_s, "the env actor")
            w_spec = _get(self.learner.open_weights.remote(env_info["node_id"]),
                          self.timeout_s, "the learner actor")
            _get([self.env.attach_weights.remote(w_spec),
                  self.learner.attach_transitions.remote(t_spec)], self.timeout_s,
                 "the actors connecting their channels")
            if ckpt is not None:
                _get([self.env.restore.remote(ckpt.env_loop),
                      self.learner.restore.remote(ckpt.learner, ckpt.step, ckpt.wall_time_s)],
                     startup, "the actors restoring the checkpoint")
            else:
                RunDirectory(run_path).create(cfg)
            _get(self.logger.open.remote(), self.timeout_s, "the logger actor")
        except (RayTaskError, RayActorError) as exc:
            cause = _cause(exc)
            self.shutdown()
            if isinstance(cause, ConfigError):
                raise cause from None
            raise RealtimeFault(f"could not start the actors: {cause}") from None
        except BaseException:
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

    def actors(self) -> dict[str, Any]:
        """The actors not given up on, by role."""
        found = {"env": self.env, "learner": self.learner, "logger": self.logger}
        return {role: a for role, a in found.items() if a is not None and role not in self.lost}

    def give_up(self, role: str, why: str) -> None:
        """Count ``role`` as lost and end its process (a frozen one must not write later)."""
        self.lost.setdefault(role, why)
        actor = {"env": self.env, "learner": self.learner, "logger": self.logger}[role]
        if actor is not None:
            ray.kill(actor, no_restart=True)

    def shutdown(self) -> None:
        for role in ("env", "learner"):
            if (actor := self.actors().get(role)) is not None:
                try:
                    ray.get(actor.close.remote(), timeout=self.timeout_s)
                except Exception:  # noqa: BLE001 - a dead actor has nothing left to close
                    pass
        if "logger" not in self.lost:
            try:
                ray.get(self.logger.close.remote(), timeout=self.timeout_s)
            except Exception:  # noqa: BLE001
                pass
        for actor in (self.env, self.learner, self.logger):
            if actor is not None:
                ray.kill(actor, no_restart=True)
        cleanup_stale()  # segments of processes that died without unlinking


class _Liveness:
    """Pings each actor every ``PING_S``; one that died or did not answer a ping within
    ``timeout_s`` is reported (by the first :meth:`check` that sees it)."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.pending: dict[str, tuple[ray.ObjectRef, float]] = {}
        self.answered = {role: time.monotonic() for role in run.actors()}

    def check(self) -> tuple[str, str] | None:
        """(role, what happened) of a lost actor, or None while all answer."""
        now = time.monotonic()
        for role, actor in self.run.actors().items():
            if role in self.pending:
                ref, sent = self.pending[role]
                if ray.wait([ref], timeout=0)[0]:
                    del self.pending[role]
                    try:
                        ray.get(ref)
                    except (RayActorError, RayTaskError) as exc:
                        return role, f"the {role} actor died ({type(_cause(exc)).__name__})"
                    self.answered[role] = now
                elif now - sent > self.run.timeout_s:
                    return role, (f"the {role} actor did not answer for "
                                  f"{self.run.timeout_s:g} s (frozen or overloaded)")
            elif now - self.answered[role] >= PING_S:
                self.pending[role] = (actor.ping.remote(), now)
        return None


def train_realtime(cfg: Config, run_path: Path, resume: bool = False,
                   stop: StopRequest | None = None, address: str | None = None,
                   progress: bool = True, update_delay_s: float = 0.0,
                   print_summary: bool = True,
                   env_factory: Callable[..., gym.Env] | None = None) -> TrainResult:
    """Run ``cfg`` in async or sequential mode with Ray actors; see docs/realtime.md.

    ``env_factory`` (a callable returning the env, registered as ``cfg.env.id``) travels to
    the env actor by value; without one, ``cfg.env.id`` must be one the workers can make."""
    stop = stop if stop is not None else StopRequest()
    run_path = Path(run_path)
    if env_factory is None and not resume:
        check_workers_can_make(cfg.env.id)
    with RunClaim(run_path, resume) as claim:
        # Before anything starts: no usable checkpoint, or a config that does not fit it,
        # means nothing to resume.
        ckpt = None
        if resume:
            from rt_avg.run.resume import check_resume_early, resume_checkpoint

            ckpt = resume_checkpoint(claim.run_dir)
            check_resume_early(claim.run_dir, cfg, ckpt)
        robot = cfg.realtime.robot_resource
        # A local Ray runs on the machine wired to the robot: it holds the robot resource.
        started = init_ray(address, resources={robot: 1.0} if robot else None)
        run = output = None
        try:
            if robot and not ray.cluster_resources().get(robot):
                where = ray.get_runtime_context().gcs_address
                raise ConfigError(
                    f"realtime.robot_resource: the Ray cluster at {where} has no {robot!r} "
                    "resource, so the env actor could never be placed; start the node wired "
                    f"to the robot with: ray start --head --resources='{{\"{robot}\": 1}}'")
            stop.install()  # after ray.init, which installs handlers of its own
            t_start = time.monotonic()
            run = _Run(cfg, run_path, ckpt, update_delay_s, env_factory)
            claim.started()
            if (logs := worker_logs_dir()) is not None:  # no log monitor: copy it ourselves
                output = WorkerOutput(logs, {role: run.placement[role]["pid"]
                                             for role in ("env", "learner", "logger")}).start()
            result, summary = _watch(run, stop, progress, ckpt.step if ckpt else 0)
            if print_summary and summary:
                print(format_timing(summary), file=sys.stderr)
            if cfg.tracking.wandb:  # the logger's own hint does not reach this terminal
                from rt_avg.run.tracking.wandb_tracker import sync_command

                if cmd := sync_command(run_path):
                    print(f"wandb ran offline; upload later with: {cmd}", file=sys.stderr)
            return TrainResult(run_path, result["env_steps"], result["episodes"], bool(stop),
                               time.monotonic() - t_start, stop.signal_name, summary)
        finally:
            if run is not None:
                run.shutdown()
            if output is not None:
                output.stop()
            if started:
                shutdown_ray()


def _watch(run: _Run, stop: StopRequest, progress: bool, start_step: int) -> tuple[dict, dict]:
    env_ref, learner_ref = run.env.run.remote(), run.learner.run.remote()
    t_start = time.monotonic()
    bar = Progress(run.cfg.run.steps, start_step) if progress else None
    live = _Liveness(run)
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
                break
            if (lost := live.check()) is not None:
                run.give_up(*lost)
                fault = lost[1]
                break
            if bar:
                _show_progress(run, bar)
    finally:
        if bar:
            bar.close()
    if env_result is None and "env" not in run.lost and fault is not None:
        run.env.stop.remote()  # the robot stops; its state stays for the final checkpoint
        try:
            env_result = _get(env_ref, run.timeout_s, "the env actor (stopping)")
        except _NoAnswer as exc:
            run.give_up("env", str(exc))
        except (RayActorError, RayTaskError):
            pass
    if fault is not None and "logger" not in run.lost and not _answers(run, "logger"):
        fault = run.lost["logger"]  # what the learner's error came from
    footprint = measure_footprint(run)  # before anything is shut down
    learner_result = _finish_learner(run, learner_ref)
    saved, save_error = _final_checkpoint(run, env_result, t_start)
    env_steps = (env_result["env_steps"] if env_result
                 else _logger_call(run, "latest_step", "env") or start_step)
    summary = _logger_call(
        run, "finalize", placement=run.placement, footprint=footprint, env_steps=env_steps,
        updates=learner_result.get("updates", 0), skipped=learner_result.get("skipped", 0),
        stalls=learner_result.get("stalls", 0),
        wall_s=env_result["wall_s"] if env_result else 0.0, start_step=start_step,
        start_updates=learner_result.get("start_updates", 0))
    if fault:
        failed = f" (the final checkpoint failed: {save_error})" if save_error else ""
        lost_logs = "" if "logger" not in run.lost else " (timing.json was not written)"
        raise RealtimeFault(f"{fault}. The env was stopped safely; {_kept(run, saved)}"
                            f"{failed}{lost_logs}")
    if save_error is not None:
        raise save_error
    episodes = env_result["episodes"] if env_result else 0
    return {"env_steps": env_steps, "episodes": episodes}, summary


def _show_progress(run: _Run, bar: Progress) -> None:
    try:
        p = ray.get(run.env.progress.remote(), timeout=1)
    except Exception:  # noqa: BLE001 - progress is best effort
        return
    bar.overruns = p["overruns"]
    if p["recent_return"] is not None:
        bar.returns.clear()
        bar.returns.append(p["recent_return"])
    bar.update(p["step"])


def _answers(run: _Run, role: str) -> bool:
    """Whether ``role`` answers a ping within the bound (if not, it is given up on)."""
    try:
        _get(run.actors()[role].ping.remote(), run.timeout_s, f"the {role} actor")
        return True
    except _NoAnswer as exc:
        run.give_up(role, f"the {role} actor did not answer for {run.timeout_s:g} s "
                    f"(frozen or overloaded): {exc}")
    except (RayActorError, RayTaskError) as exc:
        run.give_up(role, f"the {role} actor died ({type(_cause(exc)).__name__})")
    return False


def _logger_call(run: _Run, method: str, *args: Any, **kwargs: Any) -> Any:
    """A bounded call to the logger; None when it is gone or does not answer."""
    if "logger" in run.lost:
        return None
    try:
        return _get(getattr(run.logger, method).remote(*args, **kwargs), run.timeout_s,
                    "the logger actor")
    except _NoAnswer as exc:
        run.give_up("logger", str(exc))
    except (RayActorError, RayTaskError) as exc:
        run.give_up("logger", f"the logger actor died ({type(_cause(exc)).__name__})")
    return None


def _final_checkpoint(run: _Run, env_result: dict | None,
                      t_start: float) -> tuple[bool, BaseException | None]:
    """The final checkpoint from whoever still holds the state: the learner encodes it
    with the env's state (the env's own, or its newest snapshot at the logger); the logger
    writes it, or the driver when the logger is gone.  (saved, the write's error)."""
    if "learner" in run.lost:
        return False, None
    if env_result is not None and "env" not in run.lost:
        env_state = run.env.state.remote()  # pickled bytes, passed on without unpickling
    else:
        env_state = _logger_call(run, "latest_snapshot", "env")
        if env_state is None:
            return False, None
    wall_s = _logger_call(run, "wall_s")
    if wall_s is None:
        wall_s = run.start_wall_s + time.monotonic() - t_start
    try:  # the learner encodes (torch lives there)
        encoded = _get(run.learner.checkpoint.remote(env_state, wall_s), run.timeout_s,
                       "the learner actor (encoding the final checkpoint)")
    except _NoAnswer as exc:
        run.give_up("learner", str(exc))
        return False, None
    except RayActorError:  # the learner (or the env's state) is gone
        return False, None
    except RayTaskError as exc:
        cause = _cause(exc)  # a poisoned state is never saved
        return False, None if isinstance(cause, NonFiniteError) else cause
    if encoded is None:
        return False, None
    step, data = encoded
    if "logger" not in run.lost:
        try:
            _get(run.logger.write_checkpoint.remote(step, data), run.timeout_s,
                 "the logger actor (writing the final checkpoint)")
            return True, None
        except RayTaskError as exc:  # e.g. a full disk: the older checkpoints stay
            return False, _cause(exc)
        except _NoAnswer as exc:
            run.give_up("logger", str(exc))  # killed before the driver writes in its place
        except RayActorError:
            run.give_up("logger", "the logger actor died")
    try:  # the driver holds the run directory's lock: it writes in the logger's place
        write_checkpoint_bytes(RunDirectory(run.run_path).checkpoints, step, data,
                               run.cfg.run.keep_checkpoints)
        return True, None
    except CheckpointWriteError as exc:
        return False, exc


def _prepare_resume(cfg: Config, run_dir: RunDirectory, ckpt: Checkpoint,
                    env_info: dict[str, Any]) -> None:
    """Check the checkpoint against a learner built here from ``cfg`` (the learner actor
    restores it later), then record the config and trim the logs (rt_avg.run.resume)."""
    from rt_avg import algos
    from rt_avg.run.resume import check_resume, commit_resume

    learner = algos.get(cfg.agent.algo).make_learner(cfg, env_info["obs_dim"],
                                                     env_info["act_dim"])
    check_resume(run_dir, cfg, ckpt, learner)
    commit_resume(run_dir, cfg, ckpt)


def _died(role: str, exc: BaseException) -> str:
    cause = _cause(exc)
    if isinstance(cause, (NonFiniteError, CheckpointWriteError)):
        return f"the {role} stopped: {cause}"
    return f"the {role} actor died ({cause!r})"


def _kept(run: _Run, final_saved: bool) -> str:
    """What a failed run leaves to resume from, as the user will find it."""
    newest = run.newest_checkpoint
    if newest is None:
        return (f"no checkpoint was written (the first comes after "
                f"{run.cfg.run.checkpoint_every} env steps), so the run cannot be resumed; "
                f"the logs are in {run.run_path}")
    which = "a final checkpoint" if final_saved else "the last periodic checkpoint"
    return f"{which} ({newest.name}) and the logs are in {run.run_path}"


def _finish_learner(run: _Run, learner_ref: ray.ObjectRef) -> dict:
    if "learner" in run.lost:
        return {}
    try:
        run.learner.stop.remote()
        return _get(learner_ref, run.timeout_s, "the learner actor (stopping)")
    except _NoAnswer as exc:
        run.give_up("learner", str(exc))
        return {}
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

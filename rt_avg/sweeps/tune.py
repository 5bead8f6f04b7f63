"""``rt-avg sweep``: run a sweep file's trials with Ray Tune on whatever cluster Ray is on.

Each trial is one inline-mode training run (``rt_avg.run.inline.train_inline``, or
``rt_avg.baselines.sb3.train_sb3`` for the batch learners) of one configuration with one
seed, using ``resources.cpu`` CPUs (default 1).  The sweep directory::

    <sweep_dir>/sweep.json          name, trial list with configs, fingerprint, token
    <sweep_dir>/sweep.yaml          the sweep file as given
    <sweep_dir>/runs/<trial_id>/    each trial's run directory + sweep_trial.json
    <sweep_dir>/tune/               Ray Tune's experiment state (what resume reads)

Reports during a trial (``report_every`` in the sweep file): the trial trains in a thread
while its Tune thread reads the run directory and reports ``final_return`` and ``auc`` as
of every ``report_every``-th env step (:mod:`rt_avg.analysis.stats`, the one definition:
numbers that do not depend on when the report was read), with ``steps`` as Tune's time.
That is what a scheduler (``scheduler: asha`` or ``median``) needs to stop bad trials early;
a stopped trial ends with a checkpoint and the status ``stopped`` (an unfinished run in
every summary), and a rerun of the sweep leaves it stopped.

Fault tolerance, three layers:

- a trial lost with its node (or crashed) is rerun by Tune (``FailureConfig.max_failures``);
  the rerun continues from the run directory's latest checkpoint when it can see it;
- an interrupted sweep (Ctrl-C, driver lost) is continued with ``Tuner.restore`` when the
  same command runs again: finished trials stay finished, unfinished ones resume;
- a trial whose ``sweep_trial.json`` already says done reports its stored result without
  training again, so even a lost Tune state never reruns finished work.

Storage (``storage`` in the sweep file): ``shared`` writes run directories straight into
the sweep directory (one machine, or an NFS path mounted alike on every node); ``upload``
trains in a node-local scratch folder and, when done, sends the logs and the final
checkpoint to the sweep directory on the driver's node; ``auto`` (default) uses shared
where the trial can see this sweep's ``sweep.json`` and upload elsewhere.  With upload, a
trial rerun on another node starts over (its checkpoints were on the lost node).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule, TrialScheduler
from ray.tune.search import BasicVariantGenerator
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from rt_avg.actors.local_ray import init_ray, shutdown_ray
from rt_avg.analysis import stats
from rt_avg.analysis.runs import SWEEP_FILE, TRIAL_RECORD, load_run
from rt_avg.core.config import ConfigError
from rt_avg.run.run_dir import RunDirectory
from rt_avg.run.shutdown import StopRequest
from rt_avg.sweeps import spec as sweep_spec
UPLOADED = ("config.yaml", "episodes.csv", "metrics.jsonl", "timing.json", TRIAL_RECORD)
"""Run-directory files an upload-mode trial sends to the driver's node (with the final
checkpoint; earlier checkpoints stay behind)."""


def default_sweep_dir(name: str) -> Path:
    return Path("runs") / "sweeps" / name


# ----------------------------------------------------------------------------- storage


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@ray.remote(num_cpus=0)
class ResultSink:
    """Lives on the driver's node and writes files into the sweep directory there."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def write(self, relpath: str, data: bytes) -> None:
        _write_atomic(self.root / relpath, data)

    def read(self, relpath: str) -> bytes | None:
        path = self.root / relpath
        return path.read_bytes() if path.exists() else None


@dataclass(frozen=True)
class SweepContext:
    """What every trial needs besides its id (shipped once through the object store)."""
    root: str
    token: str
    storage: str
    trials: dict[str, dict[str, Any]]
    sink: Any  # ResultSink handle
    report_every: int | None = None


class _TrialStore:
    """Where a trial's run directory lives and how its record reaches the sweep directory."""

    def __init__(self, ctx: SweepContext, trial_id: str) -> None:
        self.ctx, self.trial_id = ctx, trial_id
        self.rel = f"runs/{trial_id}"
        self.shared = ctx.storage == "shared" or (ctx.storage == "auto" and self._sees_sweep())
        if self.shared:
            self.run_path = Path(ctx.root) / self.rel
        else:
            self.run_path = Path(tempfile.gettempdir()) / "rt-avg-sweeps" / ctx.token / trial_id

    def _sees_sweep(self) -> bool:
        try:
            data = json.loads((Path(self.ctx.root) / SWEEP_FILE).read_text())
            return data["token"] == self.ctx.token
        except (OSError, ValueError, KeyError):
            return False

    def published_record(self) -> dict | None:
        """The trial's record as the sweep directory holds it."""
        if self.shared:
            path = self.run_path / TRIAL_RECORD
            return json.loads(path.read_text()) if path.exists() else None
        data = ray.get(self.ctx.sink.read.remote(f"{self.rel}/{TRIAL_RECORD}"))
        return json.loads(data) if data else None

    def publish(self) -> None:
        """Upload mode: send the logs and the final checkpoint, the record last (so "done"
        appears only with everything else), then drop the scratch folder."""
        if self.shared:
            return
        from rt_avg.run.checkpoint import latest_checkpoint

        files = [self.run_path / n for n in UPLOADED[:-1]]
        ckpt = latest_checkpoint(self.run_path / "checkpoints")
        files += [ckpt] if ckpt is not None else []
        for path in files + [self.run_path / TRIAL_RECORD]:
            if path.exists():
                rel = path.relative_to(self.run_path).as_posix()
                ray.get(self.ctx.sink.write.remote(f"{self.rel}/{rel}", path.read_bytes()))
        shutil.rmtree(self.run_path, ignore_errors=True)
        try:
            self.run_path.parent.rmdir()  # the sweep's scratch folder, once it is empty
        except OSError:
            pass


def _write_record(run_path: Path, record: dict) -> None:
    _write_atomic(run_path / TRIAL_RECORD, json.dumps(record, indent=1).encode())


# ----------------------------------------------------------------------------- one trial

METRIC = "final_return"
TIME_ATTR = "steps"
POLL_S = 0.5
"""How often a reporting trial looks at its run directory for the next report step."""


def _report(record: dict, **extra: Any) -> None:
    last = record["attempts"][-1] if record["attempts"] else {}
    tune.report({METRIC: record["final_return"], "auc": record["auc"],
                 TIME_ATTR: record["steps"], "episodes": record["episodes"],
                 "config_id": record["config_id"], "seed": record["seed"],
                 "node_id": last.get("node_id"), "host": last.get("host"),
                 "attempts": len(record["attempts"]), "status": record["status"], **extra})


def _read_progress(run_path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """(episode end steps, returns, the last step logged) of a run being written: complete
    lines only (the writer may be mid-line)."""
    ends, returns, step = [], [], 0
    try:
        with open(run_path / "episodes.csv") as f:
            next(f, None)
            for line in f:
                if line.endswith("\n"):
                    cols = line.split(",")
                    ends.append(int(cols[0]))
                    returns.append(float(cols[2]))
        with open(run_path / "metrics.jsonl") as f:
            for line in f:
                if line.endswith("\n") and line.strip():
                    step = max(step, int(json.loads(line).get("step", 0)))
    except (OSError, ValueError, IndexError):
        pass  # not created yet, or truncated by a resume under our feet: next poll
    step = max([step] + ends)
    return np.asarray(ends, dtype=np.float64), np.asarray(returns, dtype=np.float64), step


class _ReportGate(StopRequest):
    """The trial's stop request, which also holds the training at each report step until the
    report is made: a scheduler's decision then lands at the step it was asked about, not
    after the trial ran on while the driver decided (a busy driver can take seconds)."""

    def __init__(self, first: int, every: int, planned: int) -> None:
        super().__init__()
        self.next, self.every, self.planned = first, every, planned
        self.held = threading.Event()  # the training waits at step self.next
        self._go = threading.Event()

    def at_step(self, step: int) -> bool:
        if step >= self.next and self.next < self.planned and not self:
            self.held.set()
            self._go.wait()
            self._go.clear()
        return bool(self)

    def release(self) -> None:
        """The report for ``self.next`` was made (or the trial is stopping): go on."""
        self.next += self.every
        self.held.clear()
        self._go.set()


class _Reporter:
    """Trains in a thread and reports to Tune every ``every`` env steps, from the run
    directory: at step m, the run's final return and AUC as of m (episodes ended by m), so
    the numbers do not depend on when the report happened.  The training waits at each
    report step (:class:`_ReportGate`) until Tune has taken the report; a scheduler's stop
    arrives as SystemExit from ``tune.report``, and the training is then asked to stop (it
    checkpoints)."""

    def __init__(self, train: Any, run_path: Path, start: int, planned: int, every: int,
                 record: dict) -> None:
        self.run_path, self.planned, self.record = run_path, planned, record
        # A trial resumed at a report step is reported there again: it may have been
        # interrupted while held at it, before the scheduler decided (a scheduler ignores
        # a second result of a trial at a rung it has already recorded).
        first = start if start > 0 and start % every == 0 else (start // every + 1) * every
        self.stop = _ReportGate(first, every, planned)
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._train, args=(train,), daemon=True,
                                       name="rt-avg-trial")

    def _train(self, train: Any) -> None:
        try:
            self.result = train(self.stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the trial's thread
            self.error = exc

    def run(self) -> Any:
        """Train to the end (the trainer's result), reporting on the way; SystemExit when
        the scheduler stopped the trial."""
        self.thread.start()
        try:
            while True:
                if self.stop.held.wait(POLL_S):  # the training waits at a report step
                    self._report_at(self.stop.next)
                    self.stop.release()
                elif not self.thread.is_alive():
                    break
        except SystemExit:
            self._stopped()
            raise
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.result

    def _report_at(self, m: int) -> None:
        """Tune's report as of step ``m`` (the training is held there)."""
        ends, returns, _ = _read_progress(self.run_path)
        tune.report({METRIC: _number(stats.final_return(ends, returns, m)),
                     "auc": _number(stats.area_under_curve(ends, returns, m)),
                     TIME_ATTR: m, "episodes": int(np.sum(ends <= m)),
                     "config_id": self.record["config_id"], "seed": self.record["seed"],
                     "status": "running"})

    def _stopped(self) -> None:
        """Record the stop first (the actor may be reclaimed soon), then let the run end
        with its checkpoint."""
        ends, _, step = _read_progress(self.run_path)
        self.record.update(status="stopped", steps=step, episodes=int(ends.size))
        _write_record(self.run_path, self.record)
        self.stop.set("scheduler")
        self.stop.release()
        self.thread.join()


def run_trial(config: dict[str, Any], ctx: SweepContext) -> None:
    """Tune function trainable: train one trial (or resume it, or report it if done)."""
    from rt_avg.run.checkpoint import latest_checkpoint
    from rt_avg.core.config import from_dict
    from rt_avg.api import inline_runner

    trial_id = config["trial_id"]
    info = ctx.trials[trial_id]
    store = _TrialStore(ctx, trial_id)
    published = store.published_record()
    if published and published.get("status") == "done":
        _report(published, skipped=True)
        return

    run_path = store.run_path
    previous = run_path / TRIAL_RECORD
    record = json.loads(previous.read_text()) if previous.exists() else {
        "trial_id": trial_id, "config_id": info["config_id"], "seed": info["seed"],
        "params": info["params"], "attempts": []}
    ckpt = latest_checkpoint(run_path / "checkpoints")
    resumed_from = int(ckpt.stem.split("_")[1]) if ckpt is not None else 0  # step_<N>.pt
    if ckpt is None and run_path.exists():
        shutil.rmtree(run_path)  # an attempt that left no checkpoint: start it over cleanly
    record.update(status="running", final_return=None, auc=None, steps=None, episodes=None)
    record["attempts"].append({
        "node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
        "pid": os.getpid(), "started": time.time(), "resumed_from_step": resumed_from,
        "shared_storage": store.shared})
    run_path.mkdir(parents=True, exist_ok=True)
    _write_record(run_path, record)

    cfg = from_dict(info["config"])

    def train(stop: StopRequest | None = None) -> Any:
        return inline_runner(cfg)(cfg, run_path, resume=ckpt is not None, stop=stop,
                                  progress=False)

    try:
        if ctx.report_every:
            if ckpt is not None:  # rows past the checkpoint are what the resume rewrites
                RunDirectory(run_path).truncate_after(resumed_from)
            train = _Reporter(train, run_path, resumed_from, cfg.run.steps, ctx.report_every,
                              record).run
        train()
    except SystemExit:  # stopped by the scheduler: the run ended with a checkpoint
        _finish_record(record, run_path, "stopped")
        store.publish()
        raise
    _finish_record(record, run_path, "done")
    store.publish()
    _report(record, skipped=False)


FINISHED = ("done", "stopped")
"""Trial statuses that end a trial: reached its steps, or stopped early by the scheduler.
Only ``done`` trials report without training when Tune runs them again; Tune itself does
not run a trial its scheduler stopped again (unless its experiment state is lost, and then
the trial resumes from its checkpoint)."""


def _finish_record(record: dict, run_path: Path, status: str) -> None:
    run = load_run(run_path)
    run.complete = status == "done"
    record.update(status=status, steps=run.total_steps if run.complete or run.returns.size
                  else 0, episodes=int(run.returns.size), final_return=_number(run.final_return),
                  auc=_number(run.auc))
    record["attempts"][-1]["ended"] = time.time()
    _write_record(run_path, record)


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _trial_name(trial: Any) -> str:
    return str(trial.config["trial_id"])


# ----------------------------------------------------------------------------- the sweep


def _prepare_sweep_dir(root: Path, spec: sweep_spec.SweepSpec,
                       trials: tuple[sweep_spec.Trial, ...]) -> str:
    """Write (or check) sweep.json; return the sweep's token."""
    fingerprint = sweep_spec.fingerprint(trials)
    path = root / SWEEP_FILE
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("fingerprint") != fingerprint:
            raise ConfigError(
                f"--sweep-dir: {root} holds sweep {old.get('name')!r} with other trials (the "
                "sweep file changed since it began); restore the file, or start a new sweep "
                "with another --sweep-dir")
        return str(old["token"])
    token = secrets.token_hex(8)
    data = {"name": spec.name, "fingerprint": fingerprint, "token": token,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "source": spec.source,
            "trials": [sweep_spec.trial_record(t) for t in trials]}
    root.mkdir(parents=True, exist_ok=True)
    if spec.source:
        shutil.copyfile(spec.source, root / "sweep.yaml")
    _write_atomic(path, json.dumps(data, indent=1, default=str).encode())
    return token


STOPS_FILE = "scheduler_stops.json"
"""Trial ids the scheduler stopped early (the driver writes it as it decides)."""


RESULTS_FILE = "scheduler_results.jsonl"
"""Every (Tune trial id, steps, final return) the scheduler saw, to rebuild its state when
the sweep is resumed (Tune restores the scheduler as it was created, empty)."""


class _NotesStops:
    """Mixin for a Tune scheduler: every STOP before a trial's end is noted in the sweep
    directory, which is how a trial stopped by the scheduler is told apart from one stopped
    because the sweep was interrupted (both see the same exit inside the trial)."""

    sweep_root = ""

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)  # type: ignore[misc]
        if decision == TrialScheduler.STOP and result.get("status") == "running":
            path = Path(self.sweep_root) / STOPS_FILE
            stops = set(json.loads(path.read_text())) if path.exists() else set()
            stops.add(str(trial.config["trial_id"]))
            _write_atomic(path, json.dumps(sorted(stops)).encode())
        return decision


class _ASHA(_NotesStops, ASHAScheduler):
    """ASHA whose rungs survive a resumed sweep.  The first time a resumed driver sees a
    result, the rungs are rebuilt from two sources: the results the earlier driver saw (kept
    in the sweep directory as they arrive) and the run directories in the sweep directory,
    from which each trial's report at every ``report_every`` steps is computed again (the
    reports are a function of ``episodes.csv``, so this recovers the results a driver
    interrupted right after a trial's end never processed)."""

    _replayed = False
    report_every: int | None = None
    planned_steps: dict[str, int] = {}  # our trial id -> run.steps

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        path = Path(self.sweep_root) / RESULTS_FILE
        if not self._replayed:
            self._replayed = True
            self._replay(path, tune_controller)
        if TIME_ATTR in result and result.get(METRIC) is not None:
            with open(path, "a") as f:
                f.write(json.dumps([trial.trial_id, result[TIME_ATTR], result[METRIC]]) + "\n")
        return super().on_trial_result(tune_controller, trial, result)

    def _replay(self, path: Path, tune_controller: Any) -> None:
        bracket = self._brackets[0]
        seen: list[tuple[str, int, float]] = []
        if path.exists():
            for line in path.read_text().splitlines():
                tid, t, value = json.loads(line)
                seen.append((tid, int(t), value))
        for trial in tune_controller.get_trials():
            ours = str(trial.config.get("trial_id", ""))
            seen.extend((trial.trial_id, m, value) for m, value in self._reports_on_disk(ours))
        # A rung keeps the first result it sees of a trial (a duplicate is skipped), and
        # each result lands on the highest rung it reaches: replay in step order.
        for tid, t, value in sorted(seen, key=lambda r: r[1]):
            if value is not None:
                bracket.on_result(_TrialId(tid), t, self._metric_op * value)

    def _reports_on_disk(self, trial_id: str) -> list[tuple[int, float | None]]:
        """The reports the trial made (or would have made) so far, from its run directory in
        the sweep directory; none when it is elsewhere (upload mode) or not started."""
        planned = self.planned_steps.get(trial_id)
        run_path = Path(self.sweep_root) / "runs" / trial_id
        if not self.report_every or planned is None or not run_path.is_dir():
            return []
        ends, returns, step = _read_progress(run_path)
        return [(m, _number(stats.final_return(ends, returns, m)))
                for m in range(self.report_every, min(step, planned - 1) + 1, self.report_every)]


@dataclass(frozen=True)
class _TrialId:
    """What an ASHA rung keeps of a trial: its id."""

    trial_id: str


class _MedianStopping(_NotesStops, MedianStoppingRule):
    pass


def _scheduler(spec: sweep_spec.SweepSpec, trials: tuple[sweep_spec.Trial, ...],
               root: Path) -> Any:
    """The Tune scheduler the sweep file names (None: every trial runs to its end).  Metric
    and mode are the scheduler's own, so that a restored sweep's scheduler has them."""
    s = spec.file.scheduler
    if s is None:
        return None
    grace = s.grace_period or spec.file.report_every
    common = {"time_attr": TIME_ATTR, "metric": METRIC, "mode": "max", "grace_period": grace}
    if s.name == "asha":
        scheduler: _NotesStops = _ASHA(max_t=max(t.config.run.steps for t in trials),
                                       reduction_factor=s.reduction_factor, **common)
    else:
        scheduler = _MedianStopping(**common)
    scheduler.sweep_root = str(root)
    if isinstance(scheduler, _ASHA):
        scheduler.report_every = spec.file.report_every
        scheduler.planned_steps = {t.trial_id: t.config.run.steps for t in trials}
    return scheduler


def _mark_interrupted(root: Path, records: dict[str, dict | None]) -> None:
    """A trial that ended ``stopped`` without the scheduler's say was interrupted with the
    sweep: mark it so, for summaries and for the rerun that resumes it."""
    path = root / STOPS_FILE
    stops = set(json.loads(path.read_text())) if path.exists() else set()
    for tid, record in records.items():
        if record and record.get("status") == "stopped" and tid not in stops:
            record["status"] = "interrupted"
            run = root / "runs" / tid
            if run.is_dir():
                _write_record(run, record)


def _records(root: Path, trials: tuple[sweep_spec.Trial, ...]) -> dict[str, dict | None]:
    out = {}
    for t in trials:
        path = root / "runs" / t.trial_id / TRIAL_RECORD
        out[t.trial_id] = json.loads(path.read_text()) if path.exists() else None
    return out


def run_sweep(spec_path: str, address: str | None = None, sweep_dir: str | None = None,
              num_cpus: int | None = None) -> int:
    """Run (or continue) a sweep file; return an exit code: 0 all trials done, 1 some
    failed, 130 interrupted (run the same command again to continue).

    ``address``: a Ray cluster to join (``auto`` or ``HOST:PORT``); without it a local Ray
    is started with ``num_cpus`` CPUs (default: all) and no dashboard, and stopped at the end.
    Raises ConfigError for a bad sweep file, before any trial starts.
    """
    spec = sweep_spec.load(spec_path)
    root = Path(sweep_dir or spec.file.sweep_dir or default_sweep_dir(spec.name))
    return run_trials(spec, sweep_spec.expand(spec), root, address, num_cpus)


def run_trials(spec: sweep_spec.SweepSpec, trials: tuple[sweep_spec.Trial, ...], root: Path,
               address: str | None = None, num_cpus: int | None = None,
               summary_hint: str = "rt-avg sweep-summary",
               on_accepted: Callable[[], None] | None = None) -> int:
    """Run (or continue) ``trials`` of ``spec`` with the sweep directory ``root`` (exit
    code as :func:`run_sweep`).  Everything ``rt-avg train`` would refuse is refused before
    anything is written or Ray starts; ``on_accepted`` runs once the sweep directory has
    accepted the trials (a study writes its own file then)."""
    sweep_spec.check_scheduler(spec, trials)
    sweep_spec.check_envs(trials)
    root = Path(root).expanduser().resolve()
    token = _prepare_sweep_dir(root, spec, trials)
    if on_accepted is not None:
        on_accepted()
    configs = len({t.config_id for t in trials})
    cpus = spec.file.resources.cpu
    print(f"sweep {spec.name}: {len(trials)} trials ({configs} configurations x "
          f"{len(spec.seeds)} seeds), {cpus:g} CPU each -> {root}", flush=True)

    started = init_ray(address, num_cpus)
    try:
        here = ray.get_runtime_context().get_node_id()
        sink = ResultSink.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
            here, soft=False)).remote(str(root))
        ctx = SweepContext(str(root), token, spec.file.storage,
                           {t.trial_id: sweep_spec.trial_record(t) for t in trials}, sink,
                           spec.file.report_every)
        trainable = tune.with_resources(tune.with_parameters(run_trial, ctx=ctx),
                                        {"cpu": cpus})
        experiment = root / "tune"
        if tune.Tuner.can_restore(str(experiment)):
            print(f"resuming the sweep from {experiment}", flush=True)
            tuner = tune.Tuner.restore(str(experiment), trainable, resume_unfinished=True,
                                       resume_errored=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space={"trial_id": tune.grid_search([t.trial_id for t in trials])},
                tune_config=tune.TuneConfig(max_concurrent_trials=spec.file.max_concurrent,
                                            scheduler=_scheduler(spec, trials, root),
                                            search_alg=BasicVariantGenerator(),
                                            trial_name_creator=_trial_name,
                                            trial_dirname_creator=_trial_name,
                                            # one worker process runs trial after trial:
                                            # torch and the simulator load once, not per run
                                            reuse_actors=True),
                run_config=tune.RunConfig(
                    name="tune", storage_path=str(root), verbose=1,
                    failure_config=tune.FailureConfig(max_failures=spec.file.max_failures)))
        grid = tuner.fit()
        errors = list(grid.errors)
    finally:
        if started:
            shutdown_ray()

    _mark_interrupted(root, _records(root, trials))
    records = _records(root, trials)
    done = [tid for tid, r in records.items() if r and r.get("status") in FINISHED]
    stopped = sum(1 for r in records.values() if r and r.get("status") == "stopped")
    spent = sum(r.get("steps") or 0 for r in records.values() if r)
    planned = sum(t.config.run.steps for t in trials)
    print(f"sweep {spec.name}: {len(done)}/{len(trials)} trials done"
          + (f" ({stopped} stopped early by the scheduler)" if stopped else "")
          + f"; env steps {spent:,} of {planned:,} planned; "
          f"summary: {summary_hint} {root}", flush=True)
    if len(done) == len(trials):
        return 0
    if errors:
        for err in errors:
            print(f"trial failed: {err}", file=sys.stderr)
        print(f"{len(errors)} trial(s) failed after retries; run the same command again to "
              "retry them", file=sys.stderr)
        return 1
    print("sweep interrupted; run the same command again to continue it", file=sys.stderr)
    return 130

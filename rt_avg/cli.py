"""The ``rt-avg`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from rt_avg.core.config import Config, ConfigError
from rt_avg.realtime import RealtimeFault
from rt_avg.run.user_paths import check_input_path, check_output_dir, os_error_line

def _resolve_train_config(args: argparse.Namespace) -> tuple[Config, Path, bool]:
    from rt_avg.core import config as config_mod
    from rt_avg.core.environments import validate_env_config
    from rt_avg.run.run_dir import RunDirectory, check_run_path, default_run_path

    _check_train_flags(args)
    if args.run_dir is not None:
        check_output_dir(Path(args.run_dir), "--run-dir", "the run")
        check_run_path(Path(args.run_dir), "--run-dir", existing=False)
    again = _restarted_config(args)
    if args.resume is not None:
        run_path = Path(args.resume)
        check_input_path(run_path, "--resume")
        check_run_path(run_path, "--resume", existing=True)
        check_output_dir(run_path, "--resume", "the resumed run")
        cfg = RunDirectory(run_path).load_config()
    elif again is not None:
        cfg = RunDirectory(again).load_config()
    elif args.config is not None:
        cfg = config_mod.load(args.config)
    elif args.env is not None or args.algo is not None:
        cfg = config_mod.ready_config_for_env(args.env or Config().env.id, args.algo or "avg")
    else:
        cfg = Config()
    sections: dict[str, dict] = {}
    if args.env is not None and args.resume is None:
        sections.setdefault("env", {})["id"] = args.env
    for name, value in (("steps", args.steps), ("seed", args.seed), ("mode", args.mode)):
        if value is not None:
            sections.setdefault("run", {})[name] = value
    if args.algo is not None:
        sections.setdefault("agent", {})["algo"] = args.algo
    if args.wandb:
        sections.setdefault("tracking", {})["wandb"] = True
    if sections:
        cfg = cfg.replace(**sections)
    for text in args.set or []:
        cfg = config_mod.apply_override(cfg, text)
    if args.resume is not None and not args.trust_run_dir:
        _check_run_dir_imports(args, cfg, run_path, f"rt-avg train --resume {run_path}")
    elif again is not None and not args.trust_run_dir:
        _check_run_dir_imports(args, cfg, again, f"rt-avg train --run-dir {again} --restart")
    validate_env_config(cfg.env)
    from rt_avg import algos

    # A learner of one's own that cannot load fails here.  The built-in ones are not imported:
    # that would load torch into a real-time driver, which neither learns nor acts.
    if not algos.is_batch(cfg.agent.algo) and cfg.agent.algo not in algos.INCREMENTAL:
        algos.get(cfg.agent.algo)
    if args.resume is not None:
        # The runner checks the checkpoint against cfg before it records cfg (rt_avg.run.resume).
        return cfg, run_path, True
    run_path = Path(args.run_dir) if args.run_dir is not None else default_run_path(cfg)
    check_output_dir(run_path, "--run-dir", "the run")
    check_run_path(run_path, "--run-dir", existing=False)
    if (run_path / "config.yaml").exists() and not args.restart:
        from rt_avg.run.checkpoint_files import list_checkpoints

        if list_checkpoints(run_path / "checkpoints"):
            raise ConfigError(f"--run-dir: {run_path} already holds a run; use --resume "
                              f"{run_path} to continue it or choose another directory")
        from rt_avg.run.run_dir import RunLock

        RunLock(run_path).acquire("--run-dir").release()  # still running: named by its pid
        raise ConfigError(f"--run-dir: {run_path} already holds a run that stopped before its "
                          f"first checkpoint; start it again in place with --run-dir {run_path} "
                          "--restart, or choose another directory")
    return cfg, run_path, False


def _restarted_config(args: argparse.Namespace) -> Path | None:
    """The run directory whose config.yaml a --restart without --config/--env/--algo runs
    again (None otherwise)."""
    if not args.restart or any(v is not None for v in (args.config, args.env, args.algo)):
        return None
    path = Path(args.run_dir)
    return path if (path / "config.yaml").is_file() else None


def _check_run_dir_imports(args: argparse.Namespace, cfg: Config, run_path: Path,
                           command: str) -> None:
    """A module that the config.yaml of the run being resumed or restarted names is
    imported only if it is part of rt-avg or the command line names it too (rt_avg.run.trust)."""
    from rt_avg.run.trust import IMPORTING_FIELDS, check_run_dir_imports, field_value, modules_named

    given = {text.split("=", 1)[0].strip() for text in args.set or []}
    if args.algo is not None:
        given.add("agent.algo")
    allowed = modules_named(field_value(cfg, f) for f in IMPORTING_FIELDS if f in given)
    check_run_dir_imports(cfg, run_path / "config.yaml", allowed, f"{command} --trust-run-dir",
                          name_again=True)


def _check_train_flags(args: argparse.Namespace) -> None:
    """Empty values and flags that --resume would silently ignore are errors."""
    expected = {"--env": "a Gymnasium env id such as Hopper-v5",
                "--config": "a YAML file or the name of a ready config such as hopper",
                "--run-dir": "a directory", "--resume": "a run directory"}
    given = {"--env": args.env, "--config": args.config, "--run-dir": args.run_dir,
             "--resume": args.resume}
    for flag, value in given.items():
        if value is not None and not value.strip():
            raise ConfigError(f"{flag}: got {value!r}, expected {expected[flag]}")
    if args.restart and args.run_dir is None:
        raise ConfigError("--restart: needs --run-dir, the directory of the run to start again "
                          "(e.g. rt-avg train --run-dir runs/my-run --restart)")
    if args.resume is not None:
        clash = [flag for flag in ("--env", "--config", "--run-dir") if given[flag] is not None]
        if clash:
            raise ConfigError(f"{clash[0]}: cannot be combined with --resume, which continues "
                              "the run with its own config.yaml (change single settings "
                              "with --set)")


def _at_least_one(text: str) -> int:
    """An argparse type: an integer >= 1 (e.g. --episodes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}, expected an integer >= 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"got {value}, expected an integer >= 1")
    return value


def cmd_train(args: argparse.Namespace) -> int:
    cfg, run_path, resume = _resolve_train_config(args)
    if args.restart:
        from rt_avg.run.restart import clear_for_restart

        note = clear_for_restart(run_path)
        if note:
            print(f"rt-avg: {note}", file=sys.stderr)
    from rt_avg.run.shutdown import StopRequest

    with StopRequest() as stop:
        from rt_avg.api import run_config

        result = run_config(cfg, run_path, resume=resume, stop=stop, progress=not args.quiet,
                            address=args.address)
    from rt_avg.analysis.runs import final_return_text  # the one definition (see stats)
    print(f"run dir: {run_path}")
    print(f"steps: {result.steps}  episodes: {result.episodes}  wall: {result.wall_s:.1f}s  "
          f"{final_return_text(run_path)}")
    if result.interrupted:
        print(f"stopped by {result.reason}; checkpoint written. Continue with: "
              f"rt-avg train --resume {run_path}", file=sys.stderr)
        return stop.exit_code
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rt_avg.analysis.runs import load_run
    from rt_avg.run.evaluate import evaluate

    check_input_path(Path(args.run_dir), "run_dir")
    res = evaluate(Path(args.run_dir), args.episodes, trust_run_dir=args.trust_run_dir)
    run = load_run(args.run_dir)  # training's final return, the one definition (see stats)
    if args.json:
        print(json.dumps({"step": res.step, "episodes": len(res.returns), "mean": res.mean,
                          "std": res.std, "returns": res.returns,
                          "training_final_return":
                              run.final_return if run.returns.size else None,
                          "complete": run.complete}))
    else:
        print(f"checkpoint step {res.step}: {len(res.returns)} episodes, "
              f"return {res.mean:.2f} +- {res.std:.2f}; training {run.final_return_text()}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from rt_avg.bench.command import run_bench

    return run_bench(args)


def cmd_report(args: argparse.Namespace) -> int:
    from rt_avg.analysis.report import main_report

    for path in args.run_dirs:
        check_input_path(Path(path), "RUN_DIR")
    if args.out is not None:
        check_output_dir(Path(args.out), "--out", "the report")
    return main_report(args.run_dirs, args.out)


def cmd_sweep(args: argparse.Namespace) -> int:
    from rt_avg.sweeps.tune import run_sweep

    if args.sweep_dir is not None:
        check_output_dir(Path(args.sweep_dir), "--sweep-dir", "the sweep")
    return run_sweep(args.sweep_file, address=args.address, sweep_dir=args.sweep_dir,
                     num_cpus=args.num_cpus)


def cmd_study(args: argparse.Namespace) -> int:
    from rt_avg.sweeps.study import run_study

    if args.out is not None:
        check_output_dir(Path(args.out), "--out", "the study")
    return run_study(args.name, args)


def cmd_sweep_summary(args: argparse.Namespace) -> int:
    from rt_avg.analysis.sweep_summary import main_summary

    check_input_path(Path(args.sweep_dir), "sweep_dir")
    if args.out is not None:
        check_output_dir(Path(args.out), "--out", "the summary")
    return main_summary(args.sweep_dir, args.out, args.top)


def cmd_twin(args: argparse.Namespace) -> int:
    twin_args = [a for a in args.twin_args if a != "--"]
    if args.robot == "ur5":
        if "--standin" in twin_args:  # the ur_rtde API stand-in on a Unix socket
            from rt_avg.envs.ur5.twin_server import main as ur5_standin

            return ur5_standin([a for a in twin_args if a != "--standin"])
        from rt_avg.envs.ur5.wire.cli import main as ur5_twin

        return ur5_twin(twin_args, prog="rt-avg twin ur5")
    from rt_avg.envs.create2.emulator import main as create2_twin

    return create2_twin(twin_args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rt-avg", description=(
        "Real-time incremental reinforcement learning with Action Value Gradient (AVG), its "
        "baselines (IAC, SAC-1; batch SAC, TD3, PPO) and the experiments that compare them. "
        "Learners live in rt_avg.algos, robots in rt_avg.envs, Ray actors in rt_avg.actors, "
        "ready configs in rt_avg.configs."))
    sub = p.add_subparsers(dest="command", required=True)

    from rt_avg.core.config import config_dir

    ready = ", ".join(sorted(p.stem for p in config_dir().glob("*.yaml")))
    t = sub.add_parser("train", help="train an agent (default: a small simulated task)",
                       epilog=f"ready configs: {ready}")
    t.add_argument("--config", help="YAML config file, or the name of a ready config "
                   "(e.g. hopper); default: the embedded InvertedPendulum-v5 job")
    t.add_argument("--env", help="Gymnasium env id (its ready config is used when one exists)")
    t.add_argument("--steps", type=int, help="total env steps")
    t.add_argument("--seed", type=int, help="random seed")
    t.add_argument("--mode", choices=["inline", "async", "sequential"],
                   help="inline: one process; async/sequential: Ray actors")
    t.add_argument("--algo", help="the learner (agent.algo): avg (default), iac, sac1 "
                   "(incremental, every mode); sac, td3, ppo (batch, Stable-Baselines3, "
                   "inline only, settings in the batch section); or module.path:NAME")
    t.add_argument("--run-dir", help="output directory (default runs/<env>-s<seed>-<mode>-<time>)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    t.add_argument("--restart", action="store_true",
                   help="with --run-dir: start the run there again from step 0 when it stopped "
                   "before its first checkpoint (its logs are replaced; its config.yaml is "
                   "used unless --config, --env or --algo is given); refused once it has one")
    t.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="override one config value, e.g. --set agent.actor_lr=1e-4")
    t.add_argument("--address", help="Ray cluster to join (auto or HOST:PORT); "
                   "default: start a local Ray")
    t.add_argument("--trust-run-dir", action="store_true",
                   help="with --resume or --restart: import a module of one's own that the "
                   "run's config.yaml names (agent.algo or env.id as module.path:NAME); "
                   "without it only rt-avg's own and modules named on the command line are "
                   "imported")
    t.add_argument("--wandb", action="store_true", help="log to Weights & Biases")
    t.add_argument("--quiet", action="store_true", help="no progress display")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate the deterministic policy of a run")
    e.add_argument("run_dir")
    e.add_argument("--episodes", type=_at_least_one, default=10,
                   help="episodes to run (>= 1; default 10)")
    e.add_argument("--json", action="store_true")
    e.add_argument("--trust-run-dir", action="store_true",
                   help="import a module of one's own that the run's config.yaml names "
                   "(agent.algo or env.id as module.path:NAME); refused without it")
    e.set_defaults(func=cmd_eval)

    from rt_avg.bench.command import add_bench_arguments

    b = sub.add_parser("bench", help="benchmarks and a robot computer's check (medians and p99)")
    add_bench_arguments(b)
    b.set_defaults(func=cmd_bench)
    r = sub.add_parser("report", help="learning curves, timing histograms and a summary table")
    r.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run directories (or a directory holding them)")
    r.add_argument("--out", metavar="DIR", help="output directory (default reports/<time>)")
    r.set_defaults(func=cmd_report)

    from rt_avg.analysis.sweep_summary import add_summary_arguments
    from rt_avg.sweeps.spec import add_sweep_arguments

    sw = sub.add_parser("sweep", help="run a sweep file's trials (inline runs) with Ray Tune")
    add_sweep_arguments(sw)
    sw.set_defaults(func=cmd_sweep)
    sm = sub.add_parser("sweep-summary", help="rank a sweep's configurations by final return "
                        "and area under the curve (95%% bootstrap intervals over seeds)")
    add_summary_arguments(sm)
    sm.set_defaults(func=cmd_sweep_summary)
    from rt_avg.sweeps.study import add_study_arguments

    st = sub.add_parser("study", help="run one of the talk's experiments (buffer-size, "
                        "incremental, ablation) as a sweep; figures, summary.json, a table")
    add_study_arguments(st)
    st.set_defaults(func=cmd_study)

    tw = sub.add_parser("twin", help="run a robot twin standalone (prints its port, serves "
                        "until Ctrl-C)")
    tw.add_argument("robot", choices=["create2", "ur5"], help="create2: Open Interface emulator "
                    "on a pseudo-terminal; point any Create 2 client at the printed path. ur5: "
                    "a UR controller on a loopback address (RTDE, dashboard, script port) that "
                    "ur_rtde drives; point env.kwargs.host at the printed address (--standin: "
                    "the older ur_rtde API stand-in on a Unix socket, env.kwargs.twin_server)")
    tw.add_argument("twin_args", nargs=argparse.REMAINDER, help="options for the twin "
                    "(rt-avg twin create2 -- --help)")
    tw.set_defaults(func=cmd_twin)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    # A console script does not put the current folder on sys.path (python -m does): a task
    # of one's own next to the user (--env my_robot:PointMass-v0) is found either way, and a
    # local Ray's workers look in the same folder.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ConfigError as exc:
        print(f"rt-avg: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        if (hint := install_hint(exc)) is None:
            raise
        print(f"rt-avg: error: {hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rt-avg: interrupted", file=sys.stderr)
        return 130
    except _run_failures() as exc:
        # A path that failed once work was under way (a disk that filled up or was
        # remounted read-only, a folder removed): one line naming it and the cause.
        what = "run failed" if args.command == "train" else "error"
        line = os_error_line(exc) if isinstance(exc, OSError) else str(exc)
        print(f"rt-avg: {what}: {line}", file=sys.stderr)
        return 1


#: Modules of the optional parts and the extra that installs them (pyproject.toml).
EXTRAS = {"ray.tune": "sweep", "pandas": "sweep", "pyarrow": "sweep", "fsspec": "sweep",
          "rliable": "stats", "arch": "stats",
          "stable_baselines3": "baselines", "rtde_control": "ur5", "rtde_receive": "ur5",
          "rtde_io": "ur5", "shimmy": "dmc", "dm_control": "dmc"}


def install_hint(exc: BaseException | None) -> str | None:
    """One line saying which extra brings the module that is missing (None: not one of
    the optional parts).  The missing module may be the cause of the error (Ray Tune
    re-raises a missing pandas as an ImportError of its own)."""
    while exc is not None:
        name = getattr(exc, "name", None) or ""
        for module, extra in EXTRAS.items():
            if isinstance(exc, ModuleNotFoundError) and (name == module
                                                         or name.startswith(module + ".")):
                return (f"{name} is not installed; it comes with rt-avg's '{extra}' extra: "
                        f"pip install 'rt-avg[{extra}]'")
        exc = exc.__cause__ or exc.__context__
    return None


def _run_failures() -> tuple[type[BaseException], ...]:
    """Errors that end a run with one line instead of a traceback (imported when one
    occurs: the checkpoint module imports torch)."""
    from rt_avg.run.checkpoint import CheckpointWriteError
    from rt_avg.envs.create2.driver import Create2LinkError
    from rt_avg.envs.ur5.driver import URError
    from rt_avg.core.finite import NonFiniteError

    # a robot fault (lost link, protective-stop limit, safety stop) says what to check at the
    # robot in its message: one line, not a traceback
    return (RealtimeFault, NonFiniteError, CheckpointWriteError, OSError, URError,
            Create2LinkError)


if __name__ == "__main__":
    sys.exit(main())

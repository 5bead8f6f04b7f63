"""``rt-avg bench update|channel|modes|device``: pick the job, run one benchmark, print it.

Each prints a few readable lines, or with ``--json`` one JSON object on its last line.
``device`` exits with 1 when a verdict fails (the computer is not fit for the job).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rt_avg.core import config as C
from rt_avg.core.config import Config, ConfigError

DEFAULT_ENV = "Hopper-v5"
#: per-benchmark defaults of the flags left unset: (iterations, steps)
DEFAULTS = {"update": (20000, None), "channel": (20000, None), "modes": (None, 150),
            "device": (2000, 2000)}


def _check_flags(args: argparse.Namespace) -> None:
    """Refuse out-of-range flags before anything starts."""
    for flag, minimum in (("iterations", 1), ("steps", 1), ("dt_ms", 0), ("memory_budget_mb", 1),
                          ("learner_delay_ms", 0)):
        value = getattr(args, flag)
        if value is not None and not value >= minimum:  # also refuses NaN
            raise ConfigError(f"--{flag.replace('_', '-')}: got {value}, expected >= {minimum}")


def job_config(args: argparse.Namespace, default_env: str | None) -> Config:
    """``--config`` (its own env unless ``--env`` is given), else the ready config of
    ``--env`` (or ``default_env``), else the embedded default job."""
    from rt_avg.core.environments import validate_env_id

    env = args.env or (None if args.config else default_env)
    if env is not None:
        validate_env_id(env)
    if args.config:
        cfg = C.load(args.config)
    elif env is not None:
        cfg = C.ready_config_for_env(env)
    else:
        cfg = Config()
    return cfg.replace(env={"id": env}) if env is not None else cfg


def _lines(out: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [f"{k:>16s}: p50 {out[f'{k}_us_p50']:8.1f} us   p99 {out[f'{k}_us_p99']:8.1f} us"
            for k in keys]


def _update(args: argparse.Namespace) -> tuple[dict, str]:
    from rt_avg.bench.update import bench_update

    out = bench_update(job_config(args, DEFAULT_ENV), iterations=args.iterations)
    return out, "\n".join(_lines(out, ("act", "update", "act_plus_update")))


def _channel(args: argparse.Namespace) -> tuple[dict, str]:
    from rt_avg.bench.channel import bench_channel
    from rt_avg.bench.ray_call import bench_ray_call

    out = bench_channel(n=args.iterations)
    out.update(bench_ray_call(n=min(args.iterations, 2000)))
    out["transition_speedup_vs_ray_call"] = out["ray_call_us_p50"] / out["transition_us_p50"]
    lines = _lines(out, ("transition", "weights", "copy", "copy_hot", "ray_call"))
    lines.append(f"weights p50 / copy p50: {out['weights_over_copy_p50']:.2f}")
    return out, "\n".join(lines)


def _modes(args: argparse.Namespace) -> tuple[dict, str]:
    from rt_avg.bench.modes import bench_modes

    out = bench_modes(job_config(args, DEFAULT_ENV), dt_s=(args.dt_ms or 40.0) / 1e3,
                      learner_delay_ms=args.learner_delay_ms, steps=args.steps)
    lines = []
    for mode in ("async", "sequential"):
        m = out[mode]
        lines.append(f"{mode:>10s}: latency p50 {m['action_latency_us_p50']:.0f} us "
                     f"p99 {m['action_latency_us_p99']:.0f} us | cycle p50 "
                     f"{m['cycle_ms_p50']:.2f} ms p99 {m['cycle_ms_p99']:.2f} ms | "
                     f"overruns {m['overruns']}/{m['steps']}")
    o = out["overhead"]
    lines.append(f"  dt=0 async {o['async_dt0_env_steps_per_s']:.0f} steps/s vs inline "
                 f"acting-only {o['inline_acting_only_steps_per_s']:.0f} steps/s "
                 f"(ratio {o['ratio']:.2f}, target >= {o['target_ratio']})")
    if "cpu_ratio" in o:
        lines.append(f"  CPU per env step: async env {o['async_dt0_env_cpu_us_per_step']:.0f} us "
                     f"({o['async_dt0_env_cpu_share']:.0%} of a CPU) vs inline "
                     f"{o['inline_cpu_us_per_step']:.0f} us ({o['inline_cpu_share']:.0%}): "
                     f"ratio {o['cpu_ratio']:.2f}")
    return out, "\n".join(lines)


def _device(args: argparse.Namespace) -> tuple[dict, str]:
    from rt_avg.bench.device import bench_device, format_device

    cfg = job_config(args, None)
    if args.dt_ms is not None:
        cfg = cfg.replace(realtime={"dt_s": args.dt_ms / 1e3})
    out = bench_device(cfg, iterations=args.iterations, steps=args.steps,
                       memory_budget_mb=args.memory_budget_mb)
    return out, format_device(out)


def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmark ``args.what`` with the parsed flags; the process exit status."""
    _check_flags(args)
    iterations, steps = DEFAULTS[args.what]
    args.iterations = args.iterations or iterations
    args.steps = args.steps or steps
    out, text = {"update": _update, "channel": _channel, "modes": _modes,
                 "device": _device}[args.what](args)
    print(json.dumps(out) if args.json else text)
    return 1 if out.get("ok") is False else 0


def add_bench_arguments(b: argparse.ArgumentParser) -> None:
    """The flags of ``rt-avg bench``."""
    b.add_argument("what", choices=["update", "channel", "modes", "device"],
                   help="update: act/update latency; channel: shared-memory channel vs a plain "
                   "copy and a Ray call; modes: async vs sequential with a slow learner, and "
                   "the async loop's rate at dt 0; device: is this computer fit for a job "
                   "(latencies and memory against its dt_s, one verdict per line)")
    b.add_argument("--env", help=f"Gymnasium env id (update, modes: default {DEFAULT_ENV}; "
                   "device: the config's env)")
    b.add_argument("--config", help="config file or ready config name (device: default the "
                   "embedded default job)")
    b.add_argument("--iterations", type=int, help="update/channel: samples (default 20000); "
                   "device: act/update samples and channel records (default 2000)")
    b.add_argument("--dt-ms", type=float, help="modes: control period (default 40); "
                   "device: override the config's realtime.dt_s")
    b.add_argument("--learner-delay-ms", type=float, default=60.0,
                   help="modes: extra time per update, making the learner slower than dt")
    b.add_argument("--steps", type=int, help="modes: env steps per mode (default 150); "
                   "device: env steps of the async run (default 2000)")
    b.add_argument("--memory-budget-mb", type=float,
                   help="device: memory the run may hold (default: available at start)")
    b.add_argument("--json", action="store_true", help="one JSON object on the last line")

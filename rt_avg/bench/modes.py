"""``rt-avg bench modes``: async versus sequential with a learner slower than dt, and the
async loop's own overhead at dt = 0 against the inline runner's acting-only rate.

The dt = 0 comparison is reported twice: env steps per second (the target), and CPU time
per env step of the env process against the inline loop's (``cpu_ratio``), which does not
depend on how much of a CPU the processes got on a shared machine (``*_cpu_share``)."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch

from rt_avg import algos
from rt_avg.actors.driver import train_realtime
from rt_avg.actors.local_ray import init_ray, shutdown_ray
from rt_avg.bench.cpu_share import RunCpuTime
from rt_avg.core.config import Config
from rt_avg.run.env_loop import EnvLoop
from rt_avg.core.environments import make_env
from rt_avg.nn.policy import env_dims

MODE_KEYS = ("env_steps", "env_steps_per_s", "overruns", "updates", "learned_fraction")
#: async env steps/s at dt = 0 should be at least this fraction of the inline acting-only rate
TARGET_RATIO = 0.7


def _mode_summary(timing: dict) -> dict:
    out = {k: timing[k] for k in MODE_KEYS}
    out["steps"] = timing["env_steps"]
    for name, src in (("action_latency_us", "action_latency_us"), ("cycle_ms", "cycle_ms"),
                      ("update_us", "update_us"), ("staleness_steps", "staleness_steps")):
        for q in ("p50", "p99", "max"):
            out[f"{name}_{q}"] = timing[src].get(q)
    return out


def inline_acting_rate(cfg: Config, steps: int) -> tuple[float, float]:
    """Env steps per second of the inline loop without updates (act + env.step only), and
    the CPU share it got (CPU seconds per wall second)."""
    torch.set_num_threads(1)
    env = make_env(cfg.env)
    algo = algos.get(cfg.agent.algo)
    loop = EnvLoop(env, algo.make_policy(cfg, env, algo.make_learner(cfg, *env_dims(env))),
                   cfg.run.seed)
    loop.start()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loop.step()
    wall = time.perf_counter() - t0
    share = (time.process_time() - c0) / wall
    env.close()
    return steps / wall, share


def bench_modes(cfg: Config, dt_s: float = 0.04, learner_delay_ms: float = 60.0,
                steps: int = 150, overhead_steps: int = 10000) -> dict:
    """Async and sequential runs of ``steps`` at ``dt_s`` with a learner made
    ``learner_delay_ms`` slower per update; then an async run of ``overhead_steps`` at
    dt = 0 against the inline acting-only loop (key ``overhead``)."""
    started = init_ray(None)
    try:
        out: dict = {"env": cfg.env.id, "dt_ms": dt_s * 1e3, "learner_delay_ms": learner_delay_ms}
        with tempfile.TemporaryDirectory(prefix="rt-avg-bench-") as tmp:
            for mode in ("async", "sequential"):
                run_cfg = cfg.replace(run={"mode": mode, "steps": steps,
                                           "checkpoint_every": 10**9},
                                      realtime={"dt_s": dt_s})
                path = Path(tmp) / mode
                train_realtime(run_cfg, path, progress=False, print_summary=False,
                               update_delay_s=learner_delay_ms / 1e3)
                out[mode] = _mode_summary(json.loads((path / "timing.json").read_text()))
            fast = cfg.replace(run={"mode": "async", "steps": overhead_steps,
                                    "checkpoint_every": 10**9}, realtime={"dt_s": 0.0})
            with RunCpuTime(Path(tmp) / "dt0") as cpu:
                train_realtime(fast, Path(tmp) / "dt0", progress=False, print_summary=False)
            dt0 = json.loads((Path(tmp) / "dt0" / "timing.json").read_text())
        inline_rate, inline_share = inline_acting_rate(cfg, overhead_steps)
        ratio = dt0["env_steps_per_s"] / inline_rate
        out["overhead"] = {
            "async_dt0_env_steps_per_s": dt0["env_steps_per_s"],
            "inline_acting_only_steps_per_s": inline_rate,
            "ratio": ratio, "target_ratio": TARGET_RATIO, "meets_target": ratio >= TARGET_RATIO,
            "async_dt0_updates": dt0["updates"],
            "async_dt0_learned_fraction": dt0["learned_fraction"],
            "inline_cpu_share": inline_share,
            "inline_cpu_us_per_step": inline_share / inline_rate * 1e6,
        }
        if {"env", "learner"} <= set(cpu.used):  # empty where /proc cannot be read
            env_us = cpu.used["env"] / dt0["env_steps"] * 1e6
            out["overhead"].update({
                "async_dt0_env_cpu_share": cpu.used["env"] / dt0["wall_s"],
                "async_dt0_learner_cpu_share": cpu.used["learner"] / dt0["wall_s"],
                "async_dt0_env_cpu_us_per_step": env_us,
                "cpu_ratio": out["overhead"]["inline_cpu_us_per_step"] / env_us,
            })
        return out
    finally:
        if started:
            shutdown_ray()

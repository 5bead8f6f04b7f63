"""``rt-avg bench device``: is this computer fast enough, and big enough, for this job?

Run it on the robot's own computer before trusting it with a robot. It measures, for the
given job (default: the embedded default job):

1. ``act`` and ``update``: one ``Policy.act`` and one learner update, each on one torch
   thread (``bench.update``);
2. ``transition`` and ``weights``: write-to-read latency of the job's own records through a
   shared-memory channel between two processes (``bench.channel``);
3. ``async``: a short async run of the job at its ``realtime.dt_s``: ``rt-avg train
   --mode async`` in a child process, exactly as a user starts it; action latency, cycle
   time, overruns, from its timing.json;
4. ``footprint``: the memory that run held (sum of PSS of every process it started, from
   the same timing.json), not counting this benchmark's own process.

Every measurement gets a verdict against the job's ``dt_s`` (or the memory budget):
``ok``, ``warn`` (works, with a cost the message names) or ``fail``; ``skip`` where dt_s is
0 (no cycle to fit in). See docs/benchmarks.md for the rules and their reasons.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rt_avg.bench.channel import cpus, measure_latency_us
from rt_avg.bench.update import bench_update
from rt_avg.realtime.channels import transition_dtype, weights_dtype
from rt_avg.core.config import Config, save

#: fraction of the cycle an action may take (p99): the rest belongs to the robot's I/O
ACT_SHARE = 0.25
#: fraction of the cycle a transition may take to reach the learner (p99)
TRANSITION_SHARE = 0.10
#: a cycle may be this much longer than dt at p99
CYCLE_TOLERANCE = 0.10
#: overruns allowed in the async run (fraction of steps)
OVERRUN_SHARE = 0.01


@dataclass
class Verdict:
    """One line of the report: ``value`` (a p99, or a total) against ``limit`` (same
    ``unit``); ``p50`` shown beside it where there is one."""

    check: str
    value: float | None
    limit: float | None
    unit: str
    status: str  # ok | warn | fail | skip
    rule: str
    p50: float | None = None


def _pct(us: np.ndarray) -> dict[str, float]:
    return {"p50": float(np.percentile(us, 50)), "p99": float(np.percentile(us, 99))}


def _mem_mb(field: str) -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine() -> dict[str, Any]:
    """What this computer is: CPUs this process may use, memory, platform."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.lower().startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    return {"cpus": len(cpus()) or os.cpu_count(), "cpu_model": model, "arch": platform.machine(),
            "mem_total_mb": _mem_mb("MemTotal"), "mem_available_mb": _mem_mb("MemAvailable"),
            "python": platform.python_version(), "system": platform.system()}


def measure_channels(obs_dim: int, act_dim: int, n_params: int, records: int) -> dict[str, Any]:
    """p50/p99 write-to-read latency (us) of the job's transition and weights records
    between two processes: ``records`` transitions 200 us apart, a tenth as many weights
    records (at least 50) 1 ms apart."""
    rng = np.random.default_rng(0)
    t = measure_latency_us(transition_dtype(obs_dim, act_dim),
                           {"obs": rng.standard_normal(obs_dim), "reward": 1.0}, records, 200e-6)
    w = measure_latency_us(weights_dtype(n_params),
                           {"values": rng.standard_normal(n_params).astype(np.float32)},
                           max(50, records // 10), 1e-3)
    return {"transition_us": _pct(t.latency), "weights_us": _pct(w.latency),
            "weights_read_us": _pct(w.read)}


def async_run(cfg: Config, steps: int, timeout_s: float = 600) -> dict[str, Any]:
    """A short async run of ``cfg`` at its dt_s (``rt-avg train`` in a child process, so
    the footprint is that of a real run); its timing.json summary."""
    run_cfg = cfg.replace(run={"mode": "async", "steps": steps, "checkpoint_every": 10**9},
                          tracking={"wandb": False})
    with tempfile.TemporaryDirectory(prefix="rt-avg-device-") as tmp:
        config, run = Path(tmp) / "config.yaml", Path(tmp) / "run"
        save(run_cfg, config)
        done = subprocess.run([sys.executable, "-m", "rt_avg.cli", "train", "--config",
                               str(config), "--run-dir", str(run), "--quiet"],
                              capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise RuntimeError(f"the async run failed (exit {done.returncode}): "
                               f"{done.stderr.strip()[-2000:]}")
        return json.loads((run / "timing.json").read_text())


def _share(check: str, pct: dict[str, float], dt_us: float, share: float, what: str,
           over: str = "warn") -> Verdict:
    limit = share * dt_us
    bound = "dt" if share == 1 else f"{share:.0%} of dt"
    return Verdict(check, pct["p99"], limit, "us", "ok" if pct["p99"] <= limit else over,
                   f"{what} p99 <= {bound}", pct["p50"])


def verdicts(dt_s: float, mode: str, m: dict[str, Any], budget_mb: float | None) -> list[Verdict]:
    """The rules (see docs/benchmarks.md, "bench device"), one verdict per measurement."""
    out: list[Verdict] = []
    fp = m["async"].get("footprint", {}).get("total_mb")
    if budget_mb is not None and fp is not None:
        out.append(Verdict("footprint", fp, budget_mb, "MB", "ok" if fp <= budget_mb else "fail",
                           "PSS of the async run's processes <= the memory budget"))
    if dt_s <= 0:
        rule = "dt_s = 0: no cycle to fit in"
        return [Verdict(c, None, None, "us", "skip", rule) for c in
                ("act", "update", "transition", "weights", "action_latency", "cycle")] + out
    dt_us = dt_s * 1e6
    act, upd = m["act_us"], m["update_us"]
    timing = [_share("act", act, dt_us, ACT_SHARE, "Policy.act", over="fail")]
    both = act["p99"] + upd["p99"]
    timing.append(Verdict(
        "update", both, dt_us, "us",
        "ok" if both <= dt_us else ("fail" if mode == "sequential" else "warn"),
        "act p99 + update p99 <= dt (sequential mode needs it; async then learns from "
        "about dt / update of the transitions)", act["p50"] + upd["p50"]))
    ch = m["channels"]
    timing.append(_share("transition", ch["transition_us"], dt_us, TRANSITION_SHARE,
                         "transition write-to-read"))
    timing.append(_share("weights", ch["weights_us"], dt_us, 1.0, "weights write-to-read"))
    a = m["async"]
    if lat := a["action_latency_us"]:
        status = "ok" if lat["p99"] <= ACT_SHARE * dt_us else (
            "warn" if lat["p99"] <= dt_us else "fail")
        timing.append(Verdict("action_latency", lat["p99"], ACT_SHARE * dt_us, "us", status,
                              f"async run: observation-to-action p99 <= {ACT_SHARE:.0%} of dt",
                              lat["p50"]))
    if cyc := a["cycle_ms"]:
        overrun_share = a["overruns"] / max(a["env_steps"], 1)
        ok = cyc["p99"] * 1e3 <= (1 + CYCLE_TOLERANCE) * dt_us and overrun_share <= OVERRUN_SHARE
        timing.append(Verdict(
            "cycle", cyc["p99"] * 1e3, (1 + CYCLE_TOLERANCE) * dt_us, "us", "ok" if ok else "fail",
            f"async run: cycle p99 <= dt + {CYCLE_TOLERANCE:.0%}, overruns <= "
            f"{OVERRUN_SHARE:.0%} of steps ({a['overruns']} of {a['env_steps']})",
            cyc["p50"] * 1e3))
    return timing + out


def bench_device(cfg: Config, *, iterations: int = 2000, steps: int = 2000,
                 memory_budget_mb: float | None = None) -> dict[str, Any]:
    """Measure this computer for ``cfg`` (see the module doc). ``iterations``: act/update
    samples and transition records; ``steps``: env steps of the async run;
    ``memory_budget_mb``: default the memory available when the benchmark starts."""
    host = machine()
    budget = memory_budget_mb if memory_budget_mb is not None else host["mem_available_mb"]
    upd = bench_update(cfg, iterations=iterations, warmup=max(1, min(500, iterations // 4)))
    m: dict[str, Any] = {
        "act_us": {"p50": upd["act_us_p50"], "p99": upd["act_us_p99"]},
        "update_us": {"p50": upd["update_us_p50"], "p99": upd["update_us_p99"]},
        "channels": measure_channels(upd["obs_dim"], upd["act_dim"], upd["policy_params"],
                                     iterations),
    }
    timing = async_run(cfg, steps)
    m["async"] = {k: timing.get(k) for k in
                  ("env_steps", "env_steps_per_s", "overruns", "updates", "learned_fraction",
                   "action_latency_us", "cycle_ms", "update_us", "staleness_steps", "footprint")}
    checks = verdicts(cfg.realtime.dt_s, cfg.run.mode, m, budget)
    return {
        "env": cfg.env.id, "algo": cfg.agent.algo, "mode": cfg.run.mode,
        "dt_ms": cfg.realtime.dt_s * 1e3, "obs_dim": upd["obs_dim"], "act_dim": upd["act_dim"],
        "policy_params": upd["policy_params"], "iterations": iterations, "steps": steps,
        "machine": host, "memory_budget_mb": budget, **m,
        "verdicts": [asdict(v) for v in checks],
        "ok": all(v.status != "fail" for v in checks),
    }


def format_device(out: dict[str, Any]) -> str:
    """The human-readable report: one line per verdict."""
    h = out["machine"]
    mem = f", {h['mem_total_mb'] / 1024:.1f} GiB" if h.get("mem_total_mb") else ""
    lines = [f"bench device: {out['env']} ({out['algo']}), dt {out['dt_ms']:g} ms, async run of "
             f"{out['steps']} steps; {h['cpus']} CPUs ({h['cpu_model']}){mem}"]
    for v in out["verdicts"]:
        shown = "-"
        if v["value"] is not None:
            p50 = f"p50 {v['p50']:.0f}  p99 " if v["p50"] is not None else ""
            shown = f"{p50}{v['value']:.0f} {v['unit']} (limit {v['limit']:.0f})"
        lines.append(f"  {v['check']:<15s} {shown:<38s} {v['status'].upper():<5s} {v['rule']}")
    lines.append("verdict: " + ("fit for this job" if out["ok"] else "NOT fit for this job (see FAIL lines)"))
    return "\n".join(lines)

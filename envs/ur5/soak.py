"""A soak of UR-Reacher-2 on the wire twin: async training runs in real time while the twin
injects a fault every few minutes; it counts what recovered, what stopped a run (and why),
and whether the arm was ever left moving after the driver gave up.

    python -m rt_avg.envs.ur5.soak --minutes 20 --every 120 --out /tmp/soak   # ~20 min

The twin (:class:`~rt_avg.envs.ur5.wire.process.TwinProcess`) lives in its own process for
the whole soak, as a robot's controller outlives the runs that drive it; each run is
``rt-avg train --config ur5_reacher2 --mode async`` with ``backend: hardware`` and the
twin's address (the real ur_rtde, the hardware code paths).  Faults, in turn:

* ``protective_stop``: the twin protective-stops the arm (the driver waits 5.5 s, unlocks,
  re-uploads the script, arms it);
* ``socket_closed``: the twin closes its RTDE connections (ur_rtde reconnects by itself and
  restarts its script);
* ``program_restarted``: the twin stops the control program and starts it again (no link
  event: the driver treats it as someone else's restart and stops);
* ``reply_delay``: every message out of the twin's RTDE port leaves 150 ms late, for
  ``--delay-s`` seconds.

A fault counts as recovered when the run is still going ``--judge-s`` seconds later and the
arm has moved under its commands after the fault; a run that ends is restarted (until the
soak's time is up), and for ``--rest-s`` seconds after its end the arm must stay at rest.
The summary (JSON) goes to stdout and ``OUT/summary.json``; each run's directory and
output are under ``OUT``.  Not part of the test suite: it takes as long as it says.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rt_avg.envs.ur5.wire.process import TwinProcess

FAULTS = ("protective_stop", "socket_closed", "program_restarted", "reply_delay")
REPLY_DELAY_MS = 150.0
_SPEEDJ = 9


@dataclass
class FaultRecord:
    kind: str
    at_s: float                  # seconds since the soak started
    run: int                     # which run it hit
    recovered: bool = False
    run_stopped: str = ""        # the run's last words, when the fault ended it


@dataclass
class RunRecord:
    index: int
    started_s: float
    ended_s: float | None = None
    returncode: int | None = None
    reason: str = ""
    steps_logged: int = 0
    left_moving: bool = False    # the arm moved after the run (and its driver) ended
    max_speed_after_end: float = 0.0


@dataclass
class Soak:
    twin: TwinProcess
    out: Path
    args: argparse.Namespace
    t0: float = field(default_factory=time.monotonic)
    runs: list[RunRecord] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None

    def now(self) -> float:
        return time.monotonic() - self.t0

    # ----------------------------------------------------------------- runs
    def clear_protective_stop(self) -> None:
        """What the operator does before the next run: a protective stop the last run left
        (it ended before its driver unlocked it) is unlocked through the dashboard."""
        import dashboard_client  # ur_rtde's; imported here, the soak itself needs none

        while self.twin.snapshot()["protective_stop"]:
            try:
                dashboard = dashboard_client.DashboardClient(self.twin.host)
                dashboard.connect()
                dashboard.unlockProtectiveStop()
                dashboard.disconnect()
            except RuntimeError:
                time.sleep(1.0)  # refused before 5 s: try again

    def start_run(self) -> None:
        self.clear_protective_stop()
        index = len(self.runs)
        run_dir = self.out / f"run-{index}"
        cmd = [sys.executable, "-m", "rt_avg.cli", "train", "--config", "ur5_reacher2",
               "--mode", "async", "--steps", "100000000", "--run-dir", str(run_dir), "--quiet",
               "--set", "env.kwargs.backend=hardware", "--set", f"env.kwargs.host={self.twin.host}",
               "--set", "run.checkpoint_every=100000000", *self.args.set_args]
        log = open(self.out / f"run-{index}.log", "w")  # noqa: SIM115 - closed with the run
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
        self.runs.append(RunRecord(index, self.now()))

    def run_alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def end_run(self, interrupt: bool = False) -> None:
        """Record how the current run ended (Ctrl-C it first if asked), then watch the arm."""
        proc, rec = self.proc, self.runs[-1]
        assert proc is not None
        if interrupt and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        rec.ended_s, rec.returncode = self.now(), proc.returncode
        text = (self.out / f"run-{rec.index}.log").read_text(errors="replace")
        lines = [ln for ln in text.splitlines() if "run failed" in ln or "Error" in ln]
        rec.reason = lines[-1][:400] if lines else ("interrupted" if interrupt else "")
        rec.steps_logged = _steps_logged(self.out / f"run-{rec.index}")
        self.proc = None
        speeds = self.watch_arm(self.args.rest_s)
        # the controller watchdog needs its window plus the ramp; after that, any motion
        # means the arm was left moving
        late = [v for t, v in speeds if t > self.args.rest_grace_s]
        rec.max_speed_after_end = float(max(late, default=0.0))
        rec.left_moving = rec.max_speed_after_end > 0.0

    def watch_arm(self, seconds: float) -> list[tuple[float, float]]:
        """(time since now, largest joint speed) samples of the twin's arm."""
        start, out = time.monotonic(), []
        while time.monotonic() - start < seconds:
            qd = np.abs(np.asarray(self.twin.snapshot()["qd"]))
            out.append((time.monotonic() - start, float(qd.max())))
            time.sleep(0.05)
        return out

    # --------------------------------------------------------------- faults
    def inject(self, kind: str) -> FaultRecord:
        rec = FaultRecord(kind, self.now(), len(self.runs) - 1)
        if kind == "protective_stop":
            self.twin.trigger_protective_stop()
        elif kind == "socket_closed":
            self.twin.close_connections("rtde")
        elif kind == "program_restarted":
            self.twin.restart_program()
        elif kind == "reply_delay":
            self.twin.delay(REPLY_DELAY_MS, "rtde")
        else:
            raise ValueError(f"unknown fault {kind!r}")
        self.faults.append(rec)
        return rec

    def judge(self, rec: FaultRecord) -> None:
        """Recovered: the run lives ``judge_s`` after the fault and the arm moved under its
        speed commands after the fault's effects were over."""
        mark = self.twin.mark()
        deadline = time.monotonic() + self.args.judge_s
        if rec.kind == "reply_delay":
            time.sleep(min(self.args.delay_s, self.args.judge_s))
            self.twin.delay(0.0, "rtde")
        moved = False
        while time.monotonic() < deadline and self.run_alive():
            snap = self.twin.snapshot()
            if snap["command"] == _SPEEDJ and float(np.max(np.abs(snap["qd"]))) > 1e-3:
                moved = True
            time.sleep(0.1)
        armed_again = bool(self.twin.events_since(mark, "watchdog_armed"))
        rec.recovered = self.run_alive() and moved
        if not self.run_alive():
            self.end_run()
            rec.run_stopped = self.runs[-1].reason
        elif rec.kind in ("protective_stop", "socket_closed") and not armed_again:
            rec.recovered = False  # moving, but on a program nobody armed

    # ------------------------------------------------------------------ all
    def run(self) -> dict[str, Any]:
        end = self.args.minutes * 60.0
        self.start_run()
        next_fault, k = self.args.every, 0
        while self.now() < end:
            if not self.run_alive():
                if self.proc is not None:  # ended by itself
                    self.end_run()
                if self.now() < end:
                    self.start_run()
                continue
            if self.now() >= next_fault:
                rec = self.inject(FAULTS[k % len(FAULTS)])
                k += 1
                next_fault += self.args.every
                self.judge(rec)
                continue
            time.sleep(0.5)
        if self.run_alive():
            self.end_run(interrupt=True)
        return self.summary()

    def summary(self) -> dict[str, Any]:
        stopped = [r for r in self.runs if r.reason and r.reason != "interrupted"]
        return {
            "minutes": self.args.minutes, "fault_every_s": self.args.every,
            "twin": self.twin.host,
            "faults_injected": len(self.faults),
            "faults_by_kind": {k: sum(f.kind == k for f in self.faults) for k in FAULTS},
            "recovered": sum(f.recovered for f in self.faults),
            "recovered_by_kind": {k: sum(f.recovered and f.kind == k for f in self.faults)
                                  for k in FAULTS},
            "runs_started": len(self.runs),
            "runs_stopped_by_a_fault": len(stopped),
            "stop_reasons": [r.reason for r in stopped],
            "arm_left_moving_after_a_run_ended": sum(r.left_moving for r in self.runs),
            "env_steps_logged": sum(r.steps_logged for r in self.runs),
            "faults": [asdict(f) for f in self.faults],
            "runs": [asdict(r) for r in self.runs],
        }


def _steps_logged(run_dir: Path) -> int:
    """Env steps of the run's finished episodes (episodes.csv)."""
    path = run_dir / "episodes.csv"
    if not path.exists():
        return 0
    rows = path.read_text().splitlines()[1:]
    return sum(int(r.split(",")[3]) for r in rows if r.count(",") >= 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rt_avg.envs.ur5.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--every", type=float, default=120.0, help="seconds between faults")
    p.add_argument("--judge-s", type=float, default=60.0,
                   help="how long after a fault the run must still be going")
    p.add_argument("--delay-s", type=float, default=20.0, help="how long a reply delay lasts")
    p.add_argument("--rest-s", type=float, default=5.0, help="watch the arm after a run ends")
    p.add_argument("--rest-grace-s", type=float, default=2.0,
                   help="the controller watchdog's window plus the ramp")
    p.add_argument("--out", type=Path, default=Path("soak-ur5"))
    p.add_argument("--set", dest="set_args", action="append", default=[],
                   help="passed on to rt-avg train as --set KEY=VALUE")
    args = p.parse_args(argv)
    args.set_args = [a for kv in args.set_args for a in ("--set", kv)]
    args.out.mkdir(parents=True, exist_ok=True)
    with TwinProcess() as twin:
        result = Soak(twin, args.out, args).run()
    text = json.dumps(result, indent=2)
    (args.out / "summary.json").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

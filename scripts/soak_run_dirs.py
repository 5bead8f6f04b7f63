"""Soak of run directories: two writers per directory, random kills, resumes until done.

    python scripts/soak_run_dirs.py --out /tmp/soak [--dirs 25] [--parallel 3] [--seed 0]

For each of ``--dirs`` run directories two ``rt-avg train`` writers start (so ``2 * dirs``
runs): the second one's Python, torch and Ray are imported first, then the first writer starts,
and once ``/proc/locks`` shows the first holding ``<run>/.lock`` the second calls the real CLI
(``--run-dir R`` or ``--resume R``): it must be refused with the holder's pid.  The first writer
is then killed on an event (a new checkpoint file), not a timer: SIGINT, SIGTERM or SIGKILL of
the driver, and in async mode SIGKILL of the learner or the logger actor (pids from this
attempt's ``actors.json``, checked to descend from this driver).  Each directory's first kill
is dealt from a shuffled deck of the ``--kills`` kinds (an actor kill makes it async), so a
soak of as many directories as kinds sends every kind; one never sent is a finding.
``rt-avg train --resume R`` follows (sometimes killed again) until the newest checkpoint is at
the run's steps.

Afterwards each run is checked: ``episodes.csv`` has strictly increasing steps and episode
ids (and no partial row); ``--resume R`` is a no-op with exit 0 that leaves ``episodes.csv``
unchanged; ``rt-avg eval R --episodes 1`` exits 0.  At the end no process the soak's runs
started is alive (every descendant of every driver is recorded while it runs) and no
``/dev/shm/rtavg_<pid>_*`` segment of those pids is left.  Prints one JSON summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

RT_AVG = [str(Path(sys.executable).parent / "rt-avg")]
TINY = ["--env", "InvertedPendulum-v5", "--quiet", "--set", "agent.hidden_sizes=[16,16]",
        "--set", "run.checkpoint_every=200"]
# The second writer imports everything heavy first, says "ready", then waits for a line.
SECOND = ("import sys, torch, gymnasium, ray, rt_avg.cli as c; print('ready', flush=True); "
          "sys.stdin.readline(); sys.exit(c.main(sys.argv[1:]))")
DRIVER_KILLS = ("sigint", "sigterm", "sigkill_driver")
ACTOR_KILLS = ("sigkill_learner", "sigkill_logger")  # async mode only
EXIT_WAIT_S = 300.0  # the longest a killed driver may take to exit before it counts as a hang
CKPT_RE = re.compile(r"step_(\d+)\.pt$")


class Tracker:
    """Records every descendant (pid, start time) of the drivers it is given, while they run."""

    def __init__(self) -> None:
        self.roots: set[int] = set()
        self.seen: set[tuple[int, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    def add(self, pid: int) -> None:
        with self._lock:
            self.roots.add(pid)

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self.scan()

    def scan(self) -> None:
        parent: dict[int, int] = {}
        start: dict[int, str] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                fields = _stat(int(name))
                if fields:
                    parent[int(name)], start[int(name)] = int(fields[1]), fields[19]
        with self._lock:
            mine = {p for p in self.roots if p in parent}
            mine |= {pid for pid, st in self.seen if start.get(pid) == st}
            grew = True
            while grew:
                new = {p for p, pp in parent.items() if pp in mine and p not in mine}
                mine |= new
                grew = bool(new)
            self.seen |= {(p, start[p]) for p in mine if p in start}

    def pids(self) -> set[int]:
        with self._lock:
            return {pid for pid, _ in self.seen}

    def alive(self) -> list[str]:
        """The recorded processes still alive (same pid and start time), as 'pid cmdline'."""
        out = []
        for pid, st in sorted(self.seen):
            fields = _stat(pid)
            if fields and fields[19] == st and fields[0] != "Z":
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:120]
                out.append(f"{pid} {cmd.decode(errors='replace')}")
        return out


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state, ppid, ...), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def newest_step(run: Path) -> int:
    steps = [int(m.group(1)) for p in (run / "checkpoints").glob("step_*.pt")
             if (m := CKPT_RE.search(p.name))]
    return max(steps, default=-1)


def lock_holder(run: Path) -> int | None:
    try:
        inode = (run / ".lock").stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if "FLOCK" in parts:
            i = parts.index("FLOCK")
            if parts[i + 4].rsplit(":", 1)[-1] == str(inode):
                return int(parts[i + 3])
    return None


class Soak:
    """Runs the directories and keeps the counts (one lock guards them across threads)."""

    def __init__(self, out: Path, seed: int, modes: list[str], kinds: list[str]) -> None:
        self.out, self.rng, self.modes = out, random.Random(seed), modes
        # Actor kills need async mode; without it only the driver kills can be drawn.
        self.kinds = [k for k in kinds if "async" in modes or k in DRIVER_KILLS]
        self.deck: list[str] = []  # first kills, dealt so that every kind comes round
        self.tracker = Tracker()
        self.counts: Counter[str] = Counter()
        self.findings: list[str] = []
        self._lock = threading.Lock()

    def note(self, key: str, finding: str | None = None) -> None:
        with self._lock:
            self.counts[key] += 1
            if finding:
                self.findings.append(finding)
        print(f"{time.strftime('%H:%M:%S')} {key} {finding or ''}", file=sys.stderr, flush=True)

    def start(self, argv: list[str], log: Path, **kw: Any) -> subprocess.Popen:
        proc = subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                cwd=self.out, **kw)
        self.tracker.add(proc.pid)
        return proc

    def one_dir(self, i: int) -> None:
        with self._lock:
            # Each directory's first kill is dealt from a shuffled deck of all kinds, so a
            # soak of len(kinds) directories or more sends every kind (the later ones are
            # drawn freely); an actor kill makes the directory async.
            if not self.deck:
                self.deck = self.rng.sample(self.kinds, len(self.kinds))
            first = self.deck.pop()
            mode = "async" if first in ACTOR_KILLS else self.rng.choice(self.modes)
            steps = self.rng.randrange(600, 1501, 100)
            kinds = [k for k in self.kinds if mode == "async" or k in DRIVER_KILLS]
            plan = [first, *[self.rng.choice(kinds) for _ in range(2)
                             if self.rng.random() < 0.4]]
            second_flag = self.rng.choice(["--run-dir", "--resume"])
        run = self.out / f"run{i:02d}"
        args = [*TINY, "--mode", mode, "--steps", str(steps), "--seed", str(i)]
        self.first_pair(run, args, second_flag, plan.pop(0) if plan else None)
        attempt = 1
        while newest_step(run) < steps and attempt < 8:
            attempt += 1
            self.note("resumes")
            self.attempt(run, [*RT_AVG, "train", "--resume", str(run)], attempt,
                         plan.pop(0) if plan else None)
        if newest_step(run) < steps:
            self.note("runs_unfinished", f"{run.name}: newest checkpoint {newest_step(run)} "
                                         f"< {steps} after {attempt} attempts")
        self.final_checks(run, steps)

    def first_pair(self, run: Path, args: list[str], second_flag: str, kill: str | None) -> None:
        second_argv = [sys.executable, "-c", SECOND, "train", second_flag, str(run),
                       *(args if second_flag == "--run-dir" else [])]
        second = self.start(second_argv, run.parent / f"{run.name}.second.log",
                            stdin=subprocess.PIPE)
        self.note("runs_started")
        log = run.parent / f"{run.name}.second.log"
        while "ready" not in log.read_text() and second.poll() is None:
            time.sleep(0.2)
        first_pid = self.attempt(run, [*RT_AVG, "train", "--run-dir", str(run), *args], 1,
                                 kill, second=second)
        text = log.read_text()
        said = f"{run.name}: second writer ({second_flag}) exit {second.returncode}: " \
               f"{text.strip().splitlines()[-1:]}"
        if second.returncode != 0 and f"(pid {first_pid})" in text:
            self.note("second_writers_refused_naming_holder_pid")
        elif second.returncode != 0:
            self.note("second_writers_refused_without_pid", said)
        else:
            self.note("second_writers_not_refused", said)

    def attempt(self, run: Path, argv: list[str], n: int, kill: str | None,
                second: subprocess.Popen | None = None) -> int:
        """One driver from start to exit (killed on an event if ``kill``); its pid."""
        before, t0 = newest_step(run), time.time()
        driver = self.start(argv, run.parent / f"{run.name}.{n}.log")
        self.note("runs_started" if n == 1 else "resume_processes")
        if second is not None:  # release the second writer once the first holds the lock
            while lock_holder(run) != driver.pid and driver.poll() is None:
                time.sleep(0.05)
            second.stdin.write(b"go\n")  # type: ignore[union-attr]
            second.stdin.close()  # type: ignore[union-attr]
            second.wait()
        if kill is not None:
            while newest_step(run) <= before and driver.poll() is None:
                time.sleep(0.1)
            if driver.poll() is None:
                self.kill(run, driver, kill, t0)
            else:
                self.note("kills_skipped_run_ended_first")
        try:
            rc = driver.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            self.note("hangs", f"{run.name} attempt {n}: driver still running {EXIT_WAIT_S:.0f} s "
                               f"after {kill}; SIGKILLed")
            driver.kill()
            rc = driver.wait()
        text = (run.parent / f"{run.name}.{n}.log").read_text(errors="replace")
        if "Traceback" in text:
            self.note("tracebacks", f"{run.name} attempt {n} ({kill}): traceback in "
                                    f"{run.name}.{n}.log")
        self.note(f"exit_{rc}_after_{kill or 'none'}")
        return driver.pid

    def kill(self, run: Path, driver: subprocess.Popen, kind: str, t0: float) -> None:
        sig = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM}.get(kind, signal.SIGKILL)
        pid = driver.pid
        if kind in ("sigkill_learner", "sigkill_logger"):
            role = kind.removeprefix("sigkill_")
            placed = run / "actors.json"
            try:
                fresh = placed.stat().st_mtime >= t0 - 1
                pid = int(json.loads(placed.read_text())[role]["pid"]) if fresh else -1
            except (OSError, ValueError, KeyError):
                pid = -1
            self.tracker.scan()
            if pid not in self.tracker.pids():  # only this run's own actor
                self.note("kills_skipped_no_actor_pid", f"{run.name}: no {role} pid of this run")
                return
        try:
            os.kill(pid, sig)
            self.note(f"kills_{kind}")
        except ProcessLookupError:
            self.note("kills_skipped_process_gone")

    def final_checks(self, run: Path, steps: int) -> None:
        self.check(run, "episodes_csv", episodes_problem(run / "episodes.csv"))
        before = (run / "episodes.csv").read_bytes() if (run / "episodes.csv").exists() else b""
        done = subprocess.run([*RT_AVG, "train", "--resume", str(run)], cwd=self.out,
                              capture_output=True, text=True)
        unchanged = (run / "episodes.csv").read_bytes() == before
        self.check(run, "resume_noop", None if done.returncode == 0 and unchanged else
                   f"exit {done.returncode}, episodes.csv unchanged: {unchanged}, "
                   f"{done.stderr.strip().splitlines()[-1:]}")
        ev = subprocess.run([*RT_AVG, "eval", str(run), "--episodes", "1"], cwd=self.out,
                            capture_output=True, text=True)
        self.check(run, "eval", None if ev.returncode == 0 else
                   f"exit {ev.returncode}: {ev.stderr.strip().splitlines()[-1:]}")

    def check(self, run: Path, name: str, problem: str | None) -> None:
        if problem is None:
            self.note(f"check_{name}_passed")
        else:
            self.note(f"check_{name}_failed", f"{run.name} {name}: {problem}")


def episodes_problem(path: Path) -> str | None:
    """What is wrong with an episodes.csv (None: steps and episode ids strictly increase)."""
    try:
        rows = list(csv.reader(path.open()))
    except OSError as exc:
        return f"unreadable: {exc}"
    if not rows or rows[0][:2] != ["step", "episode"]:
        return f"header {rows[:1]}"
    last = (-1, -1)
    for k, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            return f"line {k} has {len(row)} fields: {row}"
        try:
            now = (int(row[0]), int(row[1]))
        except ValueError:
            return f"line {k} is not a row: {row}"
        if now[0] <= last[0] or now[1] <= last[1]:
            return f"line {k}: step/episode {now} after {last}"
        last = now
    return None


def leftovers(soak: Soak, grace_s: float) -> tuple[list[str], list[str]]:
    """Processes and /dev/shm segments of the soak's runs still there after ``grace_s``."""
    soak.tracker.scan()
    deadline = time.time() + grace_s
    while True:
        pids = soak.tracker.pids()
        alive = soak.tracker.alive()
        segs = [n for n in os.listdir("/dev/shm")
                if (m := re.match(r"rtavg_(\d+)_", n)) and int(m.group(1)) in pids]
        if (not alive and not segs) or time.time() > deadline:
            return alive, segs
        time.sleep(2)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the run dirs and logs")
    p.add_argument("--dirs", type=int, default=25, help="run directories (two writers each)")
    p.add_argument("--parallel", type=int, default=3, help="directories soaked at once")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--deadline-s", type=float, default=0.0,
                   help="start no new directory after this many seconds (0: no limit)")
    p.add_argument("--modes", default="inline,async", help="modes to draw from")
    p.add_argument("--kills", default=",".join(DRIVER_KILLS + ACTOR_KILLS),
                   help="kill kinds to draw from")
    a = p.parse_args()
    # A background shell starts us with SIGINT ignored, and the drivers would inherit that.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    a.out.mkdir(parents=True, exist_ok=True)
    soak, t0 = Soak(a.out.resolve(), a.seed, a.modes.split(","), a.kills.split(",")), time.time()
    todo = list(range(a.dirs))
    todo_lock = threading.Lock()

    def worker() -> None:
        while True:
            with todo_lock:
                if not todo or (a.deadline_s and time.time() - t0 > a.deadline_s):
                    return
                i = todo.pop(0)
            soak.one_dir(i)

    threads = [threading.Thread(target=worker) for _ in range(a.parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alive, segs = leftovers(soak, grace_s=90.0)
    if not todo and a.dirs >= len(soak.kinds):  # then every kind was dealt once at least
        soak.findings += [f"no {k} kill was sent" for k in soak.kinds
                          if not soak.counts[f"kills_{k}"]]
    summary = {"dirs_done": a.dirs - len(todo), "dirs_planned": a.dirs,
               "wall_s": round(time.time() - t0), "counts": dict(sorted(soak.counts.items())),
               "processes_left": alive, "shm_segments_left": segs,
               "processes_tracked": len(soak.tracker.seen), "findings": soak.findings}
    text = json.dumps(summary, indent=1)
    (a.out / "summary.json").write_text(text)
    print(text)
    return 0 if not (soak.findings or alive or segs) else 1


if __name__ == "__main__":
    sys.exit(main())

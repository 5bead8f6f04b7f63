"""The reaper: when the driver's end of its stdin closes without "done", it ends the Ray
processes of the session and unlinks shared memory whose creator is dead."""

import os
import secrets
import subprocess
import sys

import pytest

from helpers import HANG_S
from rt_avg.realtime.channels.segment import DEFAULT_PREFIX

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc, /dev/shm")

HOLD = "import sys, time; f = open(sys.argv[1], 'a'); print('ready', flush=True); time.sleep(60)"


def _holder(argv0_dir, log):
    """A process holding ``log`` open; its command line names ``argv0_dir``."""
    script = argv0_dir / "worker.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(HOLD)
    proc = subprocess.Popen([sys.executable, str(script), str(log)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _dead_creator_segment():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    path = f"/dev/shm/{DEFAULT_PREFIX}_{gone.pid}_reapertest_{secrets.token_hex(4)}"
    with open(path, "wb") as f:
        f.write(b"x")
    return path


def _reaper(*lines, done=False):
    reaper = subprocess.Popen([sys.executable, "-m", "rt_avg.realtime.reaper"],
                              stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = reaper.communicate("".join(f"{line}\n" for line in lines)
                                + ("done\n" if done else ""), timeout=HANG_S)
    assert reaper.returncode == 0, err
    return err


@pytest.fixture
def session(tmp_path):
    logs = tmp_path / "session_1" / "logs"
    logs.mkdir(parents=True)
    fake_ray = tmp_path / "site" / "ray"
    procs = {"ray": _holder(fake_ray, logs / "worker.out"),
             "bystander": _holder(tmp_path / "tools", logs / "raylet.out")}  # a `tail -f`
    yield tmp_path / "session_1", fake_ray, procs
    for p in procs.values():
        p.kill()
        p.wait()


def test_driver_gone_ends_the_session_and_unlinks_dead_segments(session):
    session_dir, fake_ray, procs = session
    segment = _dead_creator_segment()
    err = _reaper(f"ray {fake_ray}", f"session {session_dir}")
    assert procs["ray"].wait(timeout=HANG_S) == -9  # SIGKILL
    assert procs["bystander"].poll() is None  # holds a session file but is not Ray's
    assert not os.path.exists(segment)
    assert "ended 1 Ray processes" in err


def test_done_leaves_everything_alone(session):
    session_dir, fake_ray, procs = session
    segment = _dead_creator_segment()  # something the reaper would remove, and say so
    try:
        # Silent: it neither ended a process nor removed a segment.  (Whether the segment
        # is still there is not asked: any rt-avg run starting on this machine removes
        # segments whose creator is dead.)
        assert _reaper(f"ray {fake_ray}", f"session {session_dir}", done=True) == ""
        assert procs["ray"].poll() is None
    finally:
        if os.path.exists(segment):
            os.unlink(segment)

"""The UR5 driver against the wire twin, through the real ur_rtde library (1.6.5).

Each test starts its own twin (a child process on a fresh 127.x.y.z address, recording every
RTDE input package) and drives it with :class:`RTDEDriver` and ur_rtde's own classes.  The
tests follow ur_rtde's command protocol as its source has it (docs/ur5.md, "The driver and
ur_rtde 1.6.5"): what a watchdog kick sends, that stops block while the arm brakes, that
``reuploadScript`` returns before the program runs, that ur_rtde reconnects (and restarts
its script) by itself, which ur_rtde releases have a busy-waiting ``waitPeriod``, and what a
reading means while the link is down.

The controller watchdog is widened to 0.5-1 s here (0.1 s by default) so that a loaded test
machine does not trip it; each fault below outlasts it by far.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from helpers import HANG_S
from rt_avg.envs.ur5.driver import URConnectionError
from rt_avg.envs.ur5.rtde_driver import RTDEDriver

rtde_control = pytest.importorskip("rtde_control")
from rt_avg.envs.ur5.wire.process import TwinProcess  # noqa: E402
from ur5_wire_client import QD as OLD  # noqa: E402  (the client's command before the fault)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
QD = np.array([0.0, 0.3, -0.3, 0.0, 0.0, 0.0])
SPEEDJ, NO_CMD = 9, 0


@pytest.fixture
def twin() -> Iterator[TwinProcess]:
    with TwinProcess(args=["--trace-inputs"]) as t:
        yield t


def make(twin: TwinProcess, **kwargs) -> RTDEDriver:
    kwargs.setdefault("controller_watchdog_s", 0.5)
    return RTDEDriver(twin.host, **kwargs)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str,
               driver: RTDEDriver | None = None) -> None:
    """Poll ``condition``; a driver's fault is raised at once (it says what went wrong)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if driver is not None:
            driver.read_state()
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.005)


def twin_qd(twin: TwinProcess) -> np.ndarray:
    return np.asarray(twin.snapshot()["qd"])


def speedj_inputs(twin: TwinProcess, since: int, qd: np.ndarray) -> list[dict]:
    """speedJ packages carrying ``qd`` that reached the controller after event ``since``."""
    found = []
    for e in twin.events_since(since, "input"):
        values = e["data"]["values"]
        if values.get("input_int_register_0") != SPEEDJ:
            continue
        sent = np.array([values.get(f"input_double_register_{i}", np.nan) for i in range(6)])
        if np.allclose(sent, qd, atol=1e-9):
            found.append(e)
    return found


def keep_commanding(driver: RTDEDriver, qd: np.ndarray, seconds: float) -> None:
    """A task stepping at 40 ms."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        driver.command_speed(qd, 1.4)
        time.sleep(0.04)


def kinds(twin: TwinProcess, since: int, *names: str) -> list[str]:
    return [e["kind"] for e in twin.events_since(since) if e["kind"] in names]


# ---------------------------------------------------------------- point 1
def test_a_watchdog_kick_reaches_the_script_as_no_command(twin):
    """ur_rtde 1.6.5 sends kickWatchdog as command 0 ("no command": ``RTDE::send`` packs the
    WATCHDOG type as NO_CMD), so the script sees nothing to do and stays ready: kicks alone
    keep an armed program running, and stopping them lets the watchdog stop it.  (A 1 s
    watchdog: a loaded test machine may leave 0.1 s kicks half a second apart.)"""
    control = rtde_control.RTDEControlInterface(twin.host)
    try:
        assert control.setWatchdog(1.0)
        armed = twin.mark()
        for _ in range(15):  # 1.5 s, longer than the watchdog's 1 s
            assert control.kickWatchdog()
            time.sleep(0.1)
        events = twin.events_since(armed)
        kicks = [e for e in events if e["kind"] == "input"]
        assert kicks and all(e["data"]["values"]["input_int_register_0"] == NO_CMD for e in kicks)
        assert not [e for e in events if e["kind"] in ("command_received", "watchdog_fired")]
        assert twin.snapshot()["program_running"]
        twin.wait_event("watchdog_fired", since=armed, timeout_s=5.0)  # no kicks: it stops
    finally:
        control.disconnect()


def test_the_driver_feeds_the_watchdog_while_idle_and_moving(twin):
    driver = make(twin)
    driver.connect()
    try:
        armed = twin.mark()
        time.sleep(0.6)  # idle longer than the watchdog
        keep_commanding(driver, QD, 0.6)
        driver.stop()
        wait_until(lambda: not np.any(twin_qd(twin)), 5.0, "the arm at rest", driver)
        assert not kinds(twin, armed, "watchdog_fired", "program_stopped")
        assert twin.snapshot()["program_running"]
    finally:
        driver.close()


# ---------------------------------------------------------------- point 2
def test_braking_from_speed_keeps_the_program_running(twin):
    """speedStop blocks in ur_rtde while the arm brakes (the script runs stopj(a) in its main
    loop, the client polls for "done" and sends nothing): from 0.3 rad/s at 0.25 rad/s^2 that
    is 1.2 s of silence, more than the 0.5 s watchdog.  The driver brakes with speedJ."""
    driver = make(twin, stop_accel=0.25)
    driver.connect()
    try:
        def at_speed() -> bool:  # the command is refreshed, as an env does every step (a
            driver.command_speed(QD, 1.4)  # command older than watchdog_s is dropped)
            return twin_qd(twin)[1] > 0.29

        wait_until(at_speed, HANG_S, "the arm at speed", driver)
        braking = twin.mark()
        t0 = twin.snapshot()["t_s"]
        driver.stop()
        wait_until(lambda: not np.any(twin_qd(twin)), 10.0, "the arm at rest")
        assert not kinds(twin, braking, "watchdog_fired", "program_stopped")
        assert twin.snapshot()["t_s"] - t0 >= 0.9 * 0.3 / 0.25  # at the stop deceleration
        assert driver.read_state().connected and twin.snapshot()["program_running"]
    finally:
        driver.close()


# ---------------------------------------------------------------- point 3
@pytest.mark.slow
def test_protective_stop_recovery_waits_for_the_program_before_arming(twin):
    """reuploadScript returns when the script is sent; the program runs later (0.2 s on the
    twin).  The driver waits for it, then arms the watchdog and moves again."""
    driver = make(twin)
    driver.connect()
    try:
        keep_commanding(driver, QD / 3, 0.2)
        stopped = twin.mark()
        twin.trigger_protective_stop()
        started = twin.wait_event("program_started", since=stopped, timeout_s=15.0)
        wait_until(lambda: kinds(twin, started["seq"], "watchdog_armed"), 5.0,
                   "the watchdog armed on the restarted program", driver)
        keep_commanding(driver, QD / 3, 0.3)
        assert twin_qd(twin)[1] == pytest.approx(0.1)
        assert driver.stats.protective_stops == 1 and driver.stats.script_reuploads == 1
    finally:
        driver.close()


# ---------------------------------------------------------------- point 4
class Client:
    """``ur5_wire_client.py``: the driver in a child process (ur_rtde's own reconnect has
    crashed its client process on the twin)."""

    def __init__(self, host: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "ur5_wire_client.py"), host],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.expect("ready")

    def read(self) -> str:
        """The client's next line (its own start with "@"; ur_rtde prints too)."""
        for line in self.proc.stdout:  # type: ignore[union-attr]
            if line.startswith("@"):
                return line[1:].strip()
        return f"<exited with {self.proc.wait(10)}>"

    def expect(self, word: str) -> None:
        line = self.read()
        assert line == word, f"the driver process said {line!r}, not {word!r}"

    def say(self, word: str) -> str:
        try:
            self.proc.stdin.write(word + "\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except BrokenPipeError:
            return f"<exited with {self.proc.wait(10)}>"
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def test_a_script_restarted_by_ur_rtde_is_armed_and_not_given_the_old_command(twin):
    """ur_rtde reconnects by itself when its control socket fails, and its reconnect restarts
    the control script.  While the driver's loop is held (as inside a blocking ur_rtde call),
    the twin closes the RTDE connections; ur_rtde's receive thread reconnects and the script
    runs again, without a watchdog.  The driver must arm the new run and must not resume the
    command it had before.

    ur_rtde 1.6.5 itself crashes now and then after such a reconnect (its reconnect starts a
    second receive thread and swaps the robot state under readers; docs/ur5.md): a crash of
    the driver's process is reported as an expected failure, not hidden."""
    client = Client(twin.host)
    closing = None  # the driver's own close stops the script: what came after is not ur_rtde's
    try:
        fault = twin.mark()
        assert client.say("hold") == "holding"
        twin.close_connections("rtde")
        restarted = twin.wait_event("program_started", since=fault, timeout_s=HANG_S)
        assert client.say("release") == "released"
        if not _armed_or_refused(twin, restarted["seq"], fault):
            if _ur_rtde_was_refused_its_registers(twin, fault):
                pytest.xfail("ur_rtde's own reconnects collided: one was refused the input "
                             "registers its earlier session still held, so its control "
                             "interface could not send the command that arms the script "
                             "(this test's precondition did not hold)")
            if client.proc.poll() == -signal.SIGSEGV:
                pytest.xfail("ur_rtde 1.6.5 crashed the driver's process after its own "
                             "reconnect")
            closing = twin.mark()  # decided: what the close does (a crash too) is not asked
            raise _NotArmed("no watchdog armed on the script ur_rtde restarted; the driver "
                            f"said {client.say('close')}")
        resumed = speedj_inputs(twin, restarted["seq"], OLD)
        assert not resumed, f"the restarted script got the old command {len(resumed)} times"
        closing = twin.mark()
        report = json.loads(client.say("close"))
        assert report["fault"] is None and report["stats"]["program_restarts"] >= 1
    except _NotArmed:
        raise
    except (AssertionError, json.JSONDecodeError):
        if client.proc.poll() == -signal.SIGSEGV:
            pytest.xfail("ur_rtde 1.6.5 crashed the driver's process after its own reconnect")
        if _ur_rtde_left_the_script_stopped(twin, fault, until=closing):
            pytest.xfail("ur_rtde's own reconnect stopped the script it had restarted and did "
                         "not start it again (its wall-clock timeouts on a busy machine): this "
                         "test's precondition did not hold; the driver reported it as a fault")
        raise
    finally:
        client.close()


class _NotArmed(AssertionError):
    """The driver did not arm the restarted script, and ur_rtde had not broken the test's
    precondition before the driver was asked to close."""


def _ur_rtde_was_refused_its_registers(twin: TwinProcess, since: int) -> bool:
    """Whether an input recipe was refused with IN_USE after the fault: ur_rtde 1.6.5 can
    reconnect twice at once (its second receive thread), and the second reconnect finds the
    registers held by the first one's session.  Its control interface then has no input
    recipe, and a blocking command waits for "done" up to its UR_EXECUTION_TIMEOUT (300 s)."""
    return any(e["data"]["recipe_id"] == 0 and "IN_USE" in e["data"]["types"]
               for e in twin.events_since(since, "input_recipe"))


def _armed_or_refused(twin: TwinProcess, since: int, fault: int) -> bool:
    """Wait for the driver to arm the script run started at ``since`` (True); False when it
    did not within HANG_S, or within 30 s of ur_rtde being refused its registers after
    ``fault`` (the run cannot be armed then: the driver's call hangs inside ur_rtde)."""
    deadline, refused_at = time.monotonic() + HANG_S, None
    while time.monotonic() < deadline:
        try:
            twin.wait_event("watchdog_armed", since=since, timeout_s=1.0)
            return True
        except TimeoutError:
            pass
        if refused_at is None and _ur_rtde_was_refused_its_registers(twin, fault):
            refused_at = time.monotonic()
        if refused_at is not None and time.monotonic() - refused_at > 30.0:
            return False
    return False


def _ur_rtde_left_the_script_stopped(twin: TwinProcess, since: int,
                                     until: int | None = None) -> bool:
    """Whether ur_rtde itself (a stopScript, a dashboard stop or a new upload) stopped the
    script last after the fault (and before ``until``), with no start after it: not a stop by
    the watchdog or a protective stop, which would be the driver's to prevent."""
    runs = [e for e in twin.events_since(since)
            if e["kind"] in ("program_started", "program_stopped")
            and (until is None or e["seq"] <= until)]
    return bool(runs) and runs[-1]["kind"] == "program_stopped" and runs[-1]["data"].get(
        "reason") in ("stop_script", "dashboard", "replaced")


# ---------------------------------------------------------------- point 5
def test_a_ur_rtde_with_the_busy_waiting_wait_period_is_refused(twin, monkeypatch):
    """ur_rtde 1.5.3-1.6.0 spin in waitPeriod on the nanosecond field alone (up to a second at
    a second boundary, longer than any controller watchdog); the driver needs 1.6.5."""
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "1.5.8" if name.lower().replace("-", "_") == "ur_rtde"
                        else real(name))
    driver = make(twin)
    try:
        with pytest.raises(URConnectionError, match=r"ur_rtde 1\.5\.8.*>= 1\.6\.5"):
            driver.connect()
    finally:
        driver.close()


def test_the_extras_require_the_ur_rtde_the_driver_follows():
    text = (ROOT / "pyproject.toml").read_text()
    floors = re.findall(r'"ur-rtde>=([0-9.]+)"', text)
    assert len(floors) == 2, floors  # the ur5 and test extras
    assert all(tuple(map(int, f.split("."))) >= (1, 6, 5) for f in floors), floors


# ---------------------------------------------------------------- point 6
def test_a_reading_is_not_connected_while_the_loop_is_blocked(twin):
    driver = make(twin, controller_watchdog_s=1.0, receive_timeout_s=0.1)
    driver.connect()
    try:
        keep_commanding(driver, np.zeros(6), 0.1)
        assert driver.read_state().connected
        with driver._io_lock:  # the loop is blocked in a call into ur_rtde
            before = twin.snapshot()["t_s"]
            wait_until(lambda: twin.snapshot()["t_s"] > before + 0.3, 5.0, "0.3 s on the twin")
            state = driver.read_state()
        assert not state.connected, "a reading older than receive_timeout_s said connected"
    finally:
        driver.close()


def test_a_command_made_during_an_outage_is_never_sent(twin):
    """The twin stops answering; while readings say connected=False the task computes a
    command from them.  When the link comes back, that command must not be sent."""
    driver = make(twin, controller_watchdog_s=1.0, watchdog_s=2.0, receive_timeout_s=0.1)
    driver.connect()
    try:
        keep_commanding(driver, np.zeros(6), 0.1)
        twin.silence("rtde")
        wait_until(lambda: not driver.read_state().connected, 5.0, "a disconnected reading")
        stale = QD / 6
        driver.command_speed(stale, 1.4)  # computed from a stale reading
        back = twin.mark()
        twin.answer("rtde")
        wait_until(lambda: driver.read_state().connected, 10.0, "the link back", driver)
        periods = driver.stats.periods
        wait_until(lambda: driver.stats.periods > periods + 50
                   and len(twin.events_since(back, "input")) > 50, 10.0,
                   "50 control periods and input packages after the link came back", driver)
        sent = speedj_inputs(twin, back, stale)
        assert not sent, f"{len(sent)} speedJ packages carried the command made during the outage"
        assert not np.any(twin_qd(twin))
    finally:
        driver.close()

"""Opening ur_rtde's interfaces: the library and its version, and connects with a bound.

The driver's protocol rules (which commands are real-time, how the watchdog is armed, what a
reconnect does to the control program) were read from ur_rtde 1.6.5's own source (its control
script and ``rtde_control_interface.cpp``; docs/ur5.md cites the lines).  Older releases
differ where it matters: 1.5.3-1.6.0 pace ``waitPeriod`` on the nanosecond field alone and
can spin for up to a second at a second boundary (fixed in 1.6.1, "The timespec tv_sec value
is no longer ignored in the busy-wait loop"), long enough for the controller's watchdog to
stop the arm.  So the driver refuses an older ur_rtde instead of guessing.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from importlib import metadata
from typing import Any

from rt_avg.envs.ur5.driver import URConnectionError

Factory = Callable[..., Any]

#: the ur_rtde release whose control script and client this driver follows
UR_RTDE_MIN_VERSION = (1, 6, 5)
#: ur_rtde's RTDEControlInterface waits this long for its control script to run after an
#: upload (``waitForProgramRunning``: 5000 ms) before it gives up
UR_RTDE_SCRIPT_WAIT_S = 5.0


def parse_version(text: str) -> tuple[int, ...]:
    """``"1.6.5"`` -> ``(1, 6, 5)``; trailing non-numeric parts (rc, post) are ignored."""
    parts = []
    for piece in text.split("."):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
    return tuple(parts)


def check_ur_rtde_version(installed: str | None = None) -> str:
    """The installed ur_rtde version; URConnectionError when it is older than the one this
    driver follows (or cannot be found)."""
    if installed is None:
        try:
            installed = metadata.version("ur_rtde")
        except metadata.PackageNotFoundError as exc:
            raise URConnectionError("the hardware backend needs ur_rtde: pip install "
                                    "'rt-avg[ur5]'") from exc
    need = ".".join(map(str, UR_RTDE_MIN_VERSION))
    if parse_version(installed) < UR_RTDE_MIN_VERSION:
        raise URConnectionError(
            f"ur_rtde {installed} is installed; the UR5 driver needs ur_rtde >= {need} (older "
            "releases can spin for up to a second in waitPeriod at a second boundary, and the "
            "driver's protocol rules were checked against 1.6.5): pip install "
            f"'ur-rtde>={need}'")
    return installed


def import_factories() -> tuple[Factory, Factory, Factory]:
    """ur_rtde's three classes, after the version check."""
    check_ur_rtde_version()
    try:
        import dashboard_client
        import rtde_control
        import rtde_receive
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise URConnectionError("the hardware backend needs ur_rtde: pip install "
                                "'rt-avg[ur5]'") from exc
    return (rtde_control.RTDEControlInterface, rtde_receive.RTDEReceiveInterface,
            dashboard_client.DashboardClient)


def abandon(connection: Any) -> None:
    """Undo a connection that completed after we gave up on it: a control interface has
    uploaded and started its script, which must not stay running on the robot."""
    with contextlib.suppress(Exception):  # best effort on an abandoned connection
        if hasattr(connection, "stopScript"):
            connection.stopScript()
    with contextlib.suppress(Exception):
        if hasattr(connection, "disconnect"):
            connection.disconnect()


def bounded(call: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Run a possibly blocking connect in a helper thread; give up after ``timeout_s``
    (URConnectionError).  A connection that completes after we gave up is undone
    (:func:`abandon`): ur_rtde's own waits (the first RTDE package, the script starting)
    have no limit of their own."""
    result: dict[str, Any] = {}
    lock = threading.Lock()
    gave_up = False

    def run() -> None:
        try:
            value = call()
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            result["error"] = exc
            return
        with lock:
            result["value"] = value
            late = gave_up
        if late:
            abandon(value)

    thread = threading.Thread(target=run, name=f"ur5-connect-{what}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    with lock:
        if "value" not in result and "error" not in result:
            gave_up = True
    if gave_up:
        raise URConnectionError(f"{what}: no answer within {timeout_s:g} s")
    if "error" in result:
        raise URConnectionError(f"{what}: {result['error']}") from result["error"]
    return result["value"]

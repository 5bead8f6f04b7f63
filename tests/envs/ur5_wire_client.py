"""A UR5 driver in a process of its own, for wire-twin tests that close its sockets.

ur_rtde 1.6.5 reconnects by itself when the controller closes its RTDE socket, and that
reconnect has crashed the client process on the wire twin (docs/ur5.md): a test that
provokes it runs the driver here, not in the test process.  Lines on stdin and stdout (ours start with "@": ur_rtde prints to stdout as well)::

    python ur5_wire_client.py HOST           -> "ready"       (connected, commanding)
    "hold"                                    -> "holding"     (the control loop is held)
    "release"                                 -> "released"
    "close"                                   -> one JSON line of DriverStats, then exit
"""

from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np

from rt_avg.envs.ur5.rtde_driver import RTDEDriver

#: the command the task keeps making until the test says "hold"
QD = np.array([0.0, 0.1, -0.1, 0.0, 0.0, 0.0])


def say(text: str) -> None:
    """One line for the test; ur_rtde prints to stdout too, so ours start with "@"."""
    print("@" + text, flush=True)


def main(host: str) -> int:
    driver = RTDEDriver(host, controller_watchdog_s=0.5, watchdog_s=2.0)
    driver.connect()
    commanding = threading.Event()
    commanding.set()

    def task() -> None:  # a task stepping at 40 ms
        while True:
            if commanding.is_set():
                try:
                    driver.command_speed(QD, 1.4)
                except Exception:  # noqa: BLE001 - the stats say what happened
                    return
            time.sleep(0.04)

    threading.Thread(target=task, daemon=True).start()
    time.sleep(0.3)
    say("ready")
    for line in sys.stdin:
        word = line.strip()
        if word == "hold":
            commanding.clear()  # the old command stays the latest one
            driver._io_lock.acquire()  # the loop is blocked, as in a call into ur_rtde
            say("holding")
        elif word == "release":
            driver._io_lock.release()
            say("released")
        elif word == "close":
            fault = None
            try:
                driver.read_state()
            except Exception as exc:  # noqa: BLE001 - reported to the test
                fault = repr(exc)
            driver.close()
            say(json.dumps({"stats": driver.stats.as_dict(), "fault": fault}))
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

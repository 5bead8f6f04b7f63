"""Bringing a lost RTDE link back without blocking the driver's control loop.

What ur_rtde 1.6.5 does by itself (``src/rtde_receive_interface.cpp``,
``src/rtde_control_interface.cpp``, ``src/rtde_python_bindings.cpp``):

* ``RTDEReceiveInterface``: when its socket fails, its receive thread stops for good
  (``th_.signalStop()``); ``isConnected()`` turns False and the getters keep returning the
  last package.  Its ``reconnect()`` (the GIL released) replaces the robot state the getters
  read and then waits for the first package with no limit, so nothing may read the
  interface while it runs, and an attempt can hang.
* ``RTDEControlInterface``: its receive thread, and ``sendCommand`` when a send fails,
  call ``reconnect()`` by themselves, which restarts the control script.  The driver leaves
  that to ur_rtde and calls ``reconnect()`` itself only when the control link has stayed down
  for a whole ``reconnect_interval_s`` (ur_rtde's own attempt failed).
* The constructors hold the GIL for their whole connect (``py::init`` without
  ``gil_scoped_release``): making a new interface would stop every Python thread of the
  process, the control loop included, so the driver reconnects the interfaces it has.

In the background (the real-time driver) one attempt runs at a time in a worker thread, so
an attempt that hangs in ur_rtde delays only the next attempt, never the loop that brakes
the arm; inline (the stepped twin) attempts run in the caller.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class Reconnector:
    """Reconnects a lost receive or control interface, one attempt at a time."""

    def __init__(self, in_background: bool = True) -> None:
        self._in_background = in_background
        self._lock = threading.Lock()
        self._busy = False
        self._receive_busy = False
        self._next_at = -float("inf")
        self._control_down_since: float | None = None
        self._stale_since: float | None = None
        self._closed = False

    @property
    def receive_busy(self) -> bool:
        """Whether the receive interface is being reconnected: do not read it meanwhile."""
        with self._lock:
            return self._receive_busy

    def request(self, control: Any | None, receive: Any | None, stale: bool, now: float,
                interval_s: float) -> None:
        """Called every period while the link is lost: ``control``/``receive`` are the
        interfaces that are down (None: up; ``stale``: the receive interface is connected
        but silent).  Starts an attempt every ``interval_s``."""
        if control is None:
            self._control_down_since = None
        elif self._control_down_since is None:
            self._control_down_since = now
        # ur_rtde's own control reconnect gets a whole interval before we try ours
        control_due = (control is not None
                       and now - self._control_down_since >= interval_s)
        # a silent but connected session may resume by itself: give it an interval too
        if receive is None or not stale:
            self._stale_since = None
        elif self._stale_since is None:
            self._stale_since = now
        if stale and now - self._stale_since < interval_s:
            receive = None
        if receive is None and not control_due:
            return
        with self._lock:
            if self._busy or self._closed or now < self._next_at:
                return
            self._busy, self._next_at = True, now + interval_s
            self._receive_busy = receive is not None
        job = (control if control_due else None, receive, stale)
        if self._in_background:
            threading.Thread(target=self._attempt, args=job, name="ur5-reconnect",
                             daemon=True).start()
        else:
            self._attempt(*job)

    def close(self) -> None:
        """No more attempts."""
        with self._lock:
            self._closed = True

    def _attempt(self, control: Any | None, receive: Any | None, stale: bool) -> None:
        try:
            if receive is not None:
                try:
                    if stale:  # connected but silent: start the session afresh
                        with contextlib.suppress(RuntimeError):
                            receive.disconnect()
                    receive.reconnect()
                except Exception as exc:  # noqa: BLE001 - the next attempt will tell
                    log.info("UR5: receive reconnect failed: %s", exc)
                with self._lock:
                    self._receive_busy = False
            if control is not None:
                try:
                    control.reconnect()
                except Exception as exc:  # noqa: BLE001
                    log.info("UR5: control reconnect failed: %s", exc)
        finally:
            with self._lock:
                self._busy = self._receive_busy = False

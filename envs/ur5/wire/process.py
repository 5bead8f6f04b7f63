"""The wire twin in a process of its own, and a handle to drive its faults from a test.

ur_rtde's interface constructors hold Python's GIL while they wait for the controller, so
the twin must not share an interpreter with them.  :class:`TwinProcess` starts
``python -m rt_avg.envs.ur5.wire`` on a loopback address and talks to it over a control
socket (JSON requests, one connection per call so a blocking wait does not hold up a fault
injected from another thread)::

    with TwinProcess() as twin:                    # a free 127.x.y.z address
        ctrl = rtde_control.RTDEControlInterface(twin.host)
        mark = twin.mark()
        twin.silence("rtde")
        twin.wait_event("watchdog_fired", since=mark, timeout_s=5)
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from rt_avg.envs.ur5.wire.server import DASHBOARD_PORT, RTDE_PORT, SCRIPT_PORT, WireTwin

#: the twin methods the control channel serves
OPERATIONS = frozenset({
    "silence", "answer", "delay", "close_connections", "restart_program", "stop_program",
    "trigger_protective_stop", "snapshot", "mark", "events_since", "wait_event", "last_script",
})


def free_loopback_host(ports: tuple[int, ...] = (RTDE_PORT, DASHBOARD_PORT, SCRIPT_PORT),
                       tries: int = 50) -> str:
    """A random address in 127.0.0.0/8 (never 127.0.0.1) where ``ports`` are free now."""
    rng = random.SystemRandom()
    for _ in range(tries):
        host = f"127.{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if all(_bindable(host, p) for p in ports):
            return host
    raise OSError(f"no free loopback address for ports {ports} after {tries} tries")


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def serve_control(twin: WireTwin, path: str) -> Listener:
    """Serve :data:`OPERATIONS` of ``twin`` on a Unix socket at ``path`` (a thread per
    connection); close the returned listener to stop."""
    listener = Listener(address=path, family="AF_UNIX")

    def handle(conn: Connection) -> None:
        with conn:
            with contextlib.suppress(EOFError, OSError):
                while True:
                    request = json.loads(conn.recv_bytes())
                    op, kwargs = request["op"], request.get("kwargs", {})
                    try:
                        if op not in OPERATIONS:
                            raise ValueError(f"unknown twin operation {op!r}")
                        result: dict[str, Any] = {"result": getattr(twin, op)(**kwargs)}
                    except Exception as exc:  # noqa: BLE001 - sent back to the caller
                        result = {"error": type(exc).__name__, "message": str(exc)}
                    conn.send_bytes(json.dumps(result).encode())

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn = listener.accept()
                threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, name="ur5-wire-control", daemon=True).start()
    return listener


class TwinProcess:
    """A wire twin in a child process, with the fault and event methods of
    :class:`~rt_avg.envs.ur5.wire.server.WireTwin` over its control socket.

    ``args``: extra command-line options of ``python -m rt_avg.envs.ur5.wire`` (e.g.
    ``["--start-delay", "0.5"]``).  ``exit_with_parent``: the twin stops when this process
    dies; False lets it outlive this process, as a controller outlives the program driving
    it (then stop it with :meth:`close` or SIGTERM)."""

    def __init__(self, host: str | None = None, args: list[str] | None = None,
                 start_timeout_s: float = 30.0, exit_with_parent: bool = True) -> None:
        self.host = host or free_loopback_host()
        self._dir = tempfile.mkdtemp(prefix="rt-avg-wire-")
        self.control_path = os.path.join(self._dir, "control.sock")
        self.log_path = os.path.join(self._dir, "twin.log")
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in close()
        cmd = [sys.executable, "-m", "rt_avg.envs.ur5.wire", "--host", self.host,
               "--control", self.control_path, *(args or [])]
        if exit_with_parent:
            cmd.append("--exit-on-stdin-eof")
        # the twin holds the read end of a pipe only this process writes to: if this process
        # dies (a crash in ur_rtde, say), the pipe closes and the twin stops by itself
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if exit_with_parent else None,
                                     stdout=subprocess.PIPE, stderr=self._log, text=True,
                                     start_new_session=not exit_with_parent)
        line = self._first_line(start_timeout_s)
        if line != self.host:
            self.close()
            raise RuntimeError(f"the wire twin did not start (first line {line!r}): "
                               f"{self.log()}")

    def _first_line(self, timeout_s: float) -> str:
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        reader.join(timeout_s)
        return box[0].strip() if box else ""

    def log(self) -> str:
        """What the twin wrote to stderr so far."""
        with open(self.log_path) as f:
            return f.read()

    def call(self, op: str, **kwargs: Any) -> Any:
        """Run ``op`` on the twin and return its result (errors are raised here)."""
        with Client(self.control_path, family="AF_UNIX") as conn:
            conn.send_bytes(json.dumps({"op": op, "kwargs": kwargs}).encode())
            reply = json.loads(conn.recv_bytes())
        if "error" in reply:
            kind = {"TimeoutError": TimeoutError, "ValueError": ValueError}.get(reply["error"],
                                                                              RuntimeError)
            raise kind(reply["message"])
        return reply["result"]

    # The WireTwin methods, by name (see WireTwin for what each does).
    def silence(self, port: str | None = None) -> None:
        self.call("silence", port=port)

    def answer(self, port: str | None = None) -> None:
        self.call("answer", port=port)

    def delay(self, ms: float, port: str | None = None) -> None:
        self.call("delay", ms=ms, port=port)

    def close_connections(self, port: str | None = None) -> int:
        return int(self.call("close_connections", port=port))

    def restart_program(self) -> None:
        self.call("restart_program")

    def stop_program(self, reason: str = "operator") -> None:
        self.call("stop_program", reason=reason)

    def trigger_protective_stop(self) -> None:
        self.call("trigger_protective_stop")

    def snapshot(self) -> dict[str, Any]:
        return dict(self.call("snapshot"))

    def last_script(self) -> str:
        return str(self.call("last_script"))

    def mark(self) -> int:
        return int(self.call("mark"))

    def events_since(self, since: int = 0, kind: str | None = None) -> list[dict[str, Any]]:
        return list(self.call("events_since", since=since, kind=kind))

    def wait_event(self, kind: str, since: int = 0, timeout_s: float = 10.0,
                   **data: Any) -> dict[str, Any]:
        return dict(self.call("wait_event", kind=kind, since=since, timeout_s=timeout_s, **data))

    def close(self) -> None:
        """Stop the twin (SIGTERM, then SIGKILL after 10 s) and remove its temp folder."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()  # the twin stops on its own when it sees the end
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10.0)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> TwinProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""A UR5 twin in its own process: the ur_rtde stand-in served over a Unix socket.

On a real cell the controller is a separate box: when the process driving the arm dies,
the controller lives on and its watchdog decides what the arm does.  :class:`TwinServer`
gives the twin the same independence.  It holds a :class:`~rt_avg.envs.ur5.standin.TwinController`
on the wall clock and serves its three interfaces; :class:`RemoteController` is the client
side, with the same three class attributes as ``TwinController``, so the hardware driver runs
unchanged on them (``URReacherEnv(backend="hardware", host=..., twin_server=path)``)::

    python -m rt_avg.envs.ur5.twin_server            # prints the socket path, serves until Ctrl-C

Each interface instance is one connection, as each ur_rtde interface is one RTDE
connection.  A connection that closes (the client process died) ends that session on the
controller and nothing else: the control program keeps the last command until its watchdog
stops it, exactly as on the controller.  Messages are JSON (method name, arguments, result
or error); only the public methods of the stand-in classes can be called.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from rt_avg.envs.ur5.clock import MonotonicClock
from rt_avg.envs.serve import serve_until_stopped
from rt_avg.envs.ur5.standin import AsyncOperationStatus, TwinController

_KINDS = ("control", "receive", "dashboard")
_LOCAL = frozenset({"initPeriod", "waitPeriod"})  # pacing runs in the client, like ur_rtde's


class TwinServer:
    """Serves ``controller`` (default: a twin on the wall clock at ``host``) on a Unix
    socket at ``path`` (default: in a fresh private temp folder) until :meth:`close`."""

    def __init__(self, controller: TwinController | None = None, path: str | None = None,
                 host: str = "127.0.0.1") -> None:
        self.controller = controller or TwinController(host=host, clock=MonotonicClock())
        self._own_dir: str | None = None
        if path is None:
            self._own_dir = tempfile.mkdtemp(prefix="rt-avg-ur5-")  # mode 0700: ours only
            path = os.path.join(self._own_dir, "ur5.sock")
        self._path = path
        self._listener = Listener(address=path, family="AF_UNIX")
        self._conns: set[Connection] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="ur5-twin-server", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """The socket path to pass as ``twin_server``."""
        return self._path

    def close(self) -> None:
        """Stop serving; open sessions end as if their cables were pulled.  Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conns = list(self._conns)
        with contextlib.suppress(OSError):
            self._listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    def __enter__(self) -> TwinServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="ur5-twin-session",
                             daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        session: Any = None
        try:
            while True:
                msg = json.loads(conn.recv_bytes())
                try:
                    if session is None:
                        session = self._open(msg)
                        result = None
                    else:
                        result = self._call(session, msg)
                    reply: dict[str, Any] = {"ok": _encode(result)}
                    data = json.dumps(reply)
                except Exception as exc:  # noqa: BLE001 - sent back, raised in the client
                    data = json.dumps({"error": type(exc).__name__, "message": str(exc)})
                conn.send_bytes(data.encode())
        except (EOFError, OSError, ValueError):
            pass  # the client went away (or sent garbage): its session ends
        finally:
            if session is not None:
                session._alive = False  # the RTDE connection is gone; the program lives on
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _open(self, msg: dict[str, Any]) -> Any:
        kind = msg.get("open")
        if kind not in _KINDS:
            raise ValueError(f"first message must open one of {_KINDS}, got {kind!r}")
        cls = {"control": self.controller.RTDEControlInterface,
               "receive": self.controller.RTDEReceiveInterface,
               "dashboard": self.controller.DashboardClient}[kind]
        return cls(*msg.get("args", []))

    @staticmethod
    def _call(session: Any, msg: dict[str, Any]) -> Any:
        name = msg.get("call")
        if not isinstance(name, str) or name.startswith("_") or name in _LOCAL:
            raise AttributeError(f"no remote method {name!r}")
        method = getattr(session, name)  # AttributeError for what ur_rtde does not have
        return method(*msg.get("args", []))


def _encode(result: Any) -> Any:
    """A call's result as JSON: ur_rtde's AsyncOperationStatus travels as its word."""
    if isinstance(result, AsyncOperationStatus):
        return {"async_operation_status": result.value()}
    return result


def _decode(result: Any) -> Any:
    if isinstance(result, dict) and "async_operation_status" in result:
        return AsyncOperationStatus(int(result["async_operation_status"]))
    return result


class _Proxy:
    """One ur_rtde interface whose calls go to a :class:`TwinServer`."""

    _address = ""
    _kind = ""

    def __init__(self, hostname: str, *args: Any) -> None:
        self._rpc_lock = threading.Lock()
        self._period_s = 1.0 / args[0] if args and float(args[0]) > 0 else 0.008
        try:
            self._conn = Client(self._address, family="AF_UNIX")
        except OSError as exc:
            raise RuntimeError(f"Error: Could not connect to the UR5 twin at {self._address}: "
                               f"{exc}") from exc
        self._rpc({"open": self._kind, "args": [hostname, *args]})

    def _rpc(self, msg: dict[str, Any]) -> Any:
        with self._rpc_lock:
            try:
                self._conn.send_bytes(json.dumps(msg).encode())
                reply = json.loads(self._conn.recv_bytes())
            except (EOFError, OSError) as exc:
                raise RuntimeError(f"connection to the UR5 twin at {self._address} lost: "
                                   f"{exc!r}") from exc
        if "error" in reply:
            raise (ValueError if reply["error"] == "ValueError" else RuntimeError)(
                f"{reply['error']}: {reply['message']}")
        return _decode(reply["ok"])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args: self._rpc({"call": name, "args": list(args)})

    # ur_rtde paces with a steady clock on the client: no round trip for these
    def initPeriod(self) -> datetime.timedelta:  # noqa: N802
        return datetime.timedelta(seconds=time.monotonic())

    def waitPeriod(self, arg0: datetime.timedelta) -> None:  # noqa: N802
        remaining = arg0.total_seconds() + self._period_s - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)


class RemoteController:
    """The client side: ``RTDEControlInterface``, ``RTDEReceiveInterface`` and
    ``DashboardClient`` classes that talk to the :class:`TwinServer` at ``address``."""

    def __init__(self, address: str) -> None:
        self.address = address
        attrs = {"_address": address}
        self.RTDEControlInterface = type("RTDEControlInterface", (_Proxy,), {**attrs, "_kind": "control"})
        self.RTDEReceiveInterface = type("RTDEReceiveInterface", (_Proxy,), {**attrs, "_kind": "receive"})
        self.DashboardClient = type("DashboardClient", (_Proxy,), {**attrs, "_kind": "dashboard"})


def main(argv: list[str] | None = None) -> int:
    """Serve a wall-clock UR5 twin until SIGINT/SIGTERM; the first stdout line is the socket."""
    parser = argparse.ArgumentParser(
        prog="python -m rt_avg.envs.ur5.twin_server",
        description="UR5 twin serving the ur_rtde stand-in on a Unix socket; point the task at "
                    "it with backend=hardware, host=HOST, twin_server=SOCKET.")
    parser.add_argument("--socket", default=None, help="socket path (default: a fresh temp folder)")
    parser.add_argument("--host", default="127.0.0.1", help="the address clients must use")
    args = parser.parse_args(argv)
    try:
        server = TwinServer(path=args.socket, host=args.host)
    except OSError as exc:
        print(f"ur5 twin server: {exc}", file=sys.stderr)
        return 2
    return serve_until_stopped(
        server.address, f"ur5 twin at host {args.host} on {server.address}; Ctrl-C to stop",
        server.close)


if __name__ == "__main__":
    raise SystemExit(main())

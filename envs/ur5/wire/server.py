"""The wire twin: a UR controller on a loopback address, serving RTDE (30004), the dashboard
(29999) and the script port(s) (30003) on the wall clock, with faults a test can inject.

Run it in a process of its own when ur_rtde talks to it from Python: the constructors of
``RTDEControlInterface`` and ``RTDEReceiveInterface`` hold the GIL while they wait for the
controller, so a twin in the same interpreter would never answer (see :mod:`.process`).
In-process use is for tests that speak the protocol themselves::

    twin = WireTwin(WireTwinConfig(host="127.0.0.23"))
    twin.start()
    ...
    twin.close()
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rt_avg.envs.ur5.wire.controller import Controller, ControllerConfig
from rt_avg.envs.ur5.wire.dashboard import DashboardSession
from rt_avg.envs.ur5.wire.events import Event, EventLog
from rt_avg.envs.ur5.wire.links import PORT_KINDS, PortFaults
from rt_avg.envs.ur5.wire.rtde_session import RtdeSession
from rt_avg.envs.ur5.wire.script_port import ScriptSession
from rt_avg.envs.ur5.workspace import Workspace

RTDE_PORT = 30004
DASHBOARD_PORT = 29999
SCRIPT_PORT = 30003


@dataclass(frozen=True)
class WireTwinConfig:
    """``host``: the loopback address to listen on (any of 127.0.0.0/8).  The ports are the
    controller's: ur_rtde connects to fixed ports, so the address tells twins apart."""

    host: str = "127.0.0.1"
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    rtde_port: int = RTDE_PORT
    dashboard_port: int = DASHBOARD_PORT
    script_ports: tuple[int, ...] = (SCRIPT_PORT,)
    trace_inputs: bool = False  # record an ``input`` event for every input data package


class WireTwin:
    """The servers and the controller's clock in a background thread; every public method
    is safe to call from any thread."""

    def __init__(self, config: WireTwinConfig | None = None, workspace: Workspace | None = None,
                 initial_q: Any = None) -> None:
        self.config = config or WireTwinConfig()
        self.events = EventLog()
        self.controller = Controller(self.config.controller, workspace=workspace,
                                     initial_q=initial_q, events=self.events)
        self.faults: dict[str, PortFaults] = {k: PortFaults() for k in PORT_KINDS}
        self._owners: dict[str, RtdeSession] = {}
        self._rtde_sessions: set[RtdeSession] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._origin = 0.0  # loop time of controller time 0

    @property
    def host(self) -> str:
        return self.config.host

    # ------------------------------------------------------------- lifecycle
    def start(self, timeout_s: float = 10.0) -> WireTwin:
        """Listen on every port and start the clock; raises ``OSError`` if a port is taken."""
        self._thread = threading.Thread(target=self._run, name=f"ur5-wire-twin-{self.host}",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError(f"the wire twin at {self.host} did not start within {timeout_s} s")
        if self._error is not None:
            raise self._error
        return self

    def close(self) -> None:
        """Close every connection and listener and stop the clock."""
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10.0)
        self._loop = None

    def __enter__(self) -> WireTwin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop = asyncio.Event()
        cfg = self.config
        servers = [await loop.create_server(lambda: RtdeSession(self), cfg.host, cfg.rtde_port,
                                            reuse_address=True),
                   await loop.create_server(lambda: DashboardSession(self), cfg.host,
                                            cfg.dashboard_port, reuse_address=True)]
        for port in cfg.script_ports:
            servers.append(await loop.create_server(lambda p=port: ScriptSession(self, p),
                                                    cfg.host, port, reuse_address=True))
        self._ready.set()
        clock = asyncio.create_task(self._clock())
        await self._stop.wait()
        clock.cancel()
        for server in servers:
            server.close()
        for faults in self.faults.values():
            for link in list(faults.links):
                link.transport.abort()  # type: ignore[attr-defined]
        for server in servers:
            await server.wait_closed()

    async def _clock(self) -> None:
        """Run controller periods on the wall clock; after a stall, run the missed periods
        and send one (the latest) package, as the controller skips packages when busy."""
        ctrl = self.controller
        period = ctrl.config.period_s
        loop = asyncio.get_running_loop()
        origin = self._origin = loop.time()
        while True:
            due = int((loop.time() - origin) / period)
            behind = due - ctrl.twin.steps
            sessions = list(self._rtde_sessions)
            for _ in range(behind):
                ctrl.step()
                for session in sessions:
                    session.tick()
            for session in sessions:
                session.flush()
            await asyncio.sleep(max(0.0, origin + (ctrl.twin.steps + 1) * period - loop.time()))

    def controller_now(self) -> float:
        """Controller time by the wall clock (ahead of the stepped time after a stall)."""
        loop = self._loop
        return self.controller.t_s if loop is None else loop.time() - self._origin

    # ------------------------------------------------------ RTDE connections
    def add_session(self, session: RtdeSession) -> None:
        self._rtde_sessions.add(session)

    def input_owner(self, name: str) -> RtdeSession | None:
        return self._owners.get(name)

    def claim_inputs(self, session: RtdeSession, names: list[str]) -> None:
        for name in names:
            self._owners[name] = session

    def release_inputs(self, session: RtdeSession) -> None:
        for name in [n for n, s in self._owners.items() if s is session]:
            del self._owners[name]
        self._rtde_sessions.discard(session)  # the connection is gone

    # ---------------------------------------------------------------- faults
    def _ports(self, port: str | None) -> list[str]:
        if port is None:
            return list(PORT_KINDS)
        if port not in PORT_KINDS:
            raise ValueError(f"port must be one of {PORT_KINDS} or None (all), got {port!r}")
        return [port]

    def _in_loop(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the twin's thread and return its result."""
        loop = self._loop
        if loop is None:
            return fn()
        if threading.current_thread() is self._thread:
            return fn()

        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(10.0)

    def silence(self, port: str | None = None) -> None:
        """Stop answering on ``port`` (``rtde``, ``dashboard``, ``script``; None: all): read
        nothing, send no data packages, hold replies (see :mod:`.links`); connections stay
        open and what clients sent is processed after :meth:`answer`."""
        def apply() -> None:
            for kind in self._ports(port):
                self.faults[kind].set_silent(True)
            self.controller.record("fault", what="silence", port=port)
        self._in_loop(apply)

    def answer(self, port: str | None = None) -> None:
        """Undo :meth:`silence`."""
        def apply() -> None:
            for kind in self._ports(port):
                self.faults[kind].set_silent(False)
            self.controller.record("fault", what="answer", port=port)
        self._in_loop(apply)

    def delay(self, ms: float, port: str | None = None) -> None:
        """Every message out of ``port`` (None: all) leaves ``ms`` milliseconds late; 0 undoes."""
        if not 0.0 <= ms <= 60_000.0:
            raise ValueError(f"delay ms must be in [0, 60000], got {ms}")

        def apply() -> None:
            for kind in self._ports(port):
                self.faults[kind].delay_s = ms / 1000.0
            self.controller.record("fault", what="delay", port=port, ms=ms)
        self._in_loop(apply)

    def close_connections(self, port: str | None = None) -> int:
        """Close every open connection on ``port`` (None: all); returns how many."""
        def apply() -> int:
            links = [link for kind in self._ports(port) for link in self.faults[kind].links]
            for link in links:
                link.close()
            self.controller.record("fault", what="close", port=port, connections=len(links))
            return len(links)
        return int(self._in_loop(apply))

    def restart_program(self) -> None:
        """Stop the control program and start it again after the start delay."""
        self._in_loop(self.controller.restart_program)

    def stop_program(self, reason: str = "operator") -> None:
        self._in_loop(lambda: self.controller.stop_program(reason))

    def trigger_protective_stop(self) -> None:
        self._in_loop(self.controller.trigger_protective_stop)

    # ------------------------------------------------------------ observing
    def snapshot(self) -> dict[str, Any]:
        return self.controller.snapshot()

    def last_script(self) -> str:
        """The latest script received on a script port (what ur_rtde uploaded)."""
        return self.controller.last_script.decode(errors="replace")

    def mark(self) -> int:
        return self.events.mark()

    def events_since(self, since: int = 0, kind: str | None = None) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.events.since(since, kind)]

    def wait_event(self, kind: str, since: int = 0, timeout_s: float = 10.0,
                   **data: Any) -> dict[str, Any]:
        """The first ``kind`` event after ``since`` whose data contain ``data``."""
        def match(e: Event) -> bool:
            return all(e.data.get(k) == v for k, v in data.items())
        return self.events.wait(kind, since, timeout_s, match).as_dict()


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` (for states that no event marks); TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout_s} s")
        time.sleep(0.005)

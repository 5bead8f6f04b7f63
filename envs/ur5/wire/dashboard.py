"""The dashboard server (port 29999): one text line in, one text line out.

Reply texts are the controller's, from Universal Robots' "Dashboard Server" article (CB3
3.x and e-Series 5.x) and the response patterns of UR's ``Universal_Robots_Client_Library``
(``src/ur/dashboard_client_implementation_g5.cpp``); ur_rtde 1.6.5's ``DashboardClient``
(``src/dashboard_client.cpp``) reads the greeting line on connect, wraps a refused unlock as
``"Unlock protective stop failure: " + reply`` and checks ``"Stopped"``, ``"Starting
program"`` and ``"Loading program:"``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rt_avg.envs.ur5.safety import SafetyMode
from rt_avg.envs.ur5.wire.links import Link

if TYPE_CHECKING:
    from rt_avg.envs.ur5.wire.controller import Controller
    from rt_avg.envs.ur5.wire.server import WireTwin

GREETING = "Connected: Universal Robots Dashboard Server"
BUILD_DATE = "(Mar 23 2022)"  # the date PolyScope prints after its version


def _safety_name(ctrl: Controller) -> str:
    mode = ctrl.twin.safety_mode
    return mode.name if mode != SafetyMode.NONE else "NORMAL"


def reply(ctrl: Controller, line: str) -> tuple[str, bool]:
    """The reply to one command line, and whether the server closes the connection."""
    text = line.strip()
    cmd = " ".join(text.split()).lower()
    major, minor = ctrl.config.version[:2]
    e_series_56 = (major, minor) >= (5, 6)
    if cmd == "robotmode":
        return f"Robotmode: {ctrl.robot_mode}", False
    if cmd == "safetymode":
        return f"Safetymode: {_safety_name(ctrl)}", False
    if cmd == "safetystatus" and (major, minor) >= (5, 4):
        return f"Safetystatus: {_safety_name(ctrl)}", False
    if cmd == "programstate":
        state = "PLAYING" if ctrl.program_running else "STOPPED"
        return f"{state} {ctrl.loaded_program or ctrl.program_name}", False
    if cmd == "running":
        return f"Program running: {'true' if ctrl.program_running else 'false'}", False
    if cmd == "power on":
        ctrl.power("IDLE")
        return "Powering on", False
    if cmd == "power off":
        ctrl.power("POWER_OFF")
        return "Powering off", False
    if cmd == "brake release":
        ctrl.power("RUNNING")
        return "Brake releasing", False
    if cmd == "unlock protective stop":
        return ctrl.unlock_protective_stop(), False
    if cmd == "close popup":
        return "closing popup", False
    if cmd == "close safety popup":
        return "closing safety popup", False
    if cmd.startswith("popup "):
        return "showing popup", False
    if cmd == "is in remote control" and e_series_56:
        return "true", False
    if cmd == "stop":
        ctrl.stop_program("dashboard")
        return "Stopped", False
    if cmd == "play":
        return ("Starting program" if ctrl.play() else "Failed to execute: play"), False
    if cmd == "pause":
        return "Failed to execute: pause", False
    if cmd.startswith("load "):
        name = text.split(None, 1)[1]
        if not name.endswith(".urp"):
            return f"File not found: {name}", False
        ctrl.loaded_program = name
        return f"Loading program: {name}", False
    if cmd == "get loaded program":
        return (f"Loaded program: {ctrl.loaded_program}" if ctrl.loaded_program
                else "No program loaded"), False
    if cmd == "polyscopeversion":
        return f"URSoftware {ctrl.config.polyscope_version} {BUILD_DATE}", False
    if cmd == "version" and major >= 5:
        return ctrl.config.polyscope_version, False
    if cmd == "get robot model" and (major, minor) >= (3, 12):
        return ctrl.config.model, False
    if cmd == "get serial number" and (major, minor) >= (3, 12):
        return ctrl.config.serial_number, False
    if cmd == "isprogramsaved":
        return f"true {ctrl.loaded_program or ctrl.program_name}", False
    if cmd.startswith("addtolog "):
        return "Added log message", False
    if cmd == "restart safety":
        return "Restarting safety", False
    if cmd == "shutdown":
        ctrl.power("POWER_OFF")
        return "Shutting down", False
    if cmd == "quit":
        return "Disconnected", True
    return f"could not understand: '{text}'", False


class DashboardSession(asyncio.Protocol):
    """One dashboard connection: the greeting, then a reply per line."""

    def __init__(self, twin: WireTwin) -> None:
        self.twin = twin
        self.link: Link | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.link = Link("dashboard", transport, self.twin.faults["dashboard"])
        self.twin.controller.record("dashboard_connected", peer=self.link.peer)
        self.link.send((GREETING + "\n").encode())

    def connection_lost(self, exc: Exception | None) -> None:
        assert self.link is not None
        self.link.forget()
        self.twin.controller.record("dashboard_closed", peer=self.link.peer)

    def data_received(self, data: bytes) -> None:
        assert self.link is not None
        self.buffer += data
        while b"\n" in self.buffer:
            raw, self.buffer = self.buffer.split(b"\n", 1)
            line = raw.decode(errors="replace")
            answer, close = reply(self.twin.controller, line)
            self.twin.controller.record("dashboard_command", command=line.strip(), reply=answer)
            self.link.send((answer + "\n").encode())
            if close:
                self.link.close()
                return

"""A script port (30003 by default; 30001/30002 take scripts too): URScript in, nothing out.

ur_rtde 1.6.5 (``ScriptClient``, default port 30003) keeps one connection and writes the
whole control script in one go: ``def rtde_control():`` ... ``end``.  The controller takes a
program once its closing top-level ``end`` has arrived; a line outside a ``def``/``sec``
block is a one-line program of its own.  The real ports also stream robot state; ur_rtde's
script client never reads it, so the twin sends nothing.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rt_avg.envs.ur5.wire.links import Link

if TYPE_CHECKING:
    from rt_avg.envs.ur5.wire.server import WireTwin


def split_programs(buffer: bytearray) -> list[bytes]:
    """Pop every complete program from ``buffer``."""
    programs: list[bytes] = []
    while True:
        start = 0
        while start < len(buffer) and buffer[start:start + 1] in (b"\n", b"\r", b" ", b"\t"):
            start += 1
        del buffer[:start]
        if not buffer:
            return programs
        head = bytes(buffer[:4])
        if head.startswith((b"def ", b"sec ")):
            end = _block_end(buffer)
            if end < 0:
                return programs
        else:
            end = buffer.find(b"\n")
            if end < 0:
                return programs
            end += 1
        programs.append(bytes(buffer[:end]))
        del buffer[:end]


def _block_end(buffer: bytearray) -> int:
    """Index just past the line ``end`` that closes the top-level block, or -1."""
    pos = 0
    while True:
        nl = buffer.find(b"\n", pos)
        if nl < 0:
            return -1
        line = bytes(buffer[pos:nl]).rstrip(b"\r")
        if pos > 0 and line.rstrip() == b"end":
            return nl + 1
        pos = nl + 1


class ScriptSession(asyncio.Protocol):
    def __init__(self, twin: WireTwin, port: int) -> None:
        self.twin = twin
        self.port = port
        self.link: Link | None = None
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.link = Link("script", transport, self.twin.faults["script"])
        self.twin.controller.record("script_connected", peer=self.link.peer, port=self.port)

    def connection_lost(self, exc: Exception | None) -> None:
        assert self.link is not None
        self.link.forget()
        self.twin.controller.record("script_closed", peer=self.link.peer, port=self.port)

    def data_received(self, data: bytes) -> None:
        assert self.link is not None
        self.buffer.extend(data)
        for program in split_programs(self.buffer):
            self.twin.controller.receive_script(program)

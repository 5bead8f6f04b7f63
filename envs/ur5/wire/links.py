"""Connections of the twin's ports and the faults a test can put on them.

Each port kind (``rtde``, ``dashboard``, ``script``) has a :class:`PortFaults`: ``silent``
(nothing is sent and what arrives is dropped, as on a pulled cable; a peer that closes is
still noticed) and ``delay_s`` (every message out of that port leaves this much later, in
order).  :class:`Link` is one accepted connection writing through those faults.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

PORT_KINDS = ("rtde", "dashboard", "script")


@dataclass
class PortFaults:
    silent: bool = False
    delay_s: float = 0.0
    links: set[Link] = field(default_factory=set)


class Link:
    """One connection: a transport plus the faults of its port."""

    def __init__(self, kind: str, transport: asyncio.BaseTransport, faults: PortFaults) -> None:
        self.kind = kind
        self.transport = transport
        self.faults = faults
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self._loop = asyncio.get_event_loop()
        self._release_at = 0.0  # keeps delayed messages in order when the delay changes
        faults.links.add(self)

    @property
    def silent(self) -> bool:
        return self.faults.silent

    def send(self, data: bytes) -> None:
        if self.faults.silent or self.transport.is_closing():
            return
        delay = self.faults.delay_s
        if delay <= 0.0 and self._release_at <= self._loop.time():
            self._write(data)
            return
        self._release_at = max(self._release_at, self._loop.time() + delay)
        self._loop.call_at(self._release_at, self._write, data)

    def _write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.transport.close()

    def forget(self) -> None:
        self.faults.links.discard(self)

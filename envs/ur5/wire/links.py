"""Connections of the twin's ports and the faults a test can put on them.

Each port kind (``rtde``, ``dashboard``, ``script``) has a :class:`PortFaults`:

* ``silent``: the controller stops answering on that port.  It reads nothing (what clients
  send waits in the socket buffers, as TCP keeps it, and is processed when the port answers
  again), sends no data packages, and holds its other messages (greetings, replies) until
  then.  New connections are accepted by the operating system but get the same silence.
  With nothing read, no input reaches the registers: an armed RTDE watchdog fires.
* ``delay_s``: every message out of that port leaves this much later, in order.

:class:`Link` is one accepted connection writing through those faults.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

PORT_KINDS = ("rtde", "dashboard", "script")


@dataclass
class PortFaults:
    silent: bool = False
    delay_s: float = 0.0
    links: dict[Link, None] = field(default_factory=dict)  # oldest first

    def set_silent(self, silent: bool) -> None:
        self.silent = silent
        for link in list(self.links):  # the oldest first: a closed old connection frees its
            link.apply_silence()        # inputs before a new one asks for them


class Link:
    """One connection: a transport plus the faults of its port."""

    def __init__(self, kind: str, transport: asyncio.Transport, faults: PortFaults) -> None:
        self.kind = kind
        self.transport = transport
        self.faults = faults
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self._loop = asyncio.get_running_loop()
        self._release_at = 0.0  # keeps delayed messages in order when the delay changes
        self._held: list[bytes] = []
        self._paused = False
        faults.links[self] = None
        self.apply_silence()

    @property
    def silent(self) -> bool:
        return self.faults.silent

    def apply_silence(self) -> None:
        """Pause or resume reading, and flush held messages, to match the port's silence."""
        if self.transport.is_closing():
            return
        if self.faults.silent and not self._paused:
            self.transport.pause_reading()
            self._paused = True
        elif not self.faults.silent and self._paused:
            self._paused = False
            held, self._held = self._held, []
            for data in held:
                self.send(data)
            self.transport.resume_reading()

    def send(self, data: bytes, droppable: bool = False) -> None:
        """Send ``data``; while the port is silent it is held (or dropped if ``droppable``:
        data packages, which the controller skips when it cannot send them)."""
        if self.transport.is_closing():
            return
        if self.faults.silent:
            if not droppable:
                self._held.append(data)
            return
        delay = self.faults.delay_s
        if delay <= 0.0 and self._release_at <= self._loop.time():
            self.transport.write(data)
            return
        self._release_at = max(self._release_at, self._loop.time() + delay)
        self._loop.call_at(self._release_at, self._write_later, data)

    def _write_later(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        self.transport.close()

    def forget(self) -> None:
        self.faults.links.pop(self, None)

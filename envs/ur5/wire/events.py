"""What happened on the twin, in order, for tests that wait on events instead of timers.

Every event has a sequence number, the controller time (s since the twin started), the wall
time (``time.monotonic``), a kind and a small dict of data.  Kinds the controller records:

``rtde_connected`` / ``rtde_closed`` / ``dashboard_connected`` / ``dashboard_closed`` /
``script_connected`` / ``script_closed`` (data: ``peer``), ``rtde_started`` / ``rtde_paused``,
``input_recipe`` (``recipe_id``, ``names``, ``types``), ``output_recipe``,
``dashboard_command`` (``command``, ``reply``), ``script_received`` (``bytes``, ``script``),
``program_started``, ``program_stopped`` (``reason``: ``watchdog``, ``protective_stop``,
``stop_script``, ``dashboard``, ``replaced``, ``restart``, ``power_off``, ``operator``),
``watchdog_armed`` (``min_frequency``), ``watchdog_fired``, ``command_received`` (``cmd``:
the control-script command id, once per new command), ``command_done`` (``cmd``),
``protective_stop``, ``unlocked``, ``fault`` (``what``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    seq: int
    t_s: float
    wall_s: float
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "t_s": self.t_s, "wall_s": self.wall_s, "kind": self.kind,
                "data": self.data}


class EventLog:
    """A thread-safe append-only log with blocking waits; keeps the last ``keep`` events."""

    def __init__(self, keep: int = 100_000) -> None:
        self._events: list[Event] = []
        self._keep = keep
        self._seq = 0
        self._cond = threading.Condition()

    def record(self, kind: str, t_s: float, **data: Any) -> Event:
        with self._cond:
            self._seq += 1
            event = Event(self._seq, t_s, time.monotonic(), kind, data)
            self._events.append(event)
            if len(self._events) > self._keep:
                del self._events[: len(self._events) - self._keep]
            self._cond.notify_all()
            return event

    def mark(self) -> int:
        """The sequence number of the latest event: wait for what happens after it."""
        with self._cond:
            return self._seq

    def since(self, seq: int = 0, kind: str | None = None) -> list[Event]:
        """Events after ``seq`` (of ``kind`` if given)."""
        with self._cond:
            return [e for e in self._events if e.seq > seq and (kind is None or e.kind == kind)]

    def wait(self, kind: str, since: int = 0, timeout_s: float = 10.0,
             match: Callable[[Event], bool] | None = None) -> Event:
        """The first event of ``kind`` after ``since`` (and accepted by ``match``); blocks up to
        ``timeout_s`` of wall time and raises ``TimeoutError`` naming what it waited for."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for e in self._events:
                    if e.seq > since and e.kind == kind and (match is None or match(e)):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {kind!r} event after #{since} within {timeout_s} s")
                self._cond.wait(left)

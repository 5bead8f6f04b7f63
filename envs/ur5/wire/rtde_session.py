"""One RTDE client connection (port 30004): setup, start/pause, data in and out.

The controller's rules this session follows (RTDE guide; ur_rtde 1.6.5 ``src/rtde.cpp``):

* recipe ids count from 1 per connection, outputs and inputs separately (ur_rtde sends its
  command packages with input recipe ids 1, 2, ... in the order it set them up);
* an output name the controller does not have is answered ``NOT_FOUND``, an input another
  connection already controls ``IN_USE``; such a recipe gets id 0 and is not kept (the id of
  a refused recipe is the twin's guess: clients stop at the type list);
* after ``start`` the controller sends each output recipe every ``round(rate / frequency)``
  periods (``rate`` 125 Hz on CB3, 500 Hz on e-Series; a higher frequency gets the rate, a
  guess); when it falls behind it skips packages and sends the latest;
* a data package from the client writes its recipe's inputs at once.
"""

from __future__ import annotations

import asyncio
import struct
from typing import TYPE_CHECKING

from rt_avg.envs.ur5.wire import rtde_protocol as rp
from rt_avg.envs.ur5.wire.links import Link

if TYPE_CHECKING:
    from rt_avg.envs.ur5.wire.server import WireTwin


class _Output:
    """An output recipe sent every ``every`` periods, on a grid anchored at ``start``."""

    def __init__(self, recipe: rp.Recipe, every: int) -> None:
        self.recipe = recipe
        self.every = every
        self.anchor = 0
        self.next_step = 0

    def restart(self, step: int) -> None:
        self.anchor = self.next_step = step

    def due(self, step: int) -> bool:
        """Whether a package is due at controller ``step``; skipped ones stay skipped."""
        if step < self.next_step:
            return False
        self.next_step = self.anchor + ((step - self.anchor) // self.every + 1) * self.every
        return True


class RtdeSession(asyncio.Protocol):
    def __init__(self, twin: WireTwin) -> None:
        self.twin = twin
        self.ctrl = twin.controller
        self.link: Link | None = None
        self.buffer = bytearray()
        self.outputs: dict[int, _Output] = {}
        self.inputs: dict[int, rp.Recipe] = {}
        self.pending: dict[int, bytes] = {}  # recipe id -> the latest packed package
        self.started = False
        self.protocol = 0

    # -------------------------------------------------------------- asyncio
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.link = Link("rtde", transport, self.twin.faults["rtde"])
        self.twin.add_session(self)
        self.ctrl.record("rtde_connected", peer=self.link.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        assert self.link is not None
        self.link.forget()
        self.twin.release_inputs(self)
        self.ctrl.record("rtde_closed", peer=self.link.peer)

    def data_received(self, data: bytes) -> None:
        assert self.link is not None
        self.buffer.extend(data)
        try:
            for kind, payload in rp.split_messages(self.buffer):
                self._handle(kind, payload)
        except (ValueError, struct.error) as exc:
            self.ctrl.record("rtde_protocol_error", peer=self.link.peer, error=str(exc))
            self.link.close()

    # ------------------------------------------------------------- messages
    def _reply(self, kind: int, payload: bytes = b"") -> None:
        assert self.link is not None
        self.link.send(rp.message(kind, payload))

    def _handle(self, kind: int, payload: bytes) -> None:
        version = self.ctrl.config.version
        if kind == rp.REQUEST_PROTOCOL_VERSION:
            (requested,) = struct.unpack(">H", payload[:2])
            ok = requested == rp.PROTOCOL_VERSION
            self.protocol = requested if ok else self.protocol
            self._reply(kind, bytes([1 if ok else 0]))
        elif kind == rp.GET_URCONTROL_VERSION:
            self._reply(kind, struct.pack(">IIII", *version))
        elif kind == rp.SETUP_OUTPUTS:
            self._setup_outputs(payload)
        elif kind == rp.SETUP_INPUTS:
            self._setup_inputs(payload)
        elif kind == rp.START:
            self.started = bool(self.outputs or self.inputs)
            for out in self.outputs.values():
                out.restart(self.ctrl.twin.steps + 1)
            self._reply(kind, bytes([1 if self.started else 0]))
            if self.started:
                self.ctrl.record("rtde_started", outputs=len(self.outputs), inputs=len(self.inputs))
        elif kind == rp.PAUSE:
            self.started = False
            self._reply(kind, bytes([1]))
            self.ctrl.record("rtde_paused")
        elif kind == rp.DATA_PACKAGE:
            recipe = self.inputs.get(payload[0]) if payload else None
            if recipe is None:
                self.ctrl.record("rtde_unknown_recipe", recipe_id=payload[0] if payload else None)
                return
            values = recipe.unpack(payload)
            if self.twin.config.trace_inputs:
                self.ctrl.record("input", recipe_id=recipe.recipe_id, values=values)
            self.ctrl.write_inputs(values, at_s=self.twin.controller_now())
        elif kind != rp.TEXT_MESSAGE:
            self.ctrl.record("rtde_unknown_message", type=kind)

    def _setup_outputs(self, payload: bytes) -> None:
        (frequency,) = struct.unpack(">d", payload[:8])
        names = rp.split_names(payload[8:].decode(errors="replace"))
        types = [rp.output_type(n, self.ctrl.config.version[:2]) for n in names]
        rate = 1.0 / self.ctrl.config.period_s
        # a frequency above the controller's rate is served at the rate (the twin's guess)
        ok = bool(names) and rp.NOT_FOUND not in types and 0.0 < frequency
        recipe_id = len(self.outputs) + 1 if ok else 0
        if ok:
            recipe = rp.Recipe(recipe_id, tuple(names), tuple(types))
            self.outputs[recipe_id] = _Output(recipe, max(1, round(rate / min(frequency, rate))))
        self._reply(rp.SETUP_OUTPUTS, bytes([recipe_id]) + ",".join(types).encode())
        self.ctrl.record("output_recipe", recipe_id=recipe_id, names=names, types=types,
                         frequency=frequency)

    def _setup_inputs(self, payload: bytes) -> None:
        names = rp.split_names(payload.decode(errors="replace"))
        types = [rp.input_type(n, self.ctrl.config.version[:2]) for n in names]
        types = [rp.IN_USE if t != rp.NOT_FOUND and self.twin.input_owner(n) not in (None, self)
                 else t for n, t in zip(names, types, strict=True)]
        ok = bool(names) and rp.NOT_FOUND not in types and rp.IN_USE not in types
        recipe_id = len(self.inputs) + 1 if ok else 0
        if ok:
            self.inputs[recipe_id] = rp.Recipe(recipe_id, tuple(names), tuple(types))
            self.twin.claim_inputs(self, names)
        self._reply(rp.SETUP_INPUTS, bytes([recipe_id]) + ",".join(types).encode())
        self.ctrl.record("input_recipe", recipe_id=recipe_id, names=names, types=types)

    # ----------------------------------------------------------------- ticks
    def tick(self) -> None:
        """The controller ran one period: pack each recipe that is due now.  Packages wait
        in ``pending`` until :meth:`flush`, so a catch-up after a stall sends only the latest
        package of each recipe, as the controller skips packages when it falls behind."""
        if not self.started or self.link is None or self.link.transport.is_closing():
            return
        step = self.ctrl.twin.steps
        for recipe_id, out in self.outputs.items():
            if out.due(step):
                self.pending[recipe_id] = out.recipe.pack(self.ctrl.output_values(out.recipe.names))

    def flush(self) -> None:
        """Send the packages :meth:`tick` packed."""
        if self.link is not None:
            for data in self.pending.values():
                self.link.send(data, droppable=True)
        self.pending.clear()

"""The RTDE wire format (protocol version 2) and the controller's variable table.

Facts from Universal Robots' RTDE guide (docs.universal-robots.com, "Real-Time Data
Exchange (RTDE) Guide") and UR's own clients (``RTDE_Python_Client_Library``
``rtde/serialize.py``; ``Universal_Robots_Client_Library`` ``src/rtde/data_package.cpp``):

* every message is ``uint16 size`` (header included, big-endian), ``uint8 type``, payload;
* types: ``V`` request protocol version (payload ``uint16``; answer ``uint8`` accepted),
  ``v`` get URControl version (answer four ``uint32``), ``O`` setup outputs (payload
  ``double frequency`` + comma-separated names; answer ``uint8 recipe id`` + comma-separated
  types), ``I`` setup inputs (names; answer id + types), ``S`` start / ``P`` pause (answer
  ``uint8`` success), ``U`` data package (``uint8 recipe id`` + the recipe's values in
  order), ``M`` text message;
* a name the controller does not know is answered ``NOT_FOUND``; an input another client
  already controls is answered ``IN_USE``;
* value types: BOOL, UINT8, UINT32, UINT64, INT32, DOUBLE, VECTOR3D, VECTOR6D, VECTOR6INT32,
  VECTOR6UINT32, all big-endian.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

HEADER = struct.Struct(">HB")
PROTOCOL_VERSION = 2

REQUEST_PROTOCOL_VERSION = 86  # 'V'
GET_URCONTROL_VERSION = 118  # 'v'
TEXT_MESSAGE = 77  # 'M'
DATA_PACKAGE = 85  # 'U'
SETUP_OUTPUTS = 79  # 'O'
SETUP_INPUTS = 73  # 'I'
START = 83  # 'S'
PAUSE = 80  # 'P'

NOT_FOUND = "NOT_FOUND"
IN_USE = "IN_USE"

#: struct format (without byte order) of each RTDE type
TYPE_FORMATS: dict[str, str] = {
    "BOOL": "?", "UINT8": "B", "UINT32": "I", "UINT64": "Q", "INT32": "i", "DOUBLE": "d",
    "VECTOR3D": "3d", "VECTOR6D": "6d", "VECTOR6INT32": "6i", "VECTOR6UINT32": "6I",
}

# Outputs (controller -> client) of the RTDE guide, with their types.
_OUTPUTS: dict[str, str] = {
    "timestamp": "DOUBLE", "target_q": "VECTOR6D", "target_qd": "VECTOR6D",
    "target_qdd": "VECTOR6D", "target_current": "VECTOR6D", "target_moment": "VECTOR6D",
    "actual_q": "VECTOR6D", "actual_qd": "VECTOR6D", "actual_current": "VECTOR6D",
    "actual_current_window": "VECTOR6D", "actual_current_as_torque": "VECTOR6D",
    "joint_control_output": "VECTOR6D", "actual_TCP_pose": "VECTOR6D",
    "actual_TCP_speed": "VECTOR6D", "actual_TCP_force": "VECTOR6D",
    "target_TCP_pose": "VECTOR6D", "target_TCP_speed": "VECTOR6D",
    "actual_digital_input_bits": "UINT64", "joint_temperatures": "VECTOR6D",
    "actual_execution_time": "DOUBLE", "robot_mode": "INT32", "joint_mode": "VECTOR6INT32",
    "safety_mode": "INT32", "safety_status": "INT32", "actual_tool_accelerometer": "VECTOR3D",
    "speed_scaling": "DOUBLE", "target_speed_fraction": "DOUBLE", "actual_momentum": "DOUBLE",
    "actual_main_voltage": "DOUBLE", "actual_robot_voltage": "DOUBLE",
    "actual_robot_current": "DOUBLE", "actual_joint_voltage": "VECTOR6D",
    "actual_digital_output_bits": "UINT64", "runtime_state": "UINT32",
    "elbow_position": "VECTOR3D", "elbow_velocity": "VECTOR3D",
    "robot_status_bits": "UINT32", "safety_status_bits": "UINT32",
    "analog_io_types": "UINT32", "standard_analog_input0": "DOUBLE",
    "standard_analog_input1": "DOUBLE", "standard_analog_output0": "DOUBLE",
    "standard_analog_output1": "DOUBLE", "io_current": "DOUBLE",
    "euromap67_input_bits": "UINT32", "euromap67_output_bits": "UINT32",
    "euromap67_24V_voltage": "DOUBLE", "euromap67_24V_current": "DOUBLE",
    "tool_mode": "UINT32", "tool_analog_input_types": "UINT32", "tool_analog_input0": "DOUBLE",
    "tool_analog_input1": "DOUBLE", "tool_output_voltage": "INT32",
    "tool_output_current": "DOUBLE", "tool_temperature": "DOUBLE",
    "tcp_force_scalar": "DOUBLE", "output_bit_registers0_to_31": "UINT32",
    "output_bit_registers32_to_63": "UINT32", "actual_configurable_digital_input_bits": "UINT64",
    "actual_configurable_digital_output_bits": "UINT64", "tcp_offset": "VECTOR6D",
    "payload": "DOUBLE", "payload_cog": "VECTOR3D", "payload_inertia": "VECTOR6D",
    "script_control_line": "UINT32", "ft_raw_wrench": "VECTOR6D",
    "joint_position_deviation_ratio": "DOUBLE", "collision_detection_ratio": "DOUBLE",
    "time_scale_source": "INT32", "tool_output_mode": "UINT8",
    "tool_digital_output0_mode": "UINT8", "tool_digital_output1_mode": "UINT8",
    "actual_robot_energy_consumed": "DOUBLE", "actual_robot_braking_energy_dissipated": "DOUBLE",
    "target_TCP_acceleration": "VECTOR6D", "actual_TCP_acceleration": "VECTOR6D",
}

# Inputs (client -> controller) of the RTDE guide that are not registers.
_INPUTS: dict[str, str] = {
    "speed_slider_mask": "UINT32", "speed_slider_fraction": "DOUBLE",
    "standard_digital_output_mask": "UINT8", "standard_digital_output": "UINT8",
    "configurable_digital_output_mask": "UINT8", "configurable_digital_output": "UINT8",
    "tool_digital_output_mask": "UINT8", "tool_digital_output": "UINT8",
    "standard_analog_output_mask": "UINT8", "standard_analog_output_type": "UINT8",
    "standard_analog_output_0": "DOUBLE", "standard_analog_output_1": "DOUBLE",
    "input_bit_registers0_to_31": "UINT32", "input_bit_registers32_to_63": "UINT32",
    "external_force_torque": "VECTOR6D",
}

#: (major, minor) from which an output exists; absent: on every CB3 3.x and e-Series 5.x this
#: table covers.  The receive interface of ur_rtde asks for these only on these versions.
MIN_VERSION: dict[str, tuple[int, int]] = {
    "ft_raw_wrench": (5, 9),
    "actual_current_as_torque": (5, 23),
    "payload_inertia": (3, 15),
    "payload": (3, 11),
    "payload_cog": (3, 11),
}

#: registers 24..47 (the upper range) exist from 3.9 / 5.3
UPPER_REGISTER_VERSION = {3: (3, 9), 5: (5, 3)}


def _registers() -> tuple[dict[str, str], dict[str, str]]:
    outputs, inputs = {}, {}
    for i in range(48):
        outputs[f"output_int_register_{i}"] = "INT32"
        outputs[f"output_double_register_{i}"] = "DOUBLE"
        inputs[f"input_int_register_{i}"] = "INT32"
        inputs[f"input_double_register_{i}"] = "DOUBLE"
    for i in range(64, 128):
        outputs[f"output_bit_register_{i}"] = "BOOL"
        inputs[f"input_bit_register_{i}"] = "BOOL"
    return outputs, inputs


_REG_OUT, _REG_IN = _registers()
OUTPUT_TYPES: dict[str, str] = {**_OUTPUTS, **_REG_OUT, **_REG_IN}  # input registers can be read
INPUT_TYPES: dict[str, str] = {**_INPUTS, **_REG_IN}


def _available(name: str, version: tuple[int, int]) -> bool:
    need = MIN_VERSION.get(name)
    if need is not None and not (version[0] == need[0] and version[1] >= need[1]
                                 or version[0] > need[0]):
        return False
    if "_register_" in name and not name.startswith(("input_bit", "output_bit")):
        index = int(name.rsplit("_", 1)[1])
        if index >= 24:
            low = UPPER_REGISTER_VERSION.get(version[0], (version[0], 0))
            return version >= low
    return True


def output_type(name: str, version: tuple[int, int]) -> str:
    """The RTDE type of output ``name`` on a controller of ``version``, or ``NOT_FOUND``."""
    kind = OUTPUT_TYPES.get(name)
    return kind if kind is not None and _available(name, version) else NOT_FOUND


def input_type(name: str, version: tuple[int, int]) -> str:
    """The RTDE type of input ``name`` on a controller of ``version``, or ``NOT_FOUND``."""
    kind = INPUT_TYPES.get(name)
    return kind if kind is not None and _available(name, version) else NOT_FOUND


@dataclass(frozen=True)
class Recipe:
    """A configured recipe: its id, variable names, types and the packed layout."""

    recipe_id: int
    names: tuple[str, ...]
    types: tuple[str, ...]

    @cached_property
    def layout(self) -> struct.Struct:
        return struct.Struct(">B" + "".join(TYPE_FORMATS[t] for t in self.types))

    def pack(self, values: Sequence[Any]) -> bytes:
        """A data package (header included) with ``values`` in recipe order."""
        flat: list[Any] = [self.recipe_id]
        for kind, value in zip(self.types, values, strict=True):
            if kind.startswith("VECTOR"):
                flat.extend(value)
            else:
                flat.append(value)
        return message(DATA_PACKAGE, self.layout.pack(*flat))

    def unpack(self, payload: bytes) -> dict[str, Any]:
        """The values of a data package payload (recipe id included) by name."""
        flat = self.layout.unpack(payload)
        out: dict[str, Any] = {}
        i = 1
        for name, kind in zip(self.names, self.types, strict=True):
            width = int(TYPE_FORMATS[kind][0]) if TYPE_FORMATS[kind][0].isdigit() else 1
            out[name] = list(flat[i:i + width]) if width > 1 else flat[i]
            i += width
        return out


def split_names(text: str) -> list[str]:
    """Variable names of a setup payload; ur_rtde ends its lists with a comma, which the
    controller ignores."""
    return [n.strip() for n in text.split(",") if n.strip()]


def message(kind: int, payload: bytes = b"") -> bytes:
    """A whole message: header (size includes it) and payload."""
    return HEADER.pack(HEADER.size + len(payload), kind) + payload


def text_message(text: str, source: str = "twin", level: int = 3) -> bytes:
    """A v2 text message (``M``): length-prefixed message and source, then the level."""
    body, src = text.encode()[:255], source.encode()[:255]
    return message(TEXT_MESSAGE, bytes([len(body)]) + body + bytes([len(src)]) + src + bytes([level]))


def split_messages(buffer: bytearray) -> Iterable[tuple[int, bytes]]:
    """Pop every complete message from ``buffer``: (type, payload) in order."""
    while len(buffer) >= HEADER.size:
        size, kind = HEADER.unpack_from(buffer)
        if size < HEADER.size:
            raise ValueError(f"RTDE message with size {size} < {HEADER.size}")
        if len(buffer) < size:
            return
        payload = bytes(buffer[HEADER.size:size])
        del buffer[:size]
        yield kind, payload

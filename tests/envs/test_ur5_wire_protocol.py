"""The wire twin's RTDE and dashboard servers, spoken to byte by byte.

Each test runs its own twin on its own loopback address (no ur_rtde here: these tests check
the messages themselves, so a protocol slip cannot hide behind the library's tolerance).
"""

from __future__ import annotations

import socket
import struct
import time

import pytest

from rt_avg.envs.ur5.twin import TwinConfig
from rt_avg.envs.ur5.wire import ControllerConfig, WireTwin, WireTwinConfig, free_loopback_host
from rt_avg.envs.ur5.wire import rtde_protocol as rp

E_SERIES = ControllerConfig(version=(5, 11, 1, 108318), twin=TwinConfig(period_s=0.002))


class RawRtde:
    """A minimal RTDE v2 client on a plain socket."""

    def __init__(self, host: str) -> None:
        self.sock = socket.create_connection((host, 30004), timeout=10)
        self.buffer = bytearray()
        self.recipes: dict[int, rp.Recipe] = {}

    def close(self) -> None:
        self.sock.close()

    def send(self, kind: int, payload: bytes = b"") -> None:
        self.sock.sendall(rp.message(kind, payload))

    def next(self) -> tuple[int, bytes]:
        while True:
            for message in rp.split_messages(self.buffer):
                return message
            chunk = self.sock.recv(65536)
            assert chunk, "the twin closed the connection"
            self.buffer.extend(chunk)

    def reply(self, kind: int, payload: bytes = b"") -> bytes:
        """Send a request; its reply's payload (data packages in between are skipped)."""
        self.send(kind, payload)
        while True:
            got, body = self.next()
            if got != rp.DATA_PACKAGE:
                assert got == kind
                return body

    def outputs(self, names: list[str], frequency: float = 125.0) -> tuple[int, list[str]]:
        body = self.reply(rp.SETUP_OUTPUTS, struct.pack(">d", frequency) + ",".join(names).encode() + b",")
        types = body[1:].decode().split(",")
        if body[0]:
            self.recipes[body[0]] = rp.Recipe(body[0], tuple(names), tuple(types))
        return body[0], types

    def inputs(self, names: list[str]) -> tuple[int, list[str]]:
        body = self.reply(rp.SETUP_INPUTS, ",".join(names).encode())
        return body[0], body[1:].decode().split(",")

    def data(self) -> dict:
        while True:
            kind, body = self.next()
            if kind == rp.DATA_PACKAGE:
                return self.recipes[body[0]].unpack(body)


@pytest.fixture
def twin():
    with WireTwin(WireTwinConfig(host=free_loopback_host())) as t:
        yield t


@pytest.fixture
def client(twin):
    c = RawRtde(twin.host)
    yield c
    c.close()


def test_protocol_and_controller_version(client):
    assert client.reply(rp.REQUEST_PROTOCOL_VERSION, struct.pack(">H", 2)) == b"\x01"
    assert client.reply(rp.REQUEST_PROTOCOL_VERSION, struct.pack(">H", 3)) == b"\x00"
    assert struct.unpack(">IIII", client.reply(rp.GET_URCONTROL_VERSION)) == (3, 15, 7, 106331)


def test_output_recipes_get_ids_and_types(client):
    assert client.outputs(["timestamp", "actual_q", "robot_status_bits", "joint_mode",
                           "output_int_register_0", "actual_tool_accelerometer"]) == (
        1, ["DOUBLE", "VECTOR6D", "UINT32", "VECTOR6INT32", "INT32", "VECTOR3D"])
    assert client.outputs(["safety_status_bits"], 10.0) == (2, ["UINT32"])


def test_unknown_outputs_are_not_found(client):
    assert client.outputs(["timestamp", "no_such_variable"]) == (0, ["DOUBLE", "NOT_FOUND"])
    # e-Series outputs do not exist on a CB3 controller
    assert client.outputs(["ft_raw_wrench"]) == (0, ["NOT_FOUND"])
    assert client.outputs(["timestamp"]) == (1, ["DOUBLE"])  # refused recipes take no id


def test_e_series_twin_has_e_series_outputs_and_500_hz():
    with WireTwin(WireTwinConfig(host=free_loopback_host(), controller=E_SERIES)) as twin:
        client = RawRtde(twin.host)
        assert struct.unpack(">IIII", client.reply(rp.GET_URCONTROL_VERSION))[0] == 5
        assert client.outputs(["timestamp", "ft_raw_wrench"], 500.0) == (1, ["DOUBLE", "VECTOR6D"])
        assert client.reply(rp.START) == b"\x01"
        stamps = [client.data()["timestamp"] for _ in range(20)]
        steps = [round((b - a) / 0.002, 6) for a, b in zip(stamps, stamps[1:])]
        assert all(s >= 1 and s == int(s) for s in steps), steps  # whole 2 ms periods
        client.close()


def test_input_recipes_share_registers_within_a_connection_only(twin, client):
    assert client.inputs(["input_int_register_0", "input_double_register_0"]) == (1, ["INT32", "DOUBLE"])
    assert client.inputs(["input_int_register_0"]) == (2, ["INT32"])
    other = RawRtde(twin.host)
    try:
        assert other.inputs(["input_int_register_0"]) == (0, ["IN_USE"])
        assert other.inputs(["input_int_register_5", "no_such_input"]) == (0, ["INT32", "NOT_FOUND"])
        assert other.inputs(["input_int_register_5"]) == (1, ["INT32"])
        mark = twin.mark()
        client.close()
        twin.wait_event("rtde_closed", since=mark)
        assert other.inputs(["input_int_register_0"]) == (2, ["INT32"])  # released
    finally:
        other.close()


def test_start_needs_a_recipe_and_data_follows_the_controller_clock(client):
    assert client.reply(rp.START) == b"\x00"
    client.outputs(["timestamp"], 125.0)
    client.outputs(["timestamp", "runtime_state"], 25.0)
    assert client.reply(rp.START) == b"\x01"
    seen: dict[int, list[float]] = {1: [], 2: []}
    while min(len(v) for v in seen.values()) < 6:
        kind, body = client.next()
        assert kind == rp.DATA_PACKAGE
        seen[body[0]].append(client.recipes[body[0]].unpack(body)["timestamp"])
    for recipe, every in ((1, 1), (2, 5)):  # 125 Hz: every period; 25 Hz: every 5th
        gaps = [round((b - a) / 0.008, 6) for a, b in zip(seen[recipe], seen[recipe][1:])]
        assert all(g >= every and g % every == 0 for g in gaps), (recipe, gaps)


def test_pause_stops_the_data(client):
    client.outputs(["timestamp"])
    assert client.reply(rp.START) == b"\x01"
    client.data()
    assert client.reply(rp.PAUSE) == b"\x01"  # data sent before the reply came first
    client.sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        client.next()


def test_input_packages_write_the_registers(twin, client):
    recipe_id, types = client.inputs(["input_int_register_3", "input_double_register_4"])
    client.outputs(["input_int_register_3", "input_double_register_4"])
    assert client.reply(rp.START) == b"\x01"
    client.send(rp.DATA_PACKAGE, struct.pack(">Bid", recipe_id, 42, 1.5))
    deadline = time.monotonic() + 10
    while client.data() != {"input_int_register_3": 42, "input_double_register_4": 1.5}:
        assert time.monotonic() < deadline
    assert twin.controller.read_int(3) == 42


def test_silence_holds_replies_until_the_port_answers(twin, client):
    twin.silence("rtde")
    client.send(rp.GET_URCONTROL_VERSION)
    client.sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        client.next()
    twin.answer("rtde")
    client.sock.settimeout(10)
    assert client.next()[0] == rp.GET_URCONTROL_VERSION  # processed once it answers


def test_delay_holds_each_message_back(twin, client):
    twin.delay(150, "rtde")
    t0 = time.monotonic()
    client.reply(rp.GET_URCONTROL_VERSION)
    assert time.monotonic() - t0 >= 0.15


def test_close_connections_closes_the_socket(twin, client):
    twin.wait_event("rtde_connected")
    assert twin.close_connections("rtde") == 1
    client.sock.settimeout(10)
    assert client.sock.recv(1) == b""


# ----------------------------------------------------------------- dashboard
class Dashboard:
    def __init__(self, host: str) -> None:
        self.sock = socket.create_connection((host, 29999), timeout=10)
        self.file = self.sock.makefile("rwb")
        self.greeting = self.file.readline().decode().rstrip("\n")

    def ask(self, line: str) -> str:
        self.file.write(line.encode() + b"\n")
        self.file.flush()
        return self.file.readline().decode().rstrip("\n")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def dashboard(twin):
    d = Dashboard(twin.host)
    yield d
    d.close()


def test_dashboard_greets_and_reports_the_robot(dashboard):
    assert dashboard.greeting == "Connected: Universal Robots Dashboard Server"
    assert dashboard.ask("robotmode") == "Robotmode: RUNNING"
    assert dashboard.ask("safetymode") == "Safetymode: NORMAL"
    assert dashboard.ask("programState") == "STOPPED <unnamed>"
    assert dashboard.ask("running") == "Program running: false"
    assert dashboard.ask("PolyscopeVersion") == "URSoftware 3.15.7.106331 (Mar 23 2022)"
    assert dashboard.ask("get robot model") == "UR5"
    assert dashboard.ask("close popup") == "closing popup"
    assert dashboard.ask("close safety popup") == "closing safety popup"
    # e-Series commands are unknown to a CB3
    assert dashboard.ask("is in remote control") == "could not understand: 'is in remote control'"
    assert dashboard.ask("safetystatus") == "could not understand: 'safetystatus'"


def test_dashboard_power_and_programs(twin, dashboard):
    assert dashboard.ask("power off") == "Powering off"
    assert dashboard.ask("robotmode") == "Robotmode: POWER_OFF"
    assert dashboard.ask("power on") == "Powering on"
    assert dashboard.ask("robotmode") == "Robotmode: IDLE"
    assert dashboard.ask("brake release") == "Brake releasing"
    assert dashboard.ask("robotmode") == "Robotmode: RUNNING"
    assert dashboard.ask("play") == "Failed to execute: play"  # nothing loaded
    assert dashboard.ask("load /programs/x.urp") == "Loading program: /programs/x.urp"
    assert dashboard.ask("get loaded program") == "Loaded program: /programs/x.urp"
    assert dashboard.ask("play") == "Starting program"
    assert dashboard.ask("running") == "Program running: true"
    assert dashboard.ask("programState") == "PLAYING /programs/x.urp"
    assert dashboard.ask("stop") == "Stopped"
    assert dashboard.ask("running") == "Program running: false"
    assert dashboard.ask("quit") == "Disconnected"
    assert dashboard.file.readline() == b""  # and the server closes


def test_dashboard_reports_an_uploaded_program(twin, dashboard):
    twin.controller.receive_script(b"def rtde_control():\n    textmsg(1)\nend\n")
    twin.wait_event("program_started")
    assert dashboard.ask("running") == "Program running: true"
    assert dashboard.ask("programState") == "PLAYING <unnamed>"
    assert dashboard.ask("stop") == "Stopped"
    assert twin.wait_event("program_stopped")["data"]["reason"] == "dashboard"
    assert dashboard.ask("stop") == "Stopped"  # also with nothing running (see docs/ur5.md)


def test_dashboard_unlock_is_refused_right_after_a_protective_stop(twin, dashboard):
    assert dashboard.ask("unlock protective stop") == "Protective stop releasing"  # none active
    twin.trigger_protective_stop()
    assert dashboard.ask("safetymode") == "Safetymode: PROTECTIVE_STOP"
    assert dashboard.ask("unlock protective stop") == (
        "Cannot unlock protective stop until 5s after occurrence. Always inspect cause of "
        "protective stop before unlocking")


def test_e_series_dashboard_answers_its_commands():
    with WireTwin(WireTwinConfig(host=free_loopback_host(), controller=E_SERIES)) as twin:
        d = Dashboard(twin.host)
        assert d.ask("is in remote control") == "true"
        assert d.ask("safetystatus") == "Safetystatus: NORMAL"
        assert d.ask("version") == "5.11.1.108318"
        assert d.ask("get serial number").isdigit()
        d.close()

"""`rt-avg twin ur5|create2`: a standalone twin a user can point the hardware path at."""

import os
import signal
import socket
import subprocess
import sys

import pytest

from helpers import ROOT, run_cli
from rt_avg.envs.ur5.wire import free_loopback_host
from rt_avg.run.run_dir import read_episodes

pytestmark = pytest.mark.slow


def _start_twin(robot, *args):
    proc = subprocess.Popen([sys.executable, "-m", "rt_avg.cli", "twin", robot, *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    address = proc.stdout.readline().strip()
    assert address, proc.stderr.read()
    return proc, address


def _stop(proc):
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0


def test_ur5_standin_serves_the_hardware_config(tmp_path):
    proc, socket_path = _start_twin("ur5", "--standin")
    try:
        assert os.path.exists(socket_path)
        res = run_cli("train", "--config", "ur5_reacher2_hardware", "--steps", "120", "--mode",
                      "inline",
                      "--quiet", "--run-dir", str(tmp_path / "run"),
                      "--set", "env.kwargs.host=127.0.0.1",
                      "--set", f"env.kwargs.twin_server={socket_path}", timeout=120)
        assert res.returncode == 0, res.stderr
        assert [e["length"] for e in read_episodes(tmp_path / "run")] == [100]
    finally:
        _stop(proc)


def test_ur5_twin_prints_a_controller_address():
    host = free_loopback_host()
    proc, address = _start_twin("ur5", "--host", host)
    try:
        assert address == host
        with socket.create_connection((host, 29999), timeout=10) as dash:
            lines = dash.makefile("rwb")
            assert lines.readline() == b"Connected: Universal Robots Dashboard Server\n"
            lines.write(b"PolyscopeVersion\n")
            lines.flush()
            assert lines.readline().startswith(b"URSoftware 3.15.7.106331")
    finally:
        _stop(proc)


def test_create2_twin_prints_a_serial_port():
    proc, port = _start_twin("create2")
    try:
        assert os.path.exists(port)
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
        assert os.isatty(fd)
        os.close(fd)
    finally:
        _stop(proc)


def test_create2_twin_on_its_dock_falls_asleep_for_a_serial_client():
    """`rt-avg twin create2 --docked`: on its dock in Passive mode the robot answers until
    60 s of robot time pass without a mode command, then it is silent and deaf (SenseAct)."""
    import serial

    from helpers import wait_for

    proc, port = _start_twin("create2", "--docked", "--time-scale", "10")  # 60 s: 6 s of wall
    try:
        banner = proc.stderr.readline() + proc.stderr.readline()
        assert os.path.realpath(port) in banner and "on its dock in Passive mode" in banner
        with serial.Serial(port, 115200, timeout=0.5) as link:

            def answer() -> bytes:
                link.reset_input_buffer()
                link.write(bytes([142, 35]))  # Sensors: OI mode (not a mode command)
                return link.read(1)

            link.write(bytes([128, 142, 35, 142, 34]))  # Start (restarts the timer), queries
            assert link.read(2) == bytes([1, 2])  # Passive, on the home base
            wait_for(lambda: answer() == b"", "the docked robot to fall asleep", proc)
            link.write(bytes([131]))  # Safe is not heard either
            assert answer() == b""
    finally:
        _stop(proc)

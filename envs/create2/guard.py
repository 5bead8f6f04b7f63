"""The Create 2's wheels stop when the process that drives them dies or freezes.

The Open Interface has no command timeout: a Create 2 keeps its last wheel command until
told otherwise, so a driver process that is killed (SIGKILL, the OOM killer, a crash in
native code) would leave the robot driving.  The driver therefore starts this guard as a
separate process in its own session (Ctrl-C in the terminal does not reach it).  The guard
holds the read end of a pipe whose write end only the driver holds:

* the driver writes a heartbeat byte every ``freeze_s / 4``;
* end of file without a goodbye byte (``x``): the driver's process is gone (the kernel
  closed its end).  The guard opens the serial port itself and writes the stop bytes it
  was given (Safe mode, which also ends a Seek Dock; wheels 0/0; stream paused; OI Stop),
  then exits;
* no heartbeat for ``freeze_s``: the driver's process is alive but frozen (SIGSTOP, a
  hung interpreter).  The guard writes the wheels-stop bytes once and keeps watching;
* the goodbye byte: an orderly close, the guard exits without writing anything.

What it cannot do: anything when the serial path is gone with the process (a USB cable
pulled, the workstation powered off or its kernel hung), or when the guard dies together
with the driver (a kill of the whole session).  Then only the robot's own reflexes remain
(Safe mode stops for cliffs, wheel drops and the charger, not for walls).

Run by the driver as ``python -I guard.py PORT --stop HEX --off HEX --freeze-s S``; it
imports only the standard library and pyserial, so it starts in a few tens of ms.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import serial

HEARTBEAT = b"h"
GOODBYE = b"x"
BAUDRATE = 115200


def open_serial(port: str, timeout_s: float, write_timeout_s: float) -> serial.Serial:
    """Open ``port`` as the Create 2 wants it (115200 8N1, no flow control) with RTS left
    deasserted.  pyserial asserts RTS (and DTR) when it opens a port unless told otherwise
    before ``open()``; on iRobot's cable recipe BRC is wired to RTS, so an asserted RTS
    would hold BRC low for as long as the port is open (on every reconnect too).  Raises
    ``serial.SerialException`` / ``OSError`` like ``serial.Serial``."""
    import serial  # here, not at the top: the guard's main() loads it before it starts watching

    ser = serial.Serial()
    ser.port, ser.baudrate = port, BAUDRATE
    ser.bytesize, ser.parity, ser.stopbits = serial.EIGHTBITS, serial.PARITY_NONE, serial.STOPBITS_ONE
    ser.timeout, ser.write_timeout = timeout_s, write_timeout_s
    ser.xonxoff = ser.rtscts = ser.dsrdtr = False
    ser.rts = False  # BRC high
    ser.open()
    return ser


def write_to_port(port: str, data: bytes) -> None:
    """Open ``port`` (BRC/RTS left high), write ``data``, close; never raises."""
    try:
        ser = open_serial(port, timeout_s=0.1, write_timeout_s=1.0)
        try:
            ser.write(data)
            ser.flush()
        finally:
            ser.close()
    except Exception as exc:  # noqa: BLE001 - nothing else can be done from here
        print(f"create2 guard: could not write to {port}: {exc}", file=sys.stderr, flush=True)


def watch(fd: int, port: str, stop: bytes, off: bytes, freeze_s: float) -> str:
    """Watch the pipe ``fd``: ``stop`` when the driver freezes, ``off`` when it is gone;
    returns why the watch ended ("goodbye" or "parent gone")."""
    last = time.monotonic()
    frozen = False
    while True:
        readable, _, _ = select.select([fd], [], [], freeze_s / 4)
        if readable:
            data = os.read(fd, 256)
            if not data:
                write_to_port(port, off)
                return "parent gone"
            if GOODBYE in data:
                return "goodbye"
            last, frozen = time.monotonic(), False
        elif not frozen and time.monotonic() - last > freeze_s:
            write_to_port(port, stop)
            frozen = True
            print(f"create2 guard: no heartbeat for {freeze_s:g} s; wheels stopped",
                  file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port")
    parser.add_argument("--stop", required=True, help="hex bytes that stop the wheels")
    parser.add_argument("--off", required=True, help="hex bytes that stop the robot when the "
                        "driver's process is gone")
    parser.add_argument("--freeze-s", type=float, default=1.0)
    args = parser.parse_args(argv)
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # outlive a Ctrl-C aimed at the driver
    import serial  # noqa: F401 - loaded now, not in the moment the wheels must be stopped
    reason = watch(sys.stdin.fileno(), args.port, bytes.fromhex(args.stop),
                   bytes.fromhex(args.off), args.freeze_s)
    if reason != "goodbye":
        print(f"create2 guard: driver process gone; wheels stopped on {args.port}",
              file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Command line of the wire twin (``rt-avg twin ur5``, ``python -m rt_avg.envs.ur5.wire``)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from rt_avg.envs.serve import serve_until_stopped
from rt_avg.envs.ur5.twin import TwinConfig
from rt_avg.envs.ur5.wire.controller import ControllerConfig
from rt_avg.envs.ur5.wire.process import free_loopback_host, serve_control
from rt_avg.envs.ur5.wire.server import WireTwin, WireTwinConfig


def _version(text: str) -> tuple[int, int, int, int]:
    parts = [int(p) for p in text.split(".")]
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"version must be MAJOR.MINOR.BUGFIX.BUILD, got {text!r}")
    return parts[0], parts[1], parts[2], parts[3]


def build_parser(prog: str = "rt-avg twin ur5") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="A UR5 controller twin on the wire: RTDE (30004), dashboard (29999) and the "
                    "script port (30003) on a loopback address, driven by the unmodified "
                    "ur_rtde library.  Prints the address on the first line.")
    parser.add_argument("--host", default=None,
                        help="loopback address to listen on (default: a free 127.x.y.z)")
    parser.add_argument("--control", default=None, metavar="SOCKET",
                        help="also serve fault injection and events on this Unix socket "
                             "(see rt_avg.envs.ur5.wire.process.TwinProcess)")
    parser.add_argument("--version", type=_version, default=(3, 15, 7, 106331),
                        help="URControl version (3.x: CB3 at 125 Hz, 5.x: e-Series at 500 Hz); "
                             "default 3.15.7.106331")
    parser.add_argument("--period", type=float, default=None,
                        help="controller period in s (default 0.008 for 3.x, 0.002 for 5.x)")
    parser.add_argument("--start-delay", type=float, default=0.2,
                        help="seconds from a script upload to the program running (default 0.2)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="stop when standard input closes (the parent that started it died)")
    parser.add_argument("--trace-inputs", action="store_true",
                        help="record an 'input' event for every RTDE input package")
    return parser


def _stop_on_eof() -> None:
    """Block until standard input closes, then stop as SIGTERM does."""
    fd = sys.stdin.fileno()  # raw reads: a buffered reader's lock would abort the exit
    while os.read(fd, 4096):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None, prog: str = "python -m rt_avg.envs.ur5.wire") -> int:
    args = build_parser(prog).parse_args(argv)
    period = args.period if args.period is not None else (0.008 if args.version[0] == 3 else 0.002)
    try:
        config = WireTwinConfig(
            host=args.host or free_loopback_host(), trace_inputs=args.trace_inputs,
            controller=ControllerConfig(version=args.version,
                                        program_start_delay_s=args.start_delay,
                                        twin=TwinConfig(period_s=period)))
        twin = WireTwin(config).start()
    except (OSError, ValueError) as exc:
        print(f"ur5 wire twin: {exc}", file=sys.stderr)
        return 2
    listener = serve_control(twin, args.control) if args.control else None
    if args.exit_on_stdin_eof:
        threading.Thread(target=_stop_on_eof, name="ur5-wire-stdin", daemon=True).start()

    def close() -> None:
        if listener is not None:
            listener.close()
        twin.close()

    return serve_until_stopped(
        config.host, f"ur5 wire twin (URControl {config.controller.polyscope_version}, "
                     f"{1 / period:.0f} Hz) at {config.host}: RTDE {config.rtde_port}, dashboard "
                     f"{config.dashboard_port}, script {', '.join(map(str, config.script_ports))}"
                     "; Ctrl-C to stop", close)

"""Running a twin as a standalone process: serve until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable


def serve_until_stopped(address: str, banner: str, close: Callable[[], None]) -> int:
    """Print ``address`` (the first stdout line, for scripts) and ``banner`` (stderr), wait
    for SIGINT or SIGTERM, then ``close()``; returns the exit status 0."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(address, flush=True)
        print(banner, file=sys.stderr, flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0

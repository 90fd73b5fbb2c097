"""The ASGI servers the portal runs under, and what a long-running server process needs.

daphne (Twisted) serves the console and is what `run_portal` uses. uvicorn (uvloop, httptools,
the websockets sans-I/O protocol) costs about a third of daphne's CPU per device message, so
workers that carry device websockets at scale run under it. Both serve the same
`enos_portal.asgi:application`.
"""

from __future__ import annotations

import gc
import sys

APPLICATION = "enos_portal.asgi:application"
# what each server prints once it listens (tests and benchmarks wait for it)
READY_LINE = {"daphne": "Listening on TCP address", "uvicorn": "Uvicorn running on"}

# Collections of the youngest generation every 50,000 net new container objects instead of 700,
# and of the older ones more rarely: with thousands of open connections the heap holds millions
# of long-lived objects, and each full collection walked them all (100–360 ms pauses every few
# seconds at 2,000 devices: the p99 of device replies).
GC_THRESHOLDS = (50_000, 50, 100)


def server_command(server: str, host: str, port: int, application: str = APPLICATION,
                   *, quiet: bool = False) -> list[str]:
    """The command line of one ASGI worker."""
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "--host", host, "--port", str(port), "--loop", "uvloop",
                "--http", "httptools", "--ws", "websockets-sansio", "--ws-ping-interval", "0",
                # devices send small JSON: compressing each frame costs more CPU than it saves
                "--ws-per-message-deflate", "false",
                "--no-access-log", "--log-level", "warning" if quiet else "info", application]
    if server == "daphne":
        return [sys.executable, "-m", "daphne", "-v", "0" if quiet else "1", "-b", host, "-p", str(port),
                application]
    raise ValueError(f"unknown ASGI server {server!r}: daphne or uvicorn")


def tune_server_process() -> None:
    """For a server process, once its code is loaded: what is loaded now is never garbage, so
    full collections stop scanning it (gc.freeze), and collections run less often."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)

"""Real processes for integration tests: a Celery worker and ASGI servers sharing the test database."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a child that must use the test database this pytest process uses."""
    env = os.environ.copy()
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env["PORTAL_SQLITE_PATH"] = str(db["NAME"])
    else:
        user = db.get("USER") or "postgres"
        env["DATABASE_URL"] = f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(extra)
    return env


def wait_for_line(log: Path, needle: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    raise TimeoutError(f"{needle!r} not seen in {timeout}s:\n{log.read_text(errors='replace')}")


def new_log(prefix: str) -> Path:
    return Path(tempfile.mkstemp(prefix=f"{prefix}-", suffix=".log")[1])


@contextmanager
def running(command: list[str], log: Path, ready_line: str, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """`command` as a child of this test, its output in `log`, from when `ready_line` shows there until the
    block ends; then stopped (killed if it does not stop in 15 s), its output kept as `process.log`."""
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_line(log, ready_line, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        process.log = log.read_text(errors="replace")  # type: ignore[attr-defined]


@contextmanager
def celery_worker(*, beat: bool = False) -> Iterator[subprocess.Popen]:
    """A real `celery worker` on the configured broker (Redis, or the filesystem transport)."""
    from enos_portal.celery import app

    # leftovers of an earlier run must not reach this worker (the filesystem transport may
    # have nothing to purge yet)
    with contextlib.suppress(Exception):
        app.control.purge()
    log = new_log("celery")
    command = [sys.executable, "-m", "celery", "-A", "enos_portal", "worker", "--pool", "solo",
               "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    if beat:
        command += ["--beat", "--schedule", str(log.with_suffix(".beat"))]
    with running(command, log, "ready.", subprocess_env()) as process:
        yield process


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def asgi_server(server: str = "daphne", **extra_env: str) -> Iterator[str]:
    """The portal's ASGI app under a real daphne or uvicorn on 127.0.0.1; yields its base URL (http://…)."""
    from enos_portal.servers import READY_LINE, server_command

    port = free_port()
    with running(server_command(server, "127.0.0.1", port), new_log(server), READY_LINE[server],
                 subprocess_env(**extra_env)):
        yield f"http://127.0.0.1:{port}"


def daphne_server(**extra_env: str) -> AbstractContextManager[str]:
    return asgi_server("daphne", **extra_env)

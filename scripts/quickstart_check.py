#!/usr/bin/env python3
"""CI's proof of the first run: the README's quick start, as a newcomer types it, on a fresh copy.

    python3 scripts/quickstart_check.py [--keep]

Copies the repository's files (tracked and untracked, not ignored: no .venv, no var/) to a temporary
folder, runs the README's quick-start command there (`python3 -m venv .venv && .venv/bin/pip install
-e . && .venv/bin/python manage.py run_portal`, read from the README itself, with `--port` set to a
free port) in an environment without DATABASE_URL/REDIS_URL (the embedded default), then checks:

- the console answers and a demo user logs in with the password the command printed;
- every demo device run_portal connects through the simulator is Online, and every device shown
  Online has a live session (nothing Online without a connection);
- a request is one line of log, and a 403 prints no traceback;
- Ctrl-C (SIGINT to the process group, as a terminal sends it) stops it with exit status 0,
  no process of it left, the port free, and no traceback in the whole log.

Standard library only: it runs before anything is installed. Exit status 0 when all holds.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
USER, VIEWER, PASSWORD = "east-manager", "east-viewer", "demo-password-1"
START_SECONDS = 300  # install + migrate + demo data + servers, on a loaded 2-core machine
CONNECT_SECONDS = 120  # every simulated device logged in
STOP_SECONDS = 60


class CheckFailed(Exception):
    pass


def quick_start_command() -> list[str]:
    """The README's quick-start command, split at `&&`; it must be the one this check knows how to run."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)\n```", section, re.S)
    if block is None:
        raise CheckFailed("README.md: no ```sh block under ## Quick start")
    steps = [step.strip() for step in block.group(1).strip().split("&&")]
    if len(steps) != 3 or not steps[2].endswith("manage.py run_portal"):
        raise CheckFailed(f"README.md's quick start changed shape; teach scripts/quickstart_check.py: {steps}")
    return steps


def copy_repository(target: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the work tree is not copied
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def newcomer_environment(home: Path) -> dict[str, str]:
    """What a fresh shell has: no project settings, no active virtualenv."""
    env = {name: value for name, value in os.environ.items()
           if name not in {"DATABASE_URL", "REDIS_URL", "PORTAL_VAR_DIR", "PORTAL_SQLITE_PATH", "VIRTUAL_ENV",
                           "DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DEBUG", "SECRET_KEY", "SMS_BACKEND",
                           "LOG_LEVEL"}}
    env.setdefault("HOME", str(home))
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(what: str, condition: Callable[[], object], seconds: float, alive: subprocess.Popen | None = None,
               log: Path | None = None) -> object:
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result:
            return result
        if alive is not None and alive.poll() is not None:
            raise CheckFailed(f"run_portal exited ({alive.returncode}) while waiting for {what}" + tail(log))
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {seconds:.0f} s waiting for {what}" + tail(log))
        time.sleep(0.1)


def tail(log: Path | None, lines: int = 60) -> str:
    if log is None or not log.exists():
        return ""
    return "\n--- last lines of the log ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


class Browser:
    """A cookie-keeping HTTP client that logs in through the console's own form."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect())

    def get(self, path: str) -> tuple[int, str, dict[str, str]]:
        return self._open(urllib.request.Request(self.base + path))

    def _open(self, request: urllib.request.Request) -> tuple[int, str, dict[str, str]]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode("utf-8", "replace"), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace"), dict(error.headers)

    def log_in(self, username: str, password: str) -> None:
        status, page, _ = self.get("/login/")
        if status != 200:
            raise CheckFailed(f"GET /login/ answered {status}")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if token is None:
            raise CheckFailed("the login page has no CSRF token")
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), "username": username,
                                       "password": password}).encode()
        request = urllib.request.Request(self.base + "/login/", data=body, method="POST",
                                         headers={"Referer": self.base + "/login/"})
        status, page, headers = self._open(request)
        if status != 302:
            raise CheckFailed(f"logging in as {username} answered {status}, not a redirect")
        status, page, _ = self.get(headers.get("Location", "/"))
        if status != 200 or username not in page:
            raise CheckFailed(f"after logging in as {username} the console answered {status} without the username")

    def devices(self, query: str) -> list[dict]:
        status, body, _ = self.get(f"/api/devices/?{query}")
        if status != 200:
            raise CheckFailed(f"GET /api/devices/?{query} answered {status}: {body[:300]}")
        data = json.loads(body)
        return data if isinstance(data, list) else data["results"]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def database_counts(database: Path) -> tuple[int, int]:
    """(devices Online, of them without a live session), read from the portal's SQLite file."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=20) as db:
        online = db.execute("SELECT count(*) FROM assets_device WHERE online").fetchone()[0]
        unconnected = db.execute(
            "SELECT count(*) FROM assets_device WHERE online AND id NOT IN "
            "(SELECT device_id FROM connectivity_devicesession)").fetchone()[0]
    return online, unconnected


def log_lines_about(log: Path, text: str) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if text in line]


def run(work: Path) -> None:
    steps = quick_start_command()
    portal = work / "portal"
    portal.mkdir()
    copy_repository(portal)
    env = newcomer_environment(work)
    install_log = work / "install.log"
    started = time.monotonic()
    with install_log.open("w") as out:
        installed = subprocess.run(f"{steps[0]} && {steps[1]}", shell=True, cwd=portal, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    if installed.returncode != 0:
        raise CheckFailed(f"`{steps[0]} && {steps[1]}` failed ({installed.returncode})" + tail(install_log))
    print(f"  installed into a fresh .venv in {time.monotonic() - started:.0f} s")

    port = free_port()
    log = work / "run_portal.log"
    command = [*shlex.split(steps[2]), "--port", str(port)]
    with log.open("w") as out:
        # a session of its own: SIGINT to its group is the terminal's Ctrl-C, and what is left of
        # the group afterwards is what the command left running
        process = subprocess.Popen(command, cwd=portal, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        check_running_portal(process, port, log, portal / "var" / "portal.sqlite3")
    finally:
        stop(process, port, log)


def check_running_portal(process: subprocess.Popen, port: int, log: Path, database: Path) -> None:
    base = f"http://127.0.0.1:{port}"
    wait_until("the console line", lambda: log_lines_about(log, f"Console: {base}/"), START_SECONDS, process, log)
    simulated = wait_until("the simulator line",
                           lambda: re.search(r"Connecting the (\d+) demo devices", log.read_text()),
                           START_SECONDS, process, log)
    expected_online = int(simulated.group(1))
    if expected_online < 40:
        raise CheckFailed(f"run_portal connects only {expected_online} demo devices")

    def console_answers() -> bool:
        try:
            return Browser(base).get("/login/")[0] == 200
        except OSError:
            return False

    wait_until("the console to answer", console_answers, START_SECONDS, process, log)
    manager = Browser(base)
    manager.log_in(USER, PASSWORD)
    print(f"  the console answers on {base}/ and {USER} logs in")

    # every device meant to be Online is, and none is Online without a connection
    wait_until(f"{expected_online} devices Online", lambda: database_counts(database)[0] >= expected_online,
               CONNECT_SECONDS, process, log)
    online, unconnected = database_counts(database)
    if online != expected_online or unconnected:
        raise CheckFailed(f"{online} devices Online (expected {expected_online}), {unconnected} without a session")
    shown = manager.devices("status=online&pageSize=200")
    if not shown or any(device.get("status") != "online" for device in shown):
        raise CheckFailed(f"the API shows no Online device to {USER}: {shown[:2]}")
    print(f"  {online} simulated devices are Online, each with a live session; {USER} sees {len(shown)}")

    # one line per request; a refused write (403) prints no traceback
    viewer = Browser(base)
    viewer.log_in(VIEWER, PASSWORD)
    edit = f"/devices/{shown[0]['assetId']}/edit/"
    status = viewer.get(edit)[0]
    if status != 403:
        raise CheckFailed(f"GET {edit} as {VIEWER} answered {status}, not 403")
    missing = "/no-such-page-quickstart/"
    if viewer.get(missing)[0] != 404:
        raise CheckFailed(f"GET {missing} did not answer 404")
    for path in (edit, missing):
        lines = wait_until(f"the log line of {path}", lambda p=path: log_lines_about(log, p), 30, process, log)
        if len(lines) != 1:
            raise CheckFailed(f"{len(lines)} log lines for one request to {path}:\n" + "\n".join(lines))
    print("  a 403 and a 404 are one log line each")


def stop(process: subprocess.Popen, port: int, log: Path) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
    try:
        code = process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise CheckFailed(f"run_portal did not stop within {STOP_SECONDS} s of Ctrl-C" + tail(log)) from None

    def group_gone() -> bool:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    try:
        wait_until("the last process of run_portal to exit", group_gone, 10)
    except CheckFailed:
        left = subprocess.run(["ps", "-o", "pid,args", "--no-headers", "-s", str(process.pid)], capture_output=True,
                              text=True).stdout
        os.killpg(process.pid, signal.SIGKILL)
        raise CheckFailed(f"run_portal exited but left processes running:\n{left}") from None
    if code != 0:
        raise CheckFailed(f"run_portal exited with status {code} after Ctrl-C" + tail(log))
    if not port_is_free(port):
        raise CheckFailed(f"port {port} is still taken after run_portal stopped")
    text = log.read_text(errors="replace")
    if "Traceback" in text:
        raise CheckFailed("the log holds a traceback" + tail(log, 200))
    print(f"  Ctrl-C stopped it cleanly (status 0, nothing left running); {len(text.splitlines())} lines of log")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="Keep the temporary copy (its path is printed).")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="quickstart-"))
    print(f"Quick start of the README in a fresh copy ({work})")
    try:
        run(work)
    except CheckFailed as failure:
        print(f"QUICK START FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("Quick start OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

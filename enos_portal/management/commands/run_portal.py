"""One command for the whole portal: migrate, load the demo data, start the Celery worker with
beat, and serve HTTP + websockets with daphne. The quick start of the README."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

# reports per second per simulated device: ~90 devices at one report every 10 s keep SQLite at ease
SIMULATED_RATE = 0.1


def sole_server_of_its_database() -> bool:
    """On SQLite (the embedded default) run_portal is the one server of its database."""
    from django.db import connection

    return connection.vendor == "sqlite"


class Command(BaseCommand):
    help = "Run the portal: migrate, demo data, Celery worker + beat, and the ASGI server."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo data.")
        parser.add_argument("--no-worker", action="store_true", help="Do not start the Celery worker.")
        parser.add_argument("--simulate", type=int, default=None, metavar="N",
                            help="Keep the demo devices meant to look Online connected with simulated traffic "
                                 "(default: all of them; N: the first N; 0: none, and no demo device is Online).")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        if not options["no_demo"]:
            call_command("load_demo_data")
        self._end_sessions_of_the_last_run()
        # a SIGTERM (not only Ctrl-C) must also stop the children: turn it into SystemExit
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        children: list[subprocess.Popen] = []
        if not options["no_worker"]:
            children.append(self._start_worker())
        if options["simulate"] != 0 and not options["no_demo"]:
            children.append(self._start_simulator(options["addr"], options["port"], options["simulate"]))
        try:
            self.stdout.write(f"Console: http://{options['addr']}:{options['port']}/  (Ctrl-C stops everything)")
            call_command("runserver", f"{options['addr']}:{options['port']}", use_reloader=False,
                         use_threading=True)
        finally:
            for child in children:
                child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()

    def _end_sessions_of_the_last_run(self) -> None:
        """On the embedded default this is the only server of its database, and it has not started yet:
        a session left in the database is one the last run's server held when it stopped (daphne drops
        its connections without closing them). Its device is not connected: it goes Offline now, not
        when the beat sweep notices, three heartbeats later. A server on PostgreSQL may share the
        database with others still running: there the sweep alone decides."""
        from connectivity import services

        if not sole_server_of_its_database():
            return
        ended = services.end_stale_sessions(dt.timedelta(0))
        if ended:
            self.stdout.write(f"{ended} device(s) still shown Online from the last run set Offline.")

    def _start_worker(self) -> subprocess.Popen:
        from django.conf import settings

        schedule = str(settings.VAR_DIR / "celerybeat-schedule")
        command = [sys.executable, "-m", "celery", "-A", "enos_portal", "worker", "--beat", "--schedule", schedule,
                   "--loglevel", "INFO", "--concurrency", "2"]
        self.stdout.write("Starting the Celery worker with beat.")
        return subprocess.Popen(command, env=os.environ.copy())

    def _start_simulator(self, addr: str, port: int, limit: int | None) -> subprocess.Popen:
        from django.conf import settings

        from assets.management.commands.load_demo_data import DEMO_OUS, simulated_device_keys

        keys = [key for spec in DEMO_OUS for key in simulated_device_keys(spec)][:limit]
        host = "127.0.0.1" if addr in ("0.0.0.0", "::") else addr
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "simulate_devices",
                   *[arg for spec in DEMO_OUS for arg in ("--ou", spec.name)], "--keys", ",".join(keys),
                   "--count", str(len(keys)), "--url", f"ws://{host}:{port}/ws/device/", "--rate", str(SIMULATED_RATE),
                   "--duration", "0", "--wait-for-server", "60"]
        self.stdout.write(f"Connecting the {len(keys)} demo devices meant to be Online (simulate_devices; "
                          "a gateway brings its sub-devices).")
        return subprocess.Popen(command, env=os.environ.copy())

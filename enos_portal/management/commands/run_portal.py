"""One command for the whole portal: migrate, load the demo data, start the Celery worker with
beat, and serve HTTP + websockets with daphne. The quick start of the README."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the portal: migrate, demo data, Celery worker + beat, and the ASGI server."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo data.")
        parser.add_argument("--no-worker", action="store_true", help="Do not start the Celery worker.")
        parser.add_argument("--simulate", type=int, default=3, metavar="N",
                            help="Keep N demo devices online with simulated traffic (0: none).")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        if not options["no_demo"]:
            call_command("load_demo_data")
        # a SIGTERM (not only Ctrl-C) must also stop the children: turn it into SystemExit
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        children: list[subprocess.Popen] = []
        if not options["no_worker"]:
            children.append(self._start_worker())
        if options["simulate"] > 0 and not options["no_demo"]:
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

    def _start_worker(self) -> subprocess.Popen:
        from django.conf import settings

        schedule = str(settings.VAR_DIR / "celerybeat-schedule")
        command = [sys.executable, "-m", "celery", "-A", "enos_portal", "worker", "--beat", "--schedule", schedule,
                   "--loglevel", "INFO", "--concurrency", "2"]
        self.stdout.write("Starting the Celery worker with beat.")
        return subprocess.Popen(command, env=os.environ.copy())

    def _start_simulator(self, addr: str, port: int, count: int) -> subprocess.Popen:
        from django.conf import settings

        from assets.management.commands.load_demo_data import DEMO_OUS

        host = "127.0.0.1" if addr in ("0.0.0.0", "::") else addr
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "simulate_devices", "--ou", DEMO_OUS[0].name,
                   "--count", str(count), "--url", f"ws://{host}:{port}/ws/device/", "--rate", "0.2",
                   "--duration", "0", "--wait-for-server", "60"]
        self.stdout.write(f"Keeping {count} demo devices of {DEMO_OUS[0].name} online (simulate_devices).")
        return subprocess.Popen(command, env=os.environ.copy())

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

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        if not options["no_demo"]:
            call_command("load_demo_data")
        children: list[subprocess.Popen] = []
        if not options["no_worker"]:
            children.append(self._start_worker())
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

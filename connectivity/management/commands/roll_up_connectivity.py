"""`manage.py roll_up_connectivity --days 30`: count the devices online per hour over past days and rank the
most flapping devices now (the beat does the recent hours; this fills the hours before it began, e.g. after
an upgrade on a portal that already kept a connection history)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.timezone import now

from connectivity import rollup


class Command(BaseCommand):
    help = "Count the devices online per hour over the past days, and rank the most flapping devices."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=30, help="How many days back (default 30).")

    def handle(self, *args: Any, days: int, **options: Any) -> None:
        at = now()
        hours = rollup.roll_up_hours(at - dt.timedelta(days=max(days, 0)), at)
        kept = rollup.rank_flapping(at)
        self.stdout.write(f"{hours} hours counted, {kept} flapping devices ranked.")

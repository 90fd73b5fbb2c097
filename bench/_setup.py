"""Django for the benchmark scripts, configured on import (`import _setup` before any project import).

Settings are the project's own with DEBUG off, as production serves pages: cached templates,
no debug cursor except where a benchmark captures queries on purpose.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enos_portal.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
django.setup()


def ensure_database(*, recreate: bool, example: str) -> None:
    """The benchmark's PostgreSQL database (DATABASE_URL), created when missing (or dropped first), migrated.

    `example` names the database in the message shown when DATABASE_URL is not PostgreSQL.
    """
    import psycopg
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        sys.exit(f"Set DATABASE_URL to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/{example}")
    connections.close_all()
    with psycopg.connect(host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"] or None,
                         password=db["PASSWORD"] or None, dbname="postgres", autocommit=True) as admin:
        if recreate:
            admin.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone() is None:
            admin.execute(f'CREATE DATABASE "{db["NAME"]}"')
    call_command("migrate", verbosity=0)

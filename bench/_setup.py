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

"""The Celery app. Broker: Redis when REDIS_URL is set, kombu's filesystem transport otherwise."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enos_portal.settings")

app = Celery("enos_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
# each package with a tasks.py; the lambda defers the list until Django is set up
app.autodiscover_tasks(lambda: ["accounts", "assets", "assets.migration", "assets.batch", "assets.export", "tracing",
                                "connectivity", "observability", "fleet"])

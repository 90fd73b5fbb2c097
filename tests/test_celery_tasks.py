"""Every task beat schedules is one the worker knows: a tasks module left out of autodiscovery makes the
worker drop the beat's messages with a KeyError (run_portal's quick start showed it)."""

from __future__ import annotations

import importlib

from django.conf import settings

from enos_portal.celery import app


def test_the_worker_knows_every_task_beat_schedules():
    app.loader.import_default_modules()  # what a starting worker imports: the autodiscovered tasks modules
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled, "beat schedules nothing"
    assert scheduled - set(app.tasks) == set()


def test_every_app_with_a_tasks_module_is_autodiscovered():
    app.loader.import_default_modules()
    modules = {task.__module__ for name, task in app.tasks.items() if not name.startswith("celery.")}
    for label in settings.INSTALLED_APPS:
        try:
            importlib.import_module(f"{label}.tasks")
        except ModuleNotFoundError:
            continue
        assert f"{label}.tasks" in modules, f"{label}.tasks is not autodiscovered by enos_portal/celery.py"

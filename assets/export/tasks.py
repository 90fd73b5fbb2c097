"""Celery tasks of exports: thin wrappers around the service functions."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="assets.export.tasks.run_export")
def run_export(job_id: int) -> None:
    services.run_job(job_id)


@shared_task(name="assets.export.tasks.expire_exports")
def expire_exports() -> int:
    return services.expire_jobs()

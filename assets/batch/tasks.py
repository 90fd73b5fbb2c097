"""Celery tasks of batch jobs: thin wrappers that pass ids to the service functions."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="assets.batch.tasks.parse_batch")
def parse_batch(job_id: int) -> None:
    services.parse_job(job_id)


@shared_task(name="assets.batch.tasks.apply_batch")
def apply_batch(job_id: int, actor_id: int | None) -> None:
    services.run_apply_as(job_id, actor_id)


@shared_task(name="assets.batch.tasks.expire_batch_jobs")
def expire_batch_jobs() -> int:
    return services.expire_jobs()

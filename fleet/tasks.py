"""Celery tasks of jobs: thin wrappers around fleet.engine.

`run_job` drives a job step by step for a slice of time, then hands it on to a fresh task so other work
interleaves; `resume_jobs` (beat) restarts jobs no worker drives any more (a killed worker's job).
"""

from __future__ import annotations

import time

from celery import shared_task

from . import engine

SLICE_SECONDS = 20.0


@shared_task(name="fleet.tasks.run_job")
def run_job(job_id: int) -> None:
    slice_ends = time.monotonic() + engine.setting("FLEET_SLICE_SECONDS", SLICE_SECONDS)
    while True:
        wait = engine.run_step(job_id)
        if wait is None:
            return
        if time.monotonic() >= slice_ends:
            run_job.apply_async((job_id,), countdown=wait)
            return
        if wait:
            time.sleep(wait)


@shared_task(name="fleet.tasks.resume_jobs")
def resume_jobs() -> int:
    stalled = engine.stalled_jobs()
    for job_id in stalled:
        run_job.delay(job_id)
    return len(stalled)

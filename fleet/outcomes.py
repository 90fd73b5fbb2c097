"""Reads every door shares: a page of jobs with their counts, and a job's outcomes as CSV (streamed)."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import nullcontext

from django.db.models import Count
from django.http import StreamingHttpResponse
from django.utils import translation

from .models import ExecutionState, Job, JobExecution

MAX_RENDERED = 10_000  # distinct messages kept rendered during one export (the devices' own words vary)
CSV_COLUMNS = ["assetId", "deviceName", "stage", "state", "attempts", "message", "finishedAt"]


def with_counts(jobs: list[Job]) -> list[Job]:
    """Each job of the page gets `.counts` (executions per state), in one query for the page."""
    found: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (JobExecution.objects.filter(job_id__in=[job.pk for job in jobs]).order_by()
            .values_list("job_id", "state").annotate(n=Count("id")))
    for job_id, state, n in rows:
        found[job_id][state] = n
    for job in jobs:
        job.counts = {state: found[job.pk].get(state, 0) for state in ExecutionState.values}
    return jobs


def progress_percent(job: Job) -> int:
    counts = job.counts
    finished = sum(counts[s] for s in (ExecutionState.DONE, ExecutionState.FAILED, ExecutionState.SKIPPED,
                                       ExecutionState.CANCELLED))
    return 100 * finished // job.total if job.total else 100


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_rows(executions: Iterable[JobExecution], language: str | None = None) -> Iterator[str]:
    """The CSV's lines; messages in `language` (the request's: the response streams after the view returned)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    message = _message_renderer(language)
    for e in executions:
        yield writer.writerow([e.asset_id, _safe(e.device_name), e.stage, e.state, e.attempts, _safe(message(e)),
                               e.finished_at.isoformat() if e.finished_at else ""])


def _message_renderer(language: str | None) -> Callable[[JobExecution], str]:
    """Each execution's message in `language`, rendered once per distinct message (most executions share a
    few): a large export costs about what it did when the text was stored."""
    rendered: dict[Hashable, str] = {}

    def message(execution: JobExecution) -> str:
        if not execution.message_code:
            return execution.message
        key = (execution.message_code, tuple(sorted((execution.message_params or {}).items())))
        try:
            return rendered[key]
        except KeyError:
            pass
        except TypeError:  # a parameter that is a list or an object: not worth a key
            key = None
        with translation.override(language) if language else nullcontext():
            text = execution.display_message
        if key is not None and len(rendered) < MAX_RENDERED:
            rendered[key] = text
        return text

    return message


def _safe(text: str) -> str:
    # a cell starting with = + - @ is a formula to a spreadsheet: quote it as text
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


def csv_response(job: Job) -> StreamingHttpResponse:
    executions = job.executions.order_by("id").iterator(chunk_size=2000)
    response = StreamingHttpResponse(csv_rows(executions, translation.get_language()),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{job.public_id}-outcomes.csv"'
    return response

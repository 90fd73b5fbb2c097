"""A trace's logs as JSON lines, streamed in seq order a chunk at a time (100,000 logs stay off the heap).

Under ASGI the body is an async generator (Django would otherwise buffer a sync iterator whole);
the sync test client gets the same lines from a plain generator.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

from .models import MessageTrace, TraceLog
from .services import log_json

CHUNK = 2000


def _lines_after(trace: MessageTrace, after: int) -> tuple[str, int]:
    logs = list(TraceLog.objects.filter(trace=trace, seq__gt=after).order_by("seq")[:CHUNK])
    if not logs:
        return "", after
    asset_id = trace.device.asset_id if trace.device_id else None
    text = "".join(json.dumps({"traceId": trace.pk, "assetId": asset_id, **log_json(log)}, ensure_ascii=False)
                   + "\n" for log in logs)
    return text, logs[-1].seq


def _sync_lines(trace: MessageTrace) -> Iterator[str]:
    after = 0
    while True:
        text, after = _lines_after(trace, after)
        if not text:
            return
        yield text


async def _async_lines(trace: MessageTrace) -> AsyncIterator[str]:
    after = 0
    while True:
        text, after = await sync_to_async(_lines_after)(trace, after)
        if not text:
            return
        yield text


def jsonl_response(request: Any, trace: MessageTrace) -> StreamingHttpResponse:
    django_request = getattr(request, "_request", request)  # a DRF Request wraps Django's
    lines = _async_lines(trace) if isinstance(django_request, ASGIRequest) else _sync_lines(trace)
    response = StreamingHttpResponse(lines, content_type="application/x-ndjson; charset=utf-8")
    asset_id = trace.device.asset_id if trace.device_id else "device"
    response["Content-Disposition"] = f'attachment; filename="trace-{asset_id}-{trace.pk}.jsonl"'
    return response

"""The device's Tracing tab: start/extend/stop a trace, the live log list, and past traces' logs.

Access goes through assets' helper (the device visible, else 404; writes need write access, else
403); writes go through tracing.services.

A log row and the trace's status line are rendered here only, by `tracing/_log_row.html` and
`tracing/_trace_status.html`: for the page, for the rows the live socket pushes (consumers.py) and
for the rows the live page fetches to fill a gap (`trace_logs` with ?after=<seq>). Times are
rendered in the user's time zone, named (accounts.time_zones; the socket renders in the same zone).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from accounts.errors import DomainError
from accounts.time_zones import time_html
from assets.access import get_device_for
from assets.views.common import console_view, report

from . import services
from .access import get_trace_for, traces_of
from .downloads import jsonl_response
from .forms import DurationForm
from .models import Outcome, TraceLog

LIVE_ROWS = 200  # logs the tab shows on opening; older ones are a click away
PAGE_ROWS = 100
FILL_ROWS = 500  # rows one gap-fill request of the live page gets
PAST_TRACES = 20


# --- rendering shared with the live socket -----------------------------------------------------------

def _time_html(value: datetime | str | None) -> SafeString | str:
    """A time of the status line in the active zone, named (as services.trace_json gives it: ISO text)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return time_html(value)


def status_context(trace: dict[str, Any] | None) -> dict[str, Any]:
    """What the status line says about a trace (as services.trace_json shapes it), or of no trace."""
    if trace is None:
        return {"status": None}
    return {"status": {
        "active": trace["active"], "reason": trace["stopReason"], "started_by": trace["startedBy"],
        "started": _time_html(trace["startedAt"]), "until": _time_html(trace["expiresAt"]),
        "ended": _time_html(trace["stoppedAt"]),
    }}


def render_status(trace: dict[str, Any] | None) -> str:
    return render_to_string("tracing/_trace_status.html", status_context(trace))


def log_from_json(log: dict[str, Any]) -> TraceLog:
    """An unsaved TraceLog from a pushed log (services.log_json), for the row template."""
    return TraceLog(seq=log["seq"], time=parse_datetime(log["time"]), direction=log["direction"],
                    method=log["method"], outcome=log["outcome"], code=log["code"], message=log["message"],
                    payload=log["payload"])


def render_rows(logs: list[TraceLog]) -> list[str]:
    return [render_to_string("tracing/_log_row.html", {"log": log}) for log in logs]


def _tab(asset_id: str) -> HttpResponse:
    return redirect("tracing:device-tracing", asset_id=asset_id)


@console_view
def device_tracing(request: HttpRequest, asset_id: str) -> HttpResponse:
    device, writable = get_device_for(request.user, asset_id)
    traces = list(traces_of(request.user, device)[:PAST_TRACES + 1])
    current = traces[0] if traces and traces[0].is_active else None
    past = [t for t in traces if t is not current][:PAST_TRACES]
    logs = list(TraceLog.objects.filter(trace=current).order_by("-seq")[:LIVE_ROWS]) if current else []
    trace = services.trace_json(current) if current else None
    state = {
        "assetId": device.asset_id,
        "rowsUrl": reverse("tracing:trace-logs", args=[device.asset_id, 0]).replace("/0/", "/{id}/"),
        "trace": trace,
        "lastSeq": logs[0].seq if logs else 0,
    }
    return render(request, "tracing/device_tracing.html", {
        "device": device, "writable": writable, "tab": "tracing", "current": current, "logs": logs,
        "more_logs": current is not None and current.kept_logs > len(logs), "past": past, "state": state,
        "ws_path": f"/ws/devices/{device.asset_id}/trace/", "form": DurationForm(), "outcomes": list(Outcome.values),
        **status_context(trace),
    })


@console_view
@require_POST
def trace_start(request: HttpRequest, asset_id: str) -> HttpResponse:
    device, _ = get_device_for(request.user, asset_id, write=True)
    form = DurationForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.first_error())
        return _tab(asset_id)
    try:
        services.start_trace(request.user, device, form.duration)
    except DomainError as error:
        report(request, error)
    else:
        # the status line says until when, in the user's time zone
        messages.success(request, gettext("Message trace started."))
    return _tab(asset_id)


@console_view
@require_POST
def trace_extend(request: HttpRequest, asset_id: str, trace_id: int) -> HttpResponse:
    device, _ = get_device_for(request.user, asset_id, write=True)
    trace = get_trace_for(request.user, trace_id, device)
    form = DurationForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.first_error())
        return _tab(asset_id)
    try:
        services.extend_trace(request.user, trace, form.duration)
    except DomainError as error:
        report(request, error)
    else:
        messages.success(request, gettext("Message trace extended."))
    return _tab(asset_id)


@console_view
@require_POST
def trace_stop(request: HttpRequest, asset_id: str, trace_id: int) -> HttpResponse:
    device, _ = get_device_for(request.user, asset_id, write=True)
    trace = get_trace_for(request.user, trace_id, device)
    try:
        services.stop_trace(request.user, trace)
    except DomainError as error:
        report(request, error)
    else:
        messages.success(request, gettext("Message trace stopped."))
    return _tab(asset_id)


@console_view
def trace_logs(request: HttpRequest, asset_id: str, trace_id: int) -> HttpResponse:
    """A trace's logs, newest first, a page at a time (keyset on seq: ?before=<seq>).

    With ?after=<seq>: only the rows after that seq, oldest first, at most FILL_ROWS of them (the
    live page fills a gap with these)."""
    device, writable = get_device_for(request.user, asset_id)
    trace = get_trace_for(request.user, trace_id, device)
    if "after" in request.GET:
        after = request.GET["after"]
        if not (after.isascii() and after.isdigit() and len(after) < 19):
            return HttpResponseBadRequest(gettext("after must be a log sequence number (0 or more)."),
                                          content_type="text/plain; charset=utf-8")
        fill = list(TraceLog.objects.filter(trace=trace, seq__gt=int(after)).order_by("seq")[:FILL_ROWS])
        return HttpResponse("".join(render_rows(fill)))
    logs = TraceLog.objects.filter(trace=trace).order_by("-seq")
    before = request.GET.get("before", "")
    if before.isascii() and before.isdigit():
        logs = logs.filter(seq__lt=int(before))
    page = list(logs[:PAGE_ROWS + 1])
    older = page[PAGE_ROWS - 1].seq if len(page) > PAGE_ROWS else None
    return render(request, "tracing/trace_logs.html", {
        "device": device, "writable": writable, "tab": "tracing", "trace": trace, "logs": page[:PAGE_ROWS],
        "older": older, "first_page": not before, "started": _time_html(trace.started_at),
        **status_context(services.trace_json(trace)),
    })


@console_view
def trace_download(request: HttpRequest, asset_id: str, trace_id: int) -> StreamingHttpResponse:
    device, _ = get_device_for(request.user, asset_id)
    return jsonl_response(request, get_trace_for(request.user, trace_id, device))

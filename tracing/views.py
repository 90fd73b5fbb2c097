"""The device's Tracing tab: start/extend/stop a trace, the live log list, and past traces' logs.

Access goes through assets' helper (the device visible, else 404; writes need write access, else
403); writes go through tracing.services.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.errors import DomainError
from assets.access import get_device_for
from assets.views.common import console_view, report

from . import services
from .access import get_trace_for, traces_of
from .downloads import jsonl_response
from .forms import DurationForm
from .models import TraceLog

LIVE_ROWS = 200  # logs the tab shows on opening; older ones are a click away
PAGE_ROWS = 100
PAST_TRACES = 20


def _tab(asset_id: str) -> HttpResponse:
    return redirect("tracing:device-tracing", asset_id=asset_id)


@console_view
def device_tracing(request: HttpRequest, asset_id: str) -> HttpResponse:
    device, writable = get_device_for(request.user, asset_id)
    traces = list(traces_of(request.user, device)[:PAST_TRACES + 1])
    current = traces[0] if traces and traces[0].is_active else None
    past = [t for t in traces if t is not current][:PAST_TRACES]
    logs = list(TraceLog.objects.filter(trace=current).order_by("-seq")[:LIVE_ROWS]) if current else []
    state = {
        "assetId": device.asset_id,
        "wsPath": f"/ws/devices/{device.asset_id}/trace/",
        "logsUrl": reverse("tracing-api:trace-logs", kwargs={"traceId": 0}).replace("/0/", "/{id}/"),
        "trace": services.trace_json(current) if current else None,
        "lastSeq": logs[0].seq if logs else 0,
    }
    return render(request, "tracing/device_tracing.html", {
        "device": device, "writable": writable, "tab": "tracing", "current": current, "logs": logs,
        "more_logs": current is not None and current.kept_logs > len(logs), "past": past, "state": state,
        "form": DurationForm(),
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
        trace = services.start_trace(request.user, device, form.duration)
    except DomainError as error:
        report(request, error)
    else:
        messages.success(request, f"Message trace started; it records until "
                                  f"{trace.expires_at:%Y-%m-%d %H:%M:%S} UTC.")
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
        messages.success(request, f"Message trace extended until {trace.expires_at:%Y-%m-%d %H:%M:%S} UTC.")
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
        messages.success(request, "Message trace stopped.")
    return _tab(asset_id)


@console_view
def trace_logs(request: HttpRequest, asset_id: str, trace_id: int) -> HttpResponse:
    """A trace's logs, newest first, a page at a time (keyset on seq: ?before=<seq>)."""
    device, writable = get_device_for(request.user, asset_id)
    trace = get_trace_for(request.user, trace_id, device)
    logs = TraceLog.objects.filter(trace=trace).order_by("-seq")
    before = request.GET.get("before", "")
    if before.isascii() and before.isdigit():
        logs = logs.filter(seq__lt=int(before))
    page = list(logs[:PAGE_ROWS + 1])
    older = page[PAGE_ROWS - 1].seq if len(page) > PAGE_ROWS else None
    return render(request, "tracing/trace_logs.html", {
        "device": device, "writable": writable, "tab": "tracing", "trace": trace, "logs": page[:PAGE_ROWS],
        "older": older, "first_page": not before,
    })


@console_view
def trace_download(request: HttpRequest, asset_id: str, trace_id: int) -> StreamingHttpResponse:
    device, _ = get_device_for(request.user, asset_id)
    return jsonl_response(request, get_trace_for(request.user, trace_id, device))

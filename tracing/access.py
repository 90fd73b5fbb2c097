"""Finding a trace a user may see: through the device (assets' rules), then the trace's own OU scope."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404

from assets.models import Device

from .models import MessageTrace


def traces_of(user: Any, device: Device):
    return MessageTrace.objects.visible_to(user).filter(device=device).select_related("device", "started_by",
                                                                                      "stopped_by")


def get_trace_for(user: Any, trace_id: int, device: Device | None = None) -> MessageTrace:
    traces = MessageTrace.objects.visible_to(user).select_related("device", "ou", "started_by", "stopped_by")
    if device is not None:
        traces = traces.filter(device=device)
    return get_object_or_404(traces, pk=trace_id)

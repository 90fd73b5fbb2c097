from typing import Any

from axes.helpers import get_cool_off
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from .ous import switch_ou


@login_required
@require_POST
def switch_ou_view(request: HttpRequest) -> HttpResponse:
    ou = switch_ou(request, request.POST.get("ou_id", ""))
    if ou is None:
        messages.error(request, gettext("You are not a member of that OU."))
    next_url = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    # the page of another OU's object would 404 after switching: go to the list instead
    return redirect(next_url or "assets:device-list")


def locked_out(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """What a locked-out login (console or admin) answers: django-axes' AXES_LOCKOUT_CALLABLE.

    Every refused try restarts the cool-off (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), so the
    whole cool-off is the honest wait. axes calls this with (request, response, credentials), or
    with (request, credentials) on its async path: neither argument is needed here.
    """
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 0
    response = render(request, "registration/locked_out.html",
                      {"minutes": max(1, -(-seconds // 60)) if seconds else 0}, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response

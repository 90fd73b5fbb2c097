from typing import Any

from axes.helpers import get_cool_off
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from .errors import DomainError
from .forms import ProfileForm
from .ous import switch_ou
from .services import set_time_zone
from .time_zones import zone_for


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


@login_required
@require_http_methods(["GET", "POST"])
def profile_view(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own settings (only theirs: the page has no user in its URL)."""
    browser = zone_for(None, request.COOKIES)
    browser_zone = browser.name if browser.source == "browser" else ""
    if request.method == "POST":
        form = ProfileForm(request.POST, browser_zone=browser_zone)
        if form.is_valid():
            try:
                set_time_zone(request.user, request.user, form.cleaned_data["time_zone"])
            except DomainError as error:
                form.add_error(error.field, error.message)
            else:
                messages.success(request, _("Your profile is saved."))
                return redirect("accounts:profile")
        return render(request, "accounts/profile.html", {"form": form}, status=400)
    form = ProfileForm(initial={"time_zone": request.user.time_zone}, browser_zone=browser_zone)
    return render(request, "accounts/profile.html", {"form": form})


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

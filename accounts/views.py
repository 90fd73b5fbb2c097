from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .ous import switch_ou


@login_required
@require_POST
def switch_ou_view(request: HttpRequest) -> HttpResponse:
    ou = switch_ou(request, request.POST.get("ou_id", ""))
    if ou is None:
        messages.error(request, "You are not a member of that OU.")
    next_url = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    # the page of another OU's object would 404 after switching: go to the list instead
    return redirect(next_url or "assets:device-list")

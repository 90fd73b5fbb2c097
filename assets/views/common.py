"""Helpers the console views share: the current OU, turning domain errors into messages, deleting."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy

from accounts.errors import DomainError
from accounts.models import OrganizationUnit
from accounts.ous import current_ou as get_current_ou
from accounts.permissions import CHANGE, can


def console_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login required, and a current OU to work in (else a page saying the user has none)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if current_ou(request) is None:
            return render(request, "assets/no_ou.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def current_ou(request: HttpRequest) -> OrganizationUnit:
    return get_current_ou(request)  # type: ignore[return-value]  # console_view made sure there is one


def can_write(request: HttpRequest) -> bool:
    return can(request.user, CHANGE, current_ou(request).pk)


# by kind of object: whole sentences, so that each language words them its own way
DELETED = {"device": gettext_lazy("Device %(name)s deleted."), "product": gettext_lazy("Product %(name)s deleted."),
           "model": gettext_lazy("Model %(name)s deleted.")}
SAVED = {"product": gettext_lazy("Product %(name)s saved."), "model": gettext_lazy("Model %(name)s saved.")}


def report(request: HttpRequest, error: DomainError) -> None:
    messages.error(request, error.message)


def confirm_delete(request: HttpRequest, instance: Any, kind: str, delete: Callable[[Any, Any], None],
                   detail_url: str, list_url: str, refusal: str = "") -> HttpResponse:
    """The confirmation page; on POST, `delete(actor, instance)` (a service), then the list, or on a refusal
    back to the instance's page with the reason. `refusal`: why the service would refuse now, said on the
    confirmation page instead of offering a Delete that cannot succeed."""
    if request.method == "POST":
        try:
            delete(request.user, instance)
        except DomainError as error:
            report(request, error)
            return redirect(detail_url)
        messages.success(request, DELETED.get(kind, DELETED["device"]) % {"name": instance.name})
        return redirect(list_url)
    # asked by htmx (the row menu's or the details page's Delete): the same confirmation as a modal dialog
    template = "assets/_confirm_delete_dialog.html" if request.htmx else "assets/confirm_delete.html"
    return render(request, template, {"object": instance, "kind": kind, "cancel": detail_url, "refusal": refusal})

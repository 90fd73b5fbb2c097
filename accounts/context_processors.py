from django.http import HttpRequest

from .ous import ous_visible_to


def current_ou(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_ou": getattr(request, "current_ou", None),
        # evaluated lazily by the template: no query on pages that do not render the switcher
        "switchable_ous": ous_visible_to(user),
    }

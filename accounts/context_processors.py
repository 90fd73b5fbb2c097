from django.http import HttpRequest

from .ous import current_ou as get_current_ou
from .ous import ous_visible_to


def current_ou(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        # a callable: the template calls it only where it is used (not on admin pages)
        "current_ou": lambda: get_current_ou(request),
        # evaluated lazily by the template: no query on pages that do not render the switcher
        "switchable_ous": ous_visible_to(user),
    }

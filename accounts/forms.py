from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .time_zones import grouped_time_zones


class ProfileForm(forms.Form):
    """The user's own settings. The zone list is every IANA zone the server knows, by region."""

    time_zone = forms.ChoiceField(label=_("Time zone"), required=False,
                                  help_text=_("Every time in the console is shown in this zone."))

    def __init__(self, *args: Any, browser_zone: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        follow = (_("Browser default (currently: %(zone)s)") % {"zone": browser_zone} if browser_zone
                  else _("Browser default"))
        field = self.fields["time_zone"]
        field.choices = [("", follow), *grouped_time_zones()]  # type: ignore[attr-defined]
        field.error_messages["invalid_choice"] = _("“%(value)s” is not a time zone. Choose one from the list.")

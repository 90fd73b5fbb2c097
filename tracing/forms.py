"""The duration a trace runs (or is extended by): an amount and a unit, as the console asks for it."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

UNITS = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1), "days": timedelta(days=1)}


class DurationForm(forms.Form):
    amount = forms.IntegerField(min_value=1, max_value=100_000, initial=30,
                                label=_("Duration"), error_messages={"required": _("Enter the trace duration.")})
    unit = forms.ChoiceField(label=_("Unit"), initial="minutes",
                             choices=[("minutes", _("Minutes")), ("hours", _("Hours")), ("days", _("Days"))])

    @property
    def duration(self) -> timedelta:
        return self.cleaned_data["amount"] * UNITS[self.cleaned_data["unit"]]

    def first_error(self) -> str:
        for errors in self.errors.values():
            return str(errors[0])
        return str(_("Enter the trace duration."))

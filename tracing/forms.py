"""The duration a trace runs (or is extended by): an amount and a unit, as the console asks for it."""

from __future__ import annotations

from datetime import timedelta

from django import forms

UNITS = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1), "days": timedelta(days=1)}


class DurationForm(forms.Form):
    amount = forms.IntegerField(min_value=1, max_value=100_000, initial=30,
                                error_messages={"required": "Enter the trace duration."})
    unit = forms.ChoiceField(choices=[(u, u.capitalize()) for u in UNITS], initial="minutes")

    @property
    def duration(self) -> timedelta:
        return self.cleaned_data["amount"] * UNITS[self.cleaned_data["unit"]]

    def first_error(self) -> str:
        for errors in self.errors.values():
            return str(errors[0])
        return "Enter the trace duration."

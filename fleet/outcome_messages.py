"""Outcome messages of jobs, stored as a code and its parameters and rendered in the reader's language.

The engine writes an execution's (or a job's) outcome long before anyone reads it, and in no reader's
language: it stores `message_code` and `message_params` (JSON), and every door (the console, the CSV export,
the API) renders them with gettext when it reads them, in the language of the request. `message` keeps the
text in the source language (English): the fallback for rows written before the codes existed.

The messages assets.bulk and the connectivity commands give back are plain texts: the engine runs the
actions with translation deactivated, so they come back as their msgids (formatted), and `from_text` maps
them back to a code and its parameters with the patterns below. A text no pattern knows keeps the code
`text`: rendered with gettext of the whole text, which translates it when it is a catalog msgid.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext, gettext_noop

TEXT = "text"  # no known message: the text itself, translated when it is a msgid

# the engine's and the job services' own messages
FLEET_TEXTS: dict[str, str] = {
    "worker_lost_twice": gettext_noop("The worker running it stopped twice: not tried again."),
    "device_offline": gettext_noop("The device is offline."),
    "deadline_passed": gettext_noop("The deadline passed before the device came online."),
    "device_gone": gettext_noop("The device no longer exists in this OU."),
    "creator_gone": gettext_noop("The user who started the job no longer exists."),
    "command_offline": gettext_noop("The device is offline: the command was not sent."),
    "command_timeout": gettext_noop("%(code)s: No reply within %(seconds)s s."),
    "command_error": "%(code)s: %(message)s",  # the device's own words: nothing to translate around them
    "job_aborted_executions": gettext_noop("The job was aborted."),
    "job_cancelled_executions": gettext_noop("The job was cancelled."),
    "job_cancelled_by": gettext_noop("Cancelled by %(user)s."),
    "job_aborted": gettext_noop("Aborted: %(failed)d of %(finished)d executions failed (%(percent).1f %%), "
                               "at or above the %(threshold)g %% threshold."),
}

# what assets.bulk (and the validators it calls) answer per device: the msgids as assets marks them (left
# unmarked here, so the catalogs do not carry them twice). tests/fleet/test_outcome_messages.py checks them.
BULK_TEXTS: dict[str, str] = {
    "not_found": "not found",
    "already_enabled": "already enabled",
    "already_disabled": "already disabled",
    "tags_unchanged": "tags unchanged",
    "no_such_tags": "has none of these tags",
    "attributes_unchanged": "attributes unchanged",
    "no_tags_given": "Give at least one tag.",
    "no_tag_keys_given": "Give at least one tag key.",
    "no_attributes_given": "Give at least one attribute.",
    "too_many_tags": "a device can have at most %(maximum)d tags, got %(count)d",
    "tags_not_an_object": "tags must be an object of key: value pairs",
    "bad_tag_key": 'tag key "%(key)s" must be 1 to 50 letters, digits or _ - /',
    "tag_value_not_text": 'tag "%(key)s" must have a text value',
    "tag_value_too_long": 'tag "%(key)s" value is %(length)d characters; the maximum is %(maximum)d',
    "attributes_not_an_object": "attributes must be an object of identifier: value",
    "attribute_required": 'attribute "%(identifier)s" is required',
    "not_an_attribute": '"%(identifier)s" is not an attribute of model %(model)s',
    "attribute_problem": 'attribute "%(identifier)s": %(problem)s',
}

TEXTS: dict[str, str] = {**FLEET_TEXTS, **BULK_TEXTS}

# parameters that are themselves texts of the portal (translated when they are msgids); the others are
# names, numbers and identifiers, shown as they are
TEXT_PARAMS = frozenset({TEXT, "problem", "message"})

_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)[-#0 +]?\d*(?:\.\d+)?([sdfg])")
_VALUE_PATTERNS = {"s": r".*?", "d": r"-?\d+", "f": r"-?[\d.]+", "g": r"-?[\d.e+-]+"}


@dataclass(frozen=True)
class Message:
    """An outcome: a code of TEXTS (or `text`) and its parameters (JSON values)."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, code: str, /, **params: Any) -> Message:
        return cls(code, params)

    def source(self) -> str:
        """The text in the source language (English): the `message` column's fallback."""
        return _format(TEXTS.get(self.code), self.params, translate=False)[:500]

    def render(self) -> str:
        """The text in the active language."""
        return render(self.code, self.params, self.source())

    def key(self) -> tuple[str, str]:
        return self.code, json.dumps(self.params, sort_keys=True)

    def fields(self) -> dict[str, Any]:
        """The model fields this message writes (on a JobExecution or a Job)."""
        return {"message": self.source(), "message_code": self.code, "message_params": self.params}


NO_MESSAGE = {"message": "", "message_code": "", "message_params": {}}


def render(code: str, params: dict[str, Any] | None, fallback: str) -> str:
    """The stored message in the active language; `fallback` (the stored text) for rows without a code."""
    if not code:
        return fallback
    if code not in TEXTS and code != TEXT:
        return fallback  # a code a later version removed
    try:
        return _format(TEXTS.get(code), params or {}, translate=True)
    except (KeyError, ValueError, TypeError):  # a translation whose placeholders do not fit the parameters
        return fallback


def _format(msgid: str | None, params: dict[str, Any], *, translate: bool) -> str:
    def text(value: str) -> str:
        return gettext(value) if translate and value else value

    if msgid is None:  # TEXT
        return text(str(params.get(TEXT, "")))
    values = {name: text(value) if name in TEXT_PARAMS and isinstance(value, str) else value
              for name, value in params.items()}
    template = text(msgid)
    return template % values if values else template


def _pattern(msgid: str) -> tuple[re.Pattern[str], dict[str, str]]:
    parts, kinds, at = [], {}, 0
    for match in _PLACEHOLDER.finditer(msgid):
        parts.append(re.escape(msgid[at:match.start()]))
        at = match.end()
        if match.group(0) == "%%":
            parts.append("%")
            continue
        name, kind = match.group(1), match.group(2)
        kinds[name] = kind
        parts.append(f"(?P<{name}>{_VALUE_PATTERNS[kind]})")
    parts.append(re.escape(msgid[at:]))
    return re.compile("".join(parts), re.DOTALL), kinds


_EXACT = {msgid: code for code, msgid in TEXTS.items() if "%" not in msgid}
_PATTERNS = [(code, *_pattern(msgid)) for code, msgid in TEXTS.items() if "%" in msgid and code != "command_error"]


def from_text(text: str) -> Message:
    """The code and parameters of a message given as text in the source language (see the module's doc)."""
    if text in _EXACT:
        return Message(_EXACT[text])
    for code, pattern, kinds in _PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            return Message(code, {name: _typed(value, kinds[name]) for name, value in match.groupdict().items()})
    return Message(TEXT, {TEXT: text[:500]})


def _typed(value: str, kind: str) -> Any:
    try:
        return int(value) if kind == "d" else float(value) if kind in "fg" else value
    except ValueError:
        return value

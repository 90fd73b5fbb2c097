"""Rules for device fields, as EnOS states them. Each raises ValidationError with a clear message."""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# \Z, not $: "$" also matches before a trailing newline, which would let "abcd\n" through.
DEVICE_KEY_RE = re.compile(r"^[A-Za-z0-9\-_.:]{4,64}\Z")
TAG_KEY_RE = re.compile(r"^[A-Za-z0-9_\-/]{1,50}\Z")
# [0-9], not \d: \d also matches other scripts' digits ("+٠٨:٠٠"), which int() would accept.
OFFSET_RE = re.compile(r"^([+-])([0-9]{2}):([0-9]{2})\Z")
MAX_TAGS = 100
MAX_TAG_VALUE = 200
MAX_NAME = 64
NAME_FORBIDDEN_RE = re.compile(r"[\x00-\x1f\x7f<>]")


def validate_device_key(value: str) -> None:
    if not isinstance(value, str) or not DEVICE_KEY_RE.match(value):
        raise ValidationError(
            _('"%(value)s" is not a valid deviceKey: use 4 to 64 letters, digits or - _ . :') % {"value": value},
            code="invalid_device_key",
        )


def validate_device_name(value: str) -> None:
    if not value or not value.strip():
        raise ValidationError(_("The device name is required."), code="required")
    if len(value) > MAX_NAME:
        raise ValidationError(_("The device name is %(length)d characters; the maximum is %(maximum)d.")
                              % {"length": len(value), "maximum": MAX_NAME},
                              code="max_length")
    if NAME_FORBIDDEN_RE.search(value):
        raise ValidationError(_("The device name cannot contain control characters, < or >."), code="invalid")


@lru_cache(maxsize=1)
def iana_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_valid_timezone(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    match = OFFSET_RE.match(value)
    if match:
        sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3))
        if minutes not in (0, 15, 30, 45):
            return False
        total = hours * 60 + minutes
        return total <= (14 * 60 if sign == "+" else 12 * 60)
    return value in iana_zones()


def validate_timezone(value: str) -> None:
    if not is_valid_timezone(value):
        raise ValidationError(_('"%(zone)s" is not a valid time zone') % {"zone": value}, code="invalid_timezone")


def tag_problems(tags: Any) -> list[str]:
    if not isinstance(tags, dict):
        return [_("tags must be an object of key: value pairs")]
    problems = []
    if len(tags) > MAX_TAGS:
        problems.append(_("a device can have at most %(maximum)d tags, got %(count)d")
                        % {"maximum": MAX_TAGS, "count": len(tags)})
    for key, value in tags.items():
        if not isinstance(key, str) or not TAG_KEY_RE.match(key):
            problems.append(_('tag key "%(key)s" must be 1 to 50 letters, digits or _ - /') % {"key": key})
        if not isinstance(value, str):
            problems.append(_('tag "%(key)s" must have a text value') % {"key": key})
        elif len(value) > MAX_TAG_VALUE:
            problems.append(_('tag "%(key)s" value is %(length)d characters; the maximum is %(maximum)d')
                            % {"key": key, "length": len(value), "maximum": MAX_TAG_VALUE})
    return problems


def validate_tags(tags: Any) -> None:
    problems = tag_problems(tags)
    if problems:
        raise ValidationError(problems, code="invalid_tags")

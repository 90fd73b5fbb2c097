"""Device field rules as EnOS states them: deviceKey, name, time zone, tags."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from assets.validators import (
    is_valid_timezone,
    tag_problems,
    validate_device_key,
    validate_device_name,
    validate_tags,
    validate_timezone,
)


@pytest.mark.parametrize("key", ["abcd", "a" * 64, "inv-0001", "A.b_c:d-9", "0000", "mac:00:1A:2b"])
def test_device_key_of_4_to_64_allowed_characters_is_valid(key):
    validate_device_key(key)


@pytest.mark.parametrize("key", [
    pytest.param("abc", id="too-short"),
    pytest.param("a" * 65, id="too-long"),
    pytest.param("", id="empty"),
    pytest.param("has space", id="space"),
    pytest.param("a/bcd", id="slash"),
    pytest.param("ключ-1", id="non-ascii-letters"),
    pytest.param("abcd\n", id="trailing-newline"),
    pytest.param(None, id="none"),
])
def test_device_key_outside_the_rules_is_refused(key):
    with pytest.raises(ValidationError) as error:
        validate_device_key(key)
    assert error.value.code == "invalid_device_key"
    assert "4 to 64" in error.value.messages[0]


@pytest.mark.parametrize("name", ["Inverter 1", "逆变器 #3 (roof)", "x" * 64])
def test_device_name_is_valid(name):
    validate_device_name(name)


@pytest.mark.parametrize(("name", "code"), [
    ("", "required"),
    ("   ", "required"),
    ("x" * 65, "max_length"),
    ("<script>", "invalid"),
    ("line\nbreak", "invalid"),
])
def test_device_name_outside_the_rules_is_refused(name, code):
    with pytest.raises(ValidationError) as error:
        validate_device_name(name)
    assert error.value.code == code


@pytest.mark.parametrize("zone", [
    "+08:00", "-12:00", "+14:00", "+00:00", "-00:00", "+05:45", "+05:30", "-09:30",
    "Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC",
])
def test_utc_offsets_and_iana_names_are_valid_time_zones(zone):
    assert is_valid_timezone(zone)
    validate_timezone(zone)


@pytest.mark.parametrize("zone", [
    pytest.param("+25:00", id="hours-beyond-the-clock"),
    pytest.param("+14:30", id="east-of-plus-14"),
    pytest.param("-12:30", id="west-of-minus-12"),
    pytest.param("+08:10", id="minutes-not-a-quarter"),
    pytest.param("+08:60", id="sixty-minutes"),
    pytest.param("+8:00", id="one-digit-hour"),
    pytest.param("08:00", id="no-sign"),
    pytest.param("+08:00\n", id="trailing-newline"),
    pytest.param("+٠٨:٠٠", id="arabic-indic-digits"),
    pytest.param("Mars/Base", id="unknown-zone-name"),
    pytest.param("", id="empty"),
    pytest.param(None, id="none"),
    pytest.param(8, id="number"),
])
def test_other_time_zones_are_refused(zone):
    assert not is_valid_timezone(zone)


def test_time_zone_error_names_the_value_as_the_invalid_records_file_does():
    with pytest.raises(ValidationError) as error:
        validate_timezone("+25:00")
    assert error.value.messages == ['"+25:00" is not a valid time zone']


def test_up_to_100_tags_are_allowed():
    assert tag_problems({f"k{i}": "v" for i in range(100)}) == []


def test_101_tags_are_refused():
    assert tag_problems({f"k{i}": "v" for i in range(101)}) == ["a device can have at most 100 tags, got 101"]


@pytest.mark.parametrize("key", ["a", "k" * 50, "site/zone-1_a", "A_B-C/9"])
def test_tag_keys_of_1_to_50_allowed_characters_are_valid(key):
    assert tag_problems({key: "value"}) == []


@pytest.mark.parametrize("key", ["", "k" * 51, "has space", "dot.ted", "colon:key", "ключ", "key\n"])
def test_tag_keys_outside_the_rules_are_refused(key):
    assert tag_problems({key: "value"}) == [f'tag key "{key}" must be 1 to 50 letters, digits or _ - /']


def test_tag_values_up_to_200_characters_are_allowed():
    assert tag_problems({"note": "v" * 200, "empty": ""}) == []


def test_tag_values_over_200_characters_are_refused():
    assert tag_problems({"note": "v" * 201}) == ['tag "note" value is 201 characters; the maximum is 200']


def test_tag_values_must_be_text():
    assert tag_problems({"floor": 3}) == ['tag "floor" must have a text value']


def test_tags_must_be_an_object():
    assert tag_problems(["a", "b"]) == ["tags must be an object of key: value pairs"]


def test_every_tag_problem_is_reported_not_just_the_first():
    problems = tag_problems({"bad key": "v" * 201, "ok": 1})
    assert len(problems) == 3


def test_validate_tags_raises_with_every_problem():
    validate_tags({"site": "north"})
    with pytest.raises(ValidationError) as error:
        validate_tags({"bad key": "x", "note": "v" * 201})
    assert len(error.value.messages) == 2

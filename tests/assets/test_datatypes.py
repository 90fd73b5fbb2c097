"""EnOS data types: a value is checked against its feature and returned in the feature's type."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from assets.datatypes import ValueProblem, check_feature_definition, check_value
from assets.models import ThingModel


def feature(data_type: str, **spec) -> dict:
    return {"identifier": "f", "name": "F", "data_type": data_type, "spec": spec}


def refused(feature_: dict, value, *, from_text: bool = False) -> str:
    with pytest.raises(ValueProblem) as problem:
        check_value(feature_, value, from_text=from_text)
    return str(problem.value)


# --- numbers -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 42, -(2**31), 2**31 - 1, 7.0])
def test_int32_accepts_integers_within_32_bits(value):
    assert check_value(feature("int32"), value) == int(value)
    assert isinstance(check_value(feature("int32"), value), int)


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1])
def test_int32_refuses_integers_beyond_32_bits(value):
    assert "out of range" in refused(feature("int32"), value)


@pytest.mark.parametrize("value", [1.5, "5", True, None, [1]])
def test_int32_refuses_what_is_not_an_integer(value):
    refused(feature("int32"), value)


def test_typed_text_is_read_as_a_number_only_from_text():
    assert check_value(feature("int32"), " 12 ", from_text=True) == 12
    assert check_value(feature("int32"), "12.0", from_text=True) == 12
    assert check_value(feature("double"), "2.5", from_text=True) == 2.5
    assert refused(feature("int32"), "12.5", from_text=True) == '"12.5" is not an integer'
    assert refused(feature("double"), "lots", from_text=True) == '"lots" is not a number'


def test_number_range_from_the_spec_is_enforced():
    capacity = feature("double", min=0, max=5000)
    assert check_value(capacity, 5000) == 5000.0
    assert refused(capacity, 5000.5) == "5000.5 is above the maximum 5000"
    assert refused(capacity, -1) == "-1.0 is below the minimum 0"


@pytest.mark.parametrize("data_type", ["float", "double"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused(data_type, value):
    assert refused(feature(data_type), value) == "NaN and infinity are not allowed"


def test_float_refuses_what_only_a_double_can_hold():
    assert check_value(feature("double"), 1e300) == 1e300
    assert "out of range" in refused(feature("float"), 1e300)


def test_an_integer_too_large_for_a_double_is_a_problem_not_a_crash():
    assert "out of range" in refused(feature("double"), 10**400)


def test_double_turns_integers_into_floats():
    value = check_value(feature("double"), 3)
    assert value == 3.0 and isinstance(value, float)


def test_timestamp_is_a_non_negative_integer():
    assert check_value(feature("timestamp"), 1_700_000_000_000) == 1_700_000_000_000
    assert refused(feature("timestamp"), -1) == "a timestamp cannot be negative"
    assert "out of range" in refused(feature("timestamp"), 2**63)


# --- bool, enum, string, date ------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [(True, True), (False, False), (1, True), (0, False)])
def test_bool_accepts_booleans_and_0_or_1(value, expected):
    assert check_value(feature("bool"), value) is expected


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("Yes", True), (" 1 ", True),
                                                ("false", False), ("NO", False), ("0", False)])
def test_bool_reads_words_from_text(text, expected):
    assert check_value(feature("bool"), text, from_text=True) is expected


@pytest.mark.parametrize("value", [2, "maybe", None])
def test_bool_refuses_anything_else(value):
    refused(feature("bool"), value, from_text=True)


def test_bool_does_not_read_words_outside_text_input():
    refused(feature("bool"), "true")


PHASE = feature("enum", values={"1": "single", "3": "three"})


@pytest.mark.parametrize("value", ["3", 3])
def test_enum_accepts_its_keys_and_returns_them_as_numbers(value):
    assert check_value(PHASE, value) == 3


def test_enum_reads_a_label_from_text():
    assert check_value(PHASE, "three", from_text=True) == 3
    refused(PHASE, "three")


@pytest.mark.parametrize("value", ["2", 2, True, None])
def test_enum_refuses_values_that_are_not_keys(value):
    assert "is not one of the allowed values: 1 (single), 3 (three)" in refused(PHASE, value)


def test_enum_with_text_keys_keeps_them_as_text():
    mode = feature("enum", values={"auto": "Automatic", "manual": "Manual"})
    assert check_value(mode, "auto") == "auto"


def test_string_length_follows_the_spec_or_1024():
    assert check_value(feature("string", max_length=3), "abc") == "abc"
    assert refused(feature("string", max_length=3), "abcd") == "text is 4 characters long, the maximum is 3"
    assert check_value(feature("string"), "x" * 1024) == "x" * 1024
    refused(feature("string"), "x" * 1025)


def test_string_refuses_numbers_except_from_text():
    refused(feature("string"), 12)
    assert check_value(feature("string"), 12.0, from_text=True) == "12"
    assert check_value(feature("string"), 1.5, from_text=True) == "1.5"


def test_date_is_returned_in_iso_form():
    assert check_value(feature("date"), "2024-02-29") == "2024-02-29"
    assert check_value(feature("date"), dt.date(2024, 3, 1)) == "2024-03-01"
    assert check_value(feature("date"), dt.datetime(2024, 3, 1, 12, 30)) == "2024-03-01"


@pytest.mark.parametrize("value", ["2023-02-29", "yesterday", "01/03/2024", 20240301])
def test_date_refuses_what_is_not_a_calendar_date(value):
    assert "is not a date in the form YYYY-MM-DD" in refused(feature("date"), value)


# --- array and struct --------------------------------------------------------------------------------

def test_array_checks_each_item_and_its_size():
    readings = feature("array", item_type="int32", size=3)
    assert check_value(readings, [1, 2, 3]) == [1, 2, 3]
    assert check_value(readings, "[4, 5]", from_text=True) == [4, 5]
    assert refused(readings, [1, 2, 3, 4]) == "the array has 4 items, the maximum is 3"
    assert refused(readings, [1, "two"]).startswith("item 1: ")
    refused(readings, "[1, 2")  # broken JSON from text
    refused(readings, "[1, 2]")  # text is an array only when typed in


def test_struct_checks_each_field_and_refuses_unknown_ones():
    location = feature("struct", fields=[
        {"identifier": "lat", "data_type": "double", "spec": {"min": -90, "max": 90}},
        {"identifier": "label", "data_type": "string"},
    ])
    assert check_value(location, {"lat": 31, "label": "roof"}) == {"lat": 31.0, "label": "roof"}
    assert check_value(location, '{"lat": 1}', from_text=True) == {"lat": 1.0}
    assert refused(location, {"lat": 91}).startswith("field lat: ")
    assert refused(location, {"lon": 1}) == "unknown field 'lon'"
    refused(location, [1, 2])


def test_an_unknown_data_type_is_a_problem():
    assert refused({"data_type": "complex"}, 1) == "unknown data type 'complex'"


# --- feature definitions in a thing model --------------------------------------------------------------

def test_a_sound_feature_definition_has_no_problems():
    assert check_feature_definition(feature("int32", min=0), "attributes[0]") == []


@pytest.mark.parametrize(("definition", "problem"), [
    ("power", "each feature must be an object"),
    ({"identifier": "9lives", "data_type": "int32"}, "identifier '9lives' must be"),
    ({"identifier": "power\n", "data_type": "int32"}, "identifier 'power\\n' must be"),
    ({"identifier": "x" * 65, "data_type": "int32"}, "must be letters, digits and _"),
    ({"identifier": "power", "data_type": "int64"}, "data_type must be one of"),
    ({"identifier": "mode", "data_type": "enum"}, "an enum needs spec.values"),
    ({"identifier": "power", "data_type": "int32", "spec": [0, 1]}, "spec must be an object"),
])
def test_an_unsound_feature_definition_is_explained(definition, problem):
    problems = check_feature_definition(definition, "attributes[0]")
    assert len(problems) == 1
    assert problems[0].startswith("attributes[0]: ")
    assert problem in problems[0]


@pytest.mark.django_db
def test_a_thing_model_refuses_an_identifier_used_twice(acme):
    model = ThingModel(ou=acme, model_id="m", name="M", attributes=[
        {"identifier": "serial", "data_type": "string"}, {"identifier": "serial", "data_type": "int32"}])
    with pytest.raises(ValidationError) as error:
        model.clean()
    assert error.value.messages == ["attributes[1]: identifier 'serial' is used twice"]


@pytest.mark.django_db
def test_a_thing_model_checks_service_inputs(acme):
    model = ThingModel(ou=acme, model_id="m", name="M", services=[
        {"identifier": "restart", "input": [{"identifier": "delay", "data_type": "seconds"}]}, {"name": "nameless"}])
    with pytest.raises(ValidationError) as error:
        model.clean()
    assert len(error.value.messages) == 2
    assert error.value.messages[0].startswith("services[0].input[0]: data_type must be one of")
    assert error.value.messages[1] == "services[1]: a service needs an identifier"

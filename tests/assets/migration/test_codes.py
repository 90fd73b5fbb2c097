"""Codes: six digits from `secrets`, kept as a keyed hash bound to one request."""

from __future__ import annotations

from unittest import mock

import pytest

from assets.migration import codes


def test_a_code_is_six_digits_drawn_from_secrets():
    with mock.patch("assets.migration.codes.secrets.randbelow", return_value=42) as draw:
        assert codes.generate_code() == "000042"
    draw.assert_called_once_with(1_000_000)
    drawn = {codes.generate_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in drawn)
    assert len(drawn) > 190  # not a constant, not a short cycle


def test_the_hash_is_not_the_code_and_depends_on_the_binding():
    bound = codes.binding(1, 2, 3, "abc")
    digest = codes.hash_code("123456", bound)
    assert "123456" not in digest
    assert codes.code_matches("123456", bound, digest)
    assert not codes.code_matches("123457", bound, digest)
    for other in (codes.binding(9, 2, 3, "abc"), codes.binding(1, 9, 3, "abc"), codes.binding(1, 2, 9, "abc"),
                  codes.binding(1, 2, 3, "abd")):
        assert not codes.code_matches("123456", other, digest)


def test_the_hash_is_keyed_with_the_secret_key(settings):
    bound = codes.binding(1, 2, 3, "abc")
    before = codes.hash_code("123456", bound)
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    assert codes.hash_code("123456", bound) != before


def test_no_stored_hash_matches_nothing():
    assert not codes.code_matches("123456", "b", "")


def test_the_comparison_is_constant_time():
    with mock.patch("assets.migration.codes.constant_time_compare", return_value=True) as compare:
        assert codes.code_matches("123456", "b", "stored")
    compare.assert_called_once()


@pytest.mark.parametrize(("typed", "expected"), [("123456", "123456"), (" 123 456 ", "123456"), ("12345", None),
                                                 ("1234567", None), ("12a456", None), (None, None), ([], None)])
def test_typed_codes_are_normalized(typed, expected):
    assert codes.normalize_code(typed) == expected


def test_the_device_set_hash_binds_devices_target_and_sub_device_choice():
    base = codes.device_set_hash([3, 1, 2], 7, True)
    assert base == codes.device_set_hash([1, 2, 3], 7, True)
    assert base != codes.device_set_hash([1, 2], 7, True)
    assert base != codes.device_set_hash([1, 2, 3], 8, True)
    assert base != codes.device_set_hash([1, 2, 3], 7, False)

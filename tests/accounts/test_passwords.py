"""Passwords go through all four of Django's validators: length, similarity to the user, common
passwords, all-digit passwords."""

from __future__ import annotations

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from tests.conftest import make_user


@pytest.mark.parametrize(("password", "reason"), [
    ("short1", "too short"),
    ("password123", "too common"),
    ("48205739166", "entirely numeric"),
    ("operator-on-call", "too similar"),
])
def test_weak_passwords_are_refused(db, password, reason):
    user = make_user("operator-on-call")
    with pytest.raises(ValidationError, match=reason):
        validate_password(password, user)


def test_a_strong_password_is_accepted(db):
    user = make_user("operator-on-call")
    assert validate_password("violet-kestrel-harbour-42", user) is None

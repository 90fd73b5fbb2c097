"""Schema-driven fuzzing of the whole API with Schemathesis, in process (WSGI), as a writer of OU Acme.

Every operation of /api/schema/ gets requests generated from its schema (valid ones, and invalid ones
that must be refused); every answer must be no server error, a status the operation documents, a body
and content type its schema describes. Seeded and bounded: the same requests on every run, in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from assets.models import Device

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 8  # per operation and phase: ~47 operations


def load_schema() -> schemathesis.schemas.BaseSchema:
    """The schema /api/schema/ serves, generated here (collection needs no server and no database)."""
    loaded = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
    loaded.app = WSGIHandler()
    loaded.config.generation.update(max_examples=MAX_EXAMPLES)
    return loaded


schema = load_schema()


@pytest.fixture
def token(writer, acme, device: Device, gateway: Device) -> Iterator[str]:
    """A writer of Acme's API token, with a device and a gateway to find. The WSGI handler closes "old"
    connections when each request starts and ends, which would end this test's transaction: Django's
    own test client disconnects it the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield Token.objects.create(user=writer).key
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_the_api_keeps_its_schema(case, token):
    case.call_and_validate(headers={"Authorization": f"Token {token}"})

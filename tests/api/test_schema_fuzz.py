"""Schema-driven fuzzing of the whole API with Schemathesis: every operation of /api/schema/, in process
(WSGI), with the API token of a writer of OU Acme.

Each operation gets requests generated from its schema, valid ones and invalid ones, and every answer
must pass Schemathesis's checks: no server error, a status and content type the operation documents, a
body its schema describes, invalid requests refused, valid ones accepted. Derandomized (the same
requests on every run) and bounded (a few examples per operation and phase).

Valid requests name existing objects where the schema can only say "a string": random ouIds and
assetIds would only ever meet 404s and leave the rest of each operation untested.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from accounts.models import OrganizationUnit
from assets.models import Device, Product, ThingModel

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 3  # per operation and phase; about 50 operations

# Operations whose valid requests may still be refused for what no OpenAPI 3.0 schema can state:
# the positive_data_acceptance check is left out for these only (every other check runs).
BEYOND_THE_SCHEMA = {
    # attribute values are typed by the product's thing model; tag keys have a pattern (OpenAPI 3.0 has
    # no propertyNames); time zones are IANA names or ±hh:mm offsets in range; names refuse < and >
    "POST /api/devices/", "PATCH /api/devices/{assetId}/",
    # a thing model's attributes, measure points, services and events are checked field by field
    "POST /api/models/", "PATCH /api/models/{modelId}/",
    # a product type change is refused while devices use the product; the model must exist in the OU
    "POST /api/products/", "PATCH /api/products/{productKey}/",
    # the file must be an .xlsx template of the product
    "POST /api/batch/jobs/",
    # the code is the one texted; the devices must be movable to the target OU
    "POST /api/migrations/", "POST /api/migrations/{id}/confirm/",
    # a service invocation's params, measure point values and names are typed by the thing model
    "POST /api/devices/{asset_id}/services/{identifier}/invoke/",
    "POST /api/devices/{asset_id}/measurepoints/set/", "POST /api/devices/{asset_id}/measurepoints/get/",
    # a trace extension may not reach past 3 days from now
    "POST /api/traces/{traceId}/extend/",
    # the audit log's end date may not be before its start date
    "GET /api/audit-events/", "GET /api/audit-events/export/",
    # a query's attributes and groups must be ones the OU's thing models and groups define
    "GET /api/devices/export/",
    # a structured query's attributes, groups and values must be ones the models and groups define
    "POST /api/devices/search/",
    # a connection history's `until` must come after its `since`; a group's name must be printable (no blanks
    # only) and unique in its OU
    "GET /api/devices/{asset_id}/sessions/", "POST /api/groups/", "PATCH /api/groups/{id}/",
    # the OU view's `ou` and `productKey` must name an OU and a product the user sees
    "GET /api/connectivity/online/", "GET /api/connectivity/flapping/",
    # a job's params are checked per action, its selection must match devices the user may change, its stages
    # grow, waiting for offline devices needs a deadline in the future
    "POST /api/jobs/",
    # an alert rule's fields depend on its kind and scope (a threshold needs its comparison, a product scope its
    # productKey of the OU, a target at least); only an open alert is acknowledged, a resolved one not resolved again
    "POST /api/alert-rules/", "PATCH /api/alert-rules/{id}/", "POST /api/alerts/{id}/acknowledge/",
    "POST /api/alerts/{id}/resolve/",
}


def load_schema() -> schemathesis.schemas.BaseSchema:
    """The schema /api/schema/ serves, read from the app in process (it needs no database)."""
    loaded = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
    # no NUL characters in generated strings: PostgreSQL stores none, so every string field refuses them,
    # which OpenAPI's "type: string" cannot say; test_input_contract checks those refusals
    loaded.config.generation.update(max_examples=MAX_EXAMPLES, allow_x00=False)
    # Bounded for a loaded CI machine. The coverage phase walks each schema's boundaries (empty, longest,
    # largest, each enum value...) with valid values; invalid requests come from the fuzzing phase.
    # Its exhaustive invalid variants (about 1,100 requests, three quarters of the run) and its other
    # methods on each path (one, PUT, which the API has nowhere, checks that a wrong method is a 405)
    # cost more than they find.
    loaded.config.phases.coverage.generation.update(modes=[GenerationMode.POSITIVE], max_examples=MAX_EXAMPLES)
    loaded.config.phases.coverage.unexpected_methods = {"put"}
    return loaded


schema = load_schema()


@dataclass(frozen=True)
class Known:
    """Existing objects a writer of Acme may use, by the names the API gives them."""

    token: str
    ou: OrganizationUnit
    device: Device
    gateway: Device
    product: Product
    model: ThingModel

    def path_value(self, name: str, path: str) -> str | None:
        if name in ("assetId", "asset_id"):
            return (self.gateway if "sub-devices" in path else self.device).asset_id
        return {"productKey": self.product.product_key, "modelId": self.model.model_id}.get(name)

    def query_value(self, name: str) -> Any:
        return {"ou": self.ou.ou_id, "ouId": self.ou.ou_id, "productKey": self.product.product_key,
                "deviceKey": self.device.device_key, "assetId": self.device.asset_id,
                "assetIds": [self.device.asset_id]}.get(name)

    def body_value(self, name: str) -> Any:
        return {"ouId": self.ou.ou_id, "productKey": self.product.product_key, "modelId": self.model.model_id,
                "targetOuId": self.ou.ou_id, "assetIds": [self.device.asset_id],
                "deviceAssetIds": [self.device.asset_id]}.get(name)


@pytest.fixture
def known(writer, acme, device: Device, gateway: Device, product: Product, thing_model: ThingModel) -> Iterator[Known]:
    # the WSGI handler closes "old" connections as each request starts and ends, which would end this
    # test's transaction: Django's own test client disconnects it the same way
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield Known(Token.objects.create(user=writer).key, acme, device, gateway, product, thing_model)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def name_existing_objects(case: Any, known: Known) -> None:
    """In a valid request, references to objects become existing ones; an opaque cursor is left out
    (only a page's own links carry valid ones). Invalid requests stay as generated."""
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return
    path = case.operation.path
    for name in list(case.path_parameters or {}):
        value = known.path_value(name, path)
        if value is not None:
            case.path_parameters[name] = value
    if case.query:
        case.query.pop("cursor", None)
        for name in list(case.query):
            value = known.query_value(name)
            if value is not None:
                case.query[name] = value
    if isinstance(case.body, dict):
        for name in list(case.body):
            value = known.body_value(name)
            if value is not None:
                case.body[name] = value


AUTH_CONFIRMED: set[str] = set()  # operations whose refusal of a missing or wrong token was seen


@schema.parametrize()
@settings(derandomize=True, database=None, deadline=None, print_blob=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.filter_too_much])
def test_the_api_keeps_its_schema(case, known):
    name_existing_objects(case, known)
    label = f"{case.method.upper()} {case.operation.path}"
    headers = {"Authorization": f"Token {known.token}"}
    response = case.call(headers=headers)
    excluded = [positive_data_acceptance] if label in BEYOND_THE_SCHEMA else []
    if 200 <= response.status_code < 300:
        # ignored_auth sends each accepted request again without, then with a wrong, token: once an
        # operation refused both, its other cases would only repeat it
        if label in AUTH_CONFIRMED:
            excluded.append(ignored_auth)
        AUTH_CONFIRMED.add(label)
    case.validate_response(response, excluded_checks=excluded, headers=headers,
                           transport_kwargs={"headers": headers})

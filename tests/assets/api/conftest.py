"""API fixtures: a JSON client per member of the cast, and a spare product and model."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from assets.models import Product, ThingModel
from tests.assets.api.helpers import api_client_for


@pytest.fixture
def api_for() -> Callable[[User | None], APIClient]:
    return api_client_for


@pytest.fixture
def spare_model(acme) -> ThingModel:
    """A model no product uses: deletable."""
    return ThingModel.objects.create(ou=acme, model_id="spare", name="Spare")


@pytest.fixture
def spare_product(acme, thing_model) -> Product:
    """A product no device uses: deletable."""
    return Product.objects.create(ou=acme, name="Spare", model=thing_model)


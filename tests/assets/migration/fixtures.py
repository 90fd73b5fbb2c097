"""Migration fixtures: a test SMS outbox, tasks run in-process, a target OU without a phone, and a
gateway with sub-devices. A plain module, so the dialog's browser test (in tests/browser, beside
the Chromium fixtures) can import them too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts import sms
from accounts.actors import SYSTEM
from accounts.models import OrganizationUnit
from accounts.services import create_ou, set_membership
from assets.models import Device, Product, ProductType, ThingModel
from tests.conftest import make_user


@pytest.fixture(autouse=True)
def sms_outbox(settings) -> Iterator[list[dict[str, str]]]:
    """Codes go to the in-memory outbox; the test reads them there."""
    settings.SMS_BACKEND = "accounts.sms.LocmemBackend"
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Celery tasks run in the calling process when enqueued (after commit)."""
    from enos_portal.celery import app

    # Celery's Settings is a mapping view that monkeypatch cannot restore: set and reset by hand
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def globex_writer(globex):
    """A member of the target OU: may write there, sees nothing of Acme."""
    user = make_user("globex_writer")
    set_membership(SYSTEM, globex, user, "asset_manager")
    return user


@pytest.fixture
def initech(db) -> OrganizationUnit:
    """An OU whose owner has no phone: no code can reach it."""
    return create_ou(SYSTEM, "Initech", make_user("initech_owner"))


@pytest.fixture
def sensor_product(acme) -> Product:
    """A second Device product on a second model, for sharing more than one of each."""
    model = ThingModel.objects.create(ou=acme, model_id="sensor", name="Sensor")
    return Product.objects.create(ou=acme, name="Sensor", model=model, product_type=ProductType.DEVICE)


@pytest.fixture
def sub_devices(gateway, product) -> list[Device]:
    subs = [Device.objects.create(ou=gateway.ou, product=product, device_key=f"sub-{i:03d}", name=f"Sub {i}",
                                  attributes={"serial": f"S-{i}"}, gateway=gateway) for i in range(3)]
    return subs

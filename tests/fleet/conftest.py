"""Jobs over a small fleet of Acme's devices (tests/conftest.py's cast)."""

from __future__ import annotations

import pytest

from assets.models import Device, Product
from fleet import engine
from fleet.models import Job


def make_devices(product: Product, count: int, prefix: str = "fl", **fields) -> list[Device]:
    Device.objects.bulk_create([
        Device(ou=product.ou, product=product, device_key=f"{prefix}-{n:05d}", name=f"Fleet {n}",
               attributes={"serial": f"S{n}"}, **fields) for n in range(count)])
    return list(Device.objects.filter(device_key__startswith=f"{prefix}-").order_by("pk"))


@pytest.fixture
def devices(product) -> list[Device]:
    return make_devices(product, 20)


def run_to_end(job: Job, steps: int = 1000) -> Job:
    """Drive the job with the engine's plain functions (no Celery) until it ends."""
    for _ in range(steps):
        if engine.run_step(job.pk, "test-worker") is None:
            job.refresh_from_db()
            return job
    raise AssertionError("the job did not end")

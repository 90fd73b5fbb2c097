"""Steps of a migration as the tests speak of them."""

from __future__ import annotations

import re
from datetime import datetime

from accounts import sms
from accounts.models import OrganizationUnit
from assets.migration import services
from assets.models import Device, MigrationRequest


def start(actor, devices: list[Device], target: OrganizationUnit | str, *, include: bool = True,
          now: datetime | None = None) -> MigrationRequest:
    target_id = target if isinstance(target, str) else target.ou_id
    return services.request_migration(actor, [d.asset_id for d in devices], target_id,
                                      include_sub_devices=include, now=now)


def send(request: MigrationRequest, now: datetime | None = None) -> str:
    """What the Celery task does: draw and text a code. Returns the code."""
    code = services.send_code(request.pk, now=now)
    assert code is not None
    return code


def code_in_outbox(index: int = -1) -> str:
    return re.search(r"Verification code: (\d{6})", sms.outbox[index]["message"]).group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"

"""Two migrations of the same device confirmed at the same moment: exactly one wins.

Needs row locks (SELECT … FOR UPDATE), so it runs on PostgreSQL. SQLite has no row locks; there the
portal's IMMEDIATE transactions serialize every writer instead, which this test cannot tell apart.
"""

from __future__ import annotations

import threading
import time
from unittest import mock

import pytest
from django.db import connection, connections

from accounts.actors import SYSTEM
from accounts.errors import Conflict
from accounts.services import create_ou
from assets.migration import services
from assets.models import Device, MigrationRequest, MigrationStatus
from tests.assets.migration.helpers import code_in_outbox, start
from tests.conftest import make_user

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager_tasks"),
    pytest.mark.skipif(connection.vendor == "sqlite", reason="row locks need PostgreSQL (SQLite has none)"),
]


def test_two_concurrent_migrations_of_one_device_exactly_one_wins(writer, acme, device, gateway, globex):
    hooli = create_ou(SYSTEM, "Hooli", make_user("hooli_owner", phone="+14155550100"))
    to_globex = start(writer, [device, gateway], globex)
    globex_code = code_in_outbox()
    to_hooli = start(writer, [device], hooli)
    hooli_code = code_in_outbox()

    real_share = services._share_missing
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def slow_share(*args, **kwargs):
        time.sleep(0.5)  # the winner holds its device locks a while: the loser must wait, then see the move
        return real_share(*args, **kwargs)

    def confirm(name: str, pk: int, code: str) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes[name] = services.confirm_migration(writer, pk, code)
        except Exception as error:  # noqa: BLE001 - the outcome is what the test judges
            outcomes[name] = error
        finally:
            connections.close_all()

    with mock.patch.object(services, "_share_missing", slow_share):
        threads = [threading.Thread(target=confirm, args=("globex", to_globex.pk, globex_code)),
                   threading.Thread(target=confirm, args=("hooli", to_hooli.pk, hooli_code))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    winners = [name for name, outcome in outcomes.items() if isinstance(outcome, MigrationRequest)]
    losers = [outcome for outcome in outcomes.values() if isinstance(outcome, Conflict)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].code == "devices_changed" and "moved to another OU" in losers[0].message

    device.refresh_from_db()
    gateway.refresh_from_db()
    if winners == ["globex"]:
        assert (device.ou_id, gateway.ou_id) == (globex.pk, globex.pk)
        assert MigrationRequest.objects.get(pk=to_hooli.pk).status == MigrationStatus.FAILED
    else:
        assert (device.ou_id, gateway.ou_id) == (hooli.pk, acme.pk)  # the loser moved nothing, not even the gateway
        assert MigrationRequest.objects.get(pk=to_globex.pk).status == MigrationStatus.FAILED
    assert Device.objects.filter(pk=device.pk).count() == 1

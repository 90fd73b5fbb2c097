"""The send_migration_code task: in-process for its logic, and once through a real Celery worker
(Redis when REDIS_URL is set, else the filesystem broker) delivering through the file backend."""

from __future__ import annotations

import json
import re
import time

import pytest

from assets.migration import services
from assets.migration.tasks import send_migration_code
from assets.models import Device, MigrationRequest
from tests.assets.migration.helpers import start
from tests.assets.migration.test_sms import Gateway, gateway_url  # noqa: F401 - the local SMS gateway fixture
from tests.processes import celery_worker


@pytest.mark.django_db
def test_the_task_texts_a_fresh_code(writer, device, globex, sms_outbox):
    request = start(writer, [device], globex)
    send_migration_code.apply(args=[request.pk])
    send_migration_code.apply(args=[request.pk])  # a redelivery: a new code replaces the first
    first, second = (re.search(r"code: (\d{6})", m["message"]).group(1) for m in sms_outbox)
    request.refresh_from_db()
    assert request.code_sent_at is not None
    if first != second:
        with pytest.raises(services.DomainError):
            services.check_code(writer, request.pk, first)
    services.check_code(writer, request.pk, second)


@pytest.mark.django_db
def test_a_failed_delivery_is_recorded_and_retried(writer, device, globex, settings, gateway_url):  # noqa: F811
    settings.SMS_BACKEND = "accounts.sms.HttpGatewayBackend"
    settings.SMS_HTTP_URL = gateway_url
    Gateway.answer_status = 503
    request = start(writer, [device], globex)
    result = send_migration_code.apply(args=[request.pk])
    assert result.failed()
    assert len(Gateway.received) == 1 + send_migration_code.max_retries
    request.refresh_from_db()
    assert "HTTP 503" in request.result["delivery_error"]
    # a resend clears the error once the gateway recovers
    Gateway.answer_status = 200
    request.result["send_requested_at"] = "2000-01-01T00:00:00+00:00"
    MigrationRequest.objects.filter(pk=request.pk).update(result=request.result)
    services.resend_code(writer, request.pk)
    send_migration_code.apply(args=[request.pk])
    request.refresh_from_db()
    assert "delivery_error" not in request.result


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_the_code_through_the_file_backend(writer, device, globex, tmp_path, monkeypatch):
    outbox = tmp_path / "sms-outbox.jsonl"
    # the worker reads its SMS settings from the environment, as in production
    monkeypatch.setenv("SMS_BACKEND", "accounts.sms.FileBackend")
    monkeypatch.setenv("SMS_FILE_PATH", str(outbox))
    with celery_worker() as worker:
        request = start(writer, [device], globex)  # enqueued when this commits
        deadline = time.monotonic() + 60
        while not (outbox.exists() and outbox.read_text().strip()):
            assert time.monotonic() < deadline, getattr(worker, "log", "no code within 60 s")
            time.sleep(0.05)
    [line] = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert line["to"] == globex.owner.phone
    code = re.search(r"Verification code: (\d{6})", line["message"]).group(1)
    services.confirm_migration(writer, request.pk, code)
    assert Device.objects.get(pk=device.pk).ou_id == globex.pk

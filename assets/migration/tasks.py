"""Celery tasks of migration: texting the verification code (the logic is services.send_code)."""

from __future__ import annotations

from celery import shared_task

from accounts.sms import SmsDeliveryError

from . import services


@shared_task(bind=True, max_retries=3, default_retry_delay=10, ignore_result=True)
def send_migration_code(self, request_id: int) -> None:
    """Draw a code for the request and text it to the target OU's owner.

    A redelivered task draws a new code: only the latest SMS is valid, never two at once.
    A failed delivery is recorded on the request (the console shows it) and retried a few times.
    """
    try:
        services.send_code(request_id)
    except SmsDeliveryError as error:
        raise self.retry(exc=error) from error

"""Celery tasks of observability: the alert sweep (beat, every few seconds) and one notification's sending."""

from __future__ import annotations

from celery import shared_task

from . import alerting, notify


@shared_task
def sweep_alerts() -> dict[str, int]:
    """Beat: due timers open their alerts, unnotified state changes are notified, due retries re-sent."""
    return alerting.sweep()


@shared_task
def send_delivery(delivery_id: int) -> str:
    return notify.deliver(delivery_id)

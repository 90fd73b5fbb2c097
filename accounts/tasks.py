"""Background work of accounts: the audit log's retention."""

from __future__ import annotations

from celery import shared_task

from .audit import purge_old_events


@shared_task(name="accounts.tasks.purge_audit_events")
def purge_audit_events() -> int:
    """Delete audit events older than AUDIT_RETENTION_DAYS, in batches; returns how many went."""
    return purge_old_events()

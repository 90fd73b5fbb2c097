"""Signals other apps listen to; assets never imports tracing or connectivity."""

from django.dispatch import Signal

# sent with device_ids=list[int] after the transaction that disabled them commits
devices_disabled = Signal()
# sent with device_ids=list[int] after the transaction that enabled them commits
devices_enabled = Signal()
# sent with device_ids after secrets were reset: live sessions must log in again
device_secrets_reset = Signal()
# sent with device_ids before deletion commits
devices_deleted = Signal()
# sent with device_ids, source_ou_id, target_ou_id after a migration commits
devices_migrated = Signal()

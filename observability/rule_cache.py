"""Enabled alert rules by OU, answered in-process: latest-value flushes and session ends ask on every batch,
and rules change rarely.

Each process keeps a dict OU id → its enabled rules (with their group). A version stamp in the shared cache
(the one tracing's traced-set version lives in: Redis, or a file cache in the embedded default) changes after
any rule, device group or OU is saved or deleted; each process reads the stamp at most once per
CHECK_INTERVAL and drops its dict when the stamp moved. The process that made the change drops its own at
once (and again when its transaction commits). Entries older than MAX_AGE are reloaded whatever the stamp
says: a change whose stamp was lost, or rules read inside a transaction that then rolled back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import OrganizationUnit
from assets.group_models import DeviceGroup
from enos_portal.version_stamp import VersionStamp

from .models import AlertRule

logger = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0  # seconds between two reads of the version stamp
MAX_AGE = 60.0  # seconds an OU's rules are kept without a reload


def _cache_alias() -> str:
    from tracing.conf import cache_alias

    return cache_alias()


rules_version = VersionStamp("observability:rules-version", _cache_alias)


class RulesByOU:
    def __init__(self) -> None:
        self._by_ou: dict[int, tuple[float, list[AlertRule]]] = {}
        self._version: str | None = None
        self._next_check = 0.0
        self._generation = 0  # bumped by every drop: a load that raced a drop is not kept
        self._lock = threading.Lock()

    def rules(self, kinds: Iterable[str], ou_ids: Iterable[int]) -> list[AlertRule]:
        """The enabled rules of these kinds in these OUs (a query only for OUs not held, or held too long)."""
        self._check_version()
        wanted, kinds = sorted(set(ou_ids)), set(kinds)
        clock = time.monotonic()
        held = {ou: entry[1] for ou in wanted if (entry := self._by_ou.get(ou)) and clock - entry[0] < MAX_AGE}
        missing = [ou for ou in wanted if ou not in held]
        if missing:
            generation = self._generation
            loaded: dict[int, list[AlertRule]] = {ou: [] for ou in missing}
            for rule in AlertRule.objects.filter(enabled=True, ou_id__in=missing).select_related("group").order_by(
                    "pk"):
                loaded[rule.ou_id].append(rule)
            held.update(loaded)
            if generation == self._generation:  # no change was heard while these loaded
                self._by_ou.update({ou: (clock, rules) for ou, rules in loaded.items()})
        return [rule for ou in wanted for rule in held[ou] if rule.kind in kinds]

    def drop(self) -> None:
        """Forget every OU's rules (this process changed one)."""
        with self._lock:
            self._generation += 1
            self._by_ou = {}

    def _check_version(self) -> None:
        if time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + CHECK_INTERVAL
        try:
            version = rules_version.read()
        except Exception:  # noqa: BLE001 - without the stamp, entries still expire after MAX_AGE
            logger.exception("Could not read the alert rules' version")
            return
        if version != self._version:
            self.drop()
            self._version = version


rules_by_ou = RulesByOU()


@receiver([post_save, post_delete], sender=AlertRule, dispatch_uid="observability.rules_changed")
@receiver([post_save, post_delete], sender=DeviceGroup, dispatch_uid="observability.rule_groups_changed")
@receiver([post_save, post_delete], sender=OrganizationUnit, dispatch_uid="observability.rule_ous_changed")
def rules_changed(sender: Any, **kwargs: Any) -> None:
    rules_by_ou.drop()  # at once here, even before the commit: this process may read its own change
    rules_version.publish_on_commit()  # every process drops them once the change is committed (or within MAX_AGE)
    transaction.on_commit(rules_by_ou.drop)  # this one too, at once

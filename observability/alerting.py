"""Alert evaluation, driven by what connectivity reports (connectivity.signals), never by polling the fleet.

- offline_for: a session's end starts a timer (due N minutes later) per rule whose scope holds the device;
  a login removes it and resolves the device's offline alert. The sweep opens alerts for due timers whose
  device is still offline.
- back_online: a login of a device that was offline opens an alert.
- measure_point_threshold: checked as values are stored; past the threshold with M > 0 starts a timer, back
  inside it removes the timer and resolves the alert.
- event: an event of the rule's identifier opens an alert.
- failed_logins: refused logins of a device are kept while its OU has such a rule; more than K in the
  window opens an alert.

A device has at most one live (open or acknowledged) alert per rule: no repeats while it stays offline.
Each state change is notified once by the sweep (notify.py), as a digest when many devices trip a rule.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import CharField, DateTimeField, F, IntegerField, JSONField, Model, Q, QuerySet, Value
from django.db.models.constants import OnConflict
from django.utils.timezone import now

from assets.models import Device
from assets.query import QueryError, compile_node, context_for, parse

from .models import Alert, AlertRule, AlertState, AlertTimer, LoginFailure, RuleKind, Scope, TimerKind
from .rule_cache import rules_by_ou

logger = logging.getLogger(__name__)
CHUNK = 5_000
LIVE = (AlertState.OPEN, AlertState.ACKNOWLEDGED)


def chunks(ids: list[int], size: int = CHUNK) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def scope_q(rule: AlertRule) -> Q | None:
    """The devices of the rule's OU its scope picks (None: a group or query that no longer works)."""
    base = Q(ou_id=rule.ou_id)
    if rule.scope == Scope.PRODUCT:
        return base & Q(product_id=rule.product_id)
    if rule.scope in (Scope.GROUP, Scope.QUERY):
        from assets.groups import group_q

        context = context_for(Device.objects.all())
        context.group_ou = rule.ou_id
        try:
            if rule.scope == Scope.GROUP:
                return None if rule.group is None else base & group_q(None, rule.group, context)
            tree = parse(rule.query)
            return base if tree is None else base & compile_node(tree, context)
        except QueryError:
            return None
    return base


def in_scope(rule: AlertRule, device_ids: list[int]) -> list[int]:
    """Which of these devices the rule watches (one query per 5,000 devices; none for an OU-wide rule)."""
    if rule.scope == Scope.ALL:
        return device_ids  # the caller passes the rule's OU's devices only
    condition = scope_q(rule)
    if condition is None:
        return []
    found: list[int] = []
    for part in chunks(device_ids):
        found += Device.objects.filter(condition, pk__in=part).values_list("pk", flat=True)
    return found


def _ous_of(device_ids: list[int]) -> dict[int, int]:
    ou_of: dict[int, int] = {}
    for part in chunks(device_ids):
        ou_of.update(Device.objects.filter(pk__in=part).values_list("pk", "ou_id"))
    return ou_of


def _rules(kinds: Iterable[str], ou_ids: Iterable[int]) -> list[AlertRule]:
    """The enabled rules of these kinds in these OUs, from the per-process cache (no query per batch)."""
    return rules_by_ou.rules(kinds, ou_ids)


def _by_rule(rules: list[AlertRule], ou_of: dict[int, int]) -> Iterable[tuple[AlertRule, list[int]]]:
    for rule in rules:
        ids = in_scope(rule, [pk for pk, ou in ou_of.items() if ou == rule.ou_id])
        if ids:
            yield rule, ids


# --- opening and resolving -------------------------------------------------------------------------

def open_alerts(rule: AlertRule, device_ids: list[int], at: dt.datetime, details: dict[int, dict] | None = None) -> int:
    """A live alert per device that has none for this rule yet; the count opened."""
    opened = 0
    for part in chunks(device_ids):
        live = set(Alert.objects.filter(rule=rule, device_id__in=part, state__in=LIVE)
                   .values_list("device_id", flat=True))
        new = [Alert(rule=rule, ou_id=rule.ou_id, device_id=pk, opened_at=at, pending_notice="opened",
                     details=(details or {}).get(pk, {})) for pk in part if pk not in live]
        Alert.objects.bulk_create(new, ignore_conflicts=True)
        opened += len(new)
    return opened


def resolve_alerts(alerts: QuerySet[Alert], at: dt.datetime, by: Any = None) -> int:
    """The condition cleared (or a user resolved them): live alerts resolve. One never notified of opening
    (cleared before the sweep told anyone) is resolved quietly."""
    user = by if getattr(by, "is_authenticated", False) else None
    alerts = alerts.filter(state__in=LIVE)
    quiet = alerts.filter(pending_notice="opened").update(state=AlertState.RESOLVED, resolved_at=at,
                                                          resolved_by=user, pending_notice="")
    return quiet + alerts.update(state=AlertState.RESOLVED, resolved_at=at, resolved_by=user,
                                 pending_notice="resolved")


# --- what connectivity reports (observability.receivers) ---------------------------------------------

def devices_went_offline(device_ids: list[int], at: dt.datetime) -> int:
    """Start the offline timers of every rule watching these devices; the count started.

    One INSERT … SELECT per rule and 5,000 devices: the rule's scope picks the devices inside the database, and
    a device that already has the rule's timer keeps it (no timer objects built in Python for a storm).
    """
    started = 0
    for part in chunks(device_ids):
        ous = set(Device.objects.filter(pk__in=part).order_by().values_list("ou_id", flat=True).distinct())
        for rule in _rules([RuleKind.OFFLINE_FOR], ous):
            condition = scope_q(rule)
            if condition is not None:
                started += _start_timers(rule, condition, part, TimerKind.OFFLINE, at)
    return started


def _start_timers(rule: AlertRule, condition: Q, device_ids: list[int], kind: str, at: dt.datetime) -> int:
    """A timer of `rule` for each of these devices its scope `condition` picks (existing ones kept); the count
    started."""
    due = at + dt.timedelta(minutes=rule.minutes)
    return insert_from(AlertTimer, Device.objects.filter(condition, pk__in=device_ids), {
        "rule": Value(rule.pk, IntegerField()), "device": F("pk"), "kind": Value(kind, CharField()),
        "started_at": Value(at, DateTimeField()), "due_at": Value(due, DateTimeField())})


def insert_from(model: type[Model], devices: QuerySet[Device], values: dict[str, Any]) -> int:
    """INSERT a row of `model` per device of `devices`, its fields' `values` expressions over the device, in one
    INSERT … SELECT; a row that would break a unique constraint is skipped. The count inserted.

    The rows never become Python objects: a storm's tens of thousands of timers or alerts are one statement.
    """
    names = {field: f"insert_{field}" for field in values}
    picked = devices.order_by().annotate(**{names[f]: expression for f, expression in values.items()})
    select, params = picked.values_list(*names.values()).query.sql_with_params()
    ops = connection.ops
    columns = ", ".join(ops.quote_name(model._meta.get_field(field).column) for field in values)
    suffix = ops.on_conflict_suffix_sql([], OnConflict.IGNORE, None, None) or ""
    with connection.cursor() as cursor:
        cursor.execute(f"{ops.insert_statement(on_conflict=OnConflict.IGNORE)} "
                       f"{ops.quote_name(model._meta.db_table)} ({columns}) {select} {suffix}", params)
        return max(cursor.rowcount, 0)


def open_alerts_of(rule: AlertRule, devices: QuerySet[Device], at: dt.datetime, details: dict) -> int:
    """A live alert (with the same `details`) per device of `devices` that has none for this rule yet, in one
    INSERT … SELECT (the one-live-alert constraint skips the others); the count opened."""
    return insert_from(Alert, devices, {
        "rule": Value(rule.pk, IntegerField()), "ou": Value(rule.ou_id, IntegerField()), "device": F("pk"),
        "state": Value(AlertState.OPEN.value, CharField()), "opened_at": Value(at, DateTimeField()),
        "pending_notice": Value("opened", CharField()), "details": Value(details, JSONField())})


def device_came_online(device_id: int, at: dt.datetime) -> None:
    AlertTimer.objects.filter(device_id=device_id, kind=TimerKind.OFFLINE).delete()
    resolve_alerts(Alert.objects.filter(device_id=device_id, rule__kind=RuleKind.OFFLINE_FOR), at)
    ou_of = _ous_of([device_id])
    for rule, ids in _by_rule(_rules([RuleKind.BACK_ONLINE], ou_of.values()), ou_of):
        open_alerts(rule, ids, at)


def violates(rule: AlertRule, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float) or rule.threshold is None:
        return False
    return value > rule.threshold if rule.comparison == "above" else value < rule.threshold


def values_stored(rows: list[Any]) -> None:
    """Latest values arrived (connectivity.latest.LatestRow): thresholds and events are checked."""
    from connectivity.models import ValueKind

    if not rows:
        return
    ou_of = _ous_of(sorted({r.device_id for r in rows}))
    rules = _rules([RuleKind.THRESHOLD, RuleKind.EVENT], ou_of.values())
    if not rules:
        return
    stamp = now()
    for rule in rules:
        wanted = ValueKind.MEASUREPOINT if rule.kind == RuleKind.THRESHOLD else ValueKind.EVENT
        matching = [r for r in rows if r.kind == wanted and r.identifier == rule.identifier
                    and ou_of.get(r.device_id) == rule.ou_id]
        if not matching:
            continue
        watched = set(in_scope(rule, sorted({r.device_id for r in matching})))
        matching = [r for r in matching if r.device_id in watched]
        if rule.kind == RuleKind.EVENT:
            open_alerts(rule, sorted({r.device_id for r in matching}), stamp,
                        {r.device_id: {"event": r.identifier, "value": r.value} for r in matching})
            continue
        over = {r.device_id: r.value for r in matching if violates(rule, r.value)}
        cleared = sorted({r.device_id for r in matching} - set(over))
        if cleared:
            AlertTimer.objects.filter(rule=rule, device_id__in=cleared).delete()
            resolve_alerts(Alert.objects.filter(rule=rule, device_id__in=cleared), stamp)
        if not over:
            continue
        if rule.minutes == 0:
            open_alerts(rule, sorted(over), stamp, {pk: {"value": v} for pk, v in over.items()})
        else:
            AlertTimer.objects.bulk_create([AlertTimer(rule=rule, device_id=pk, kind=TimerKind.THRESHOLD,
                                                       started_at=stamp,
                                                       due_at=stamp + dt.timedelta(minutes=rule.minutes))
                                            for pk in sorted(over)], ignore_conflicts=True)


def login_refused(device_id: int, at: dt.datetime) -> None:
    ou_of = _ous_of([device_id])
    rules = _rules([RuleKind.FAILED_LOGINS], ou_of.values())
    if not rules:
        return  # refusals are kept only while the OU has a rule that counts them
    LoginFailure.objects.create(device_id=device_id, at=at)
    for rule, ids in _by_rule(rules, ou_of):
        failures = LoginFailure.objects.filter(device_id=device_id,
                                               at__gt=at - dt.timedelta(minutes=max(rule.minutes, 1))).count()
        if failures > rule.count:
            open_alerts(rule, ids, at, {device_id: {"failedLogins": failures}})


# --- the sweep ----------------------------------------------------------------------------------------

def fire_due_timers(at: dt.datetime | None = None, batch: int = CHUNK) -> int:
    """Timers due now: their alerts open where the condition still holds. Claimed with SKIP LOCKED, so two
    sweeps never fire one timer twice."""
    from connectivity.models import LatestValue, ValueKind

    at = at or now()
    opened = 0
    while True:
        with transaction.atomic():
            due = list(AlertTimer.objects.select_for_update(skip_locked=True).filter(due_at__lte=at)
                       .order_by("due_at").values_list("pk", "rule_id", "device_id", "kind")[:batch])
            if not due:
                return opened
            AlertTimer.objects.filter(pk__in=[t[0] for t in due]).delete()
            by_rule: dict[int, list[int]] = {}
            for _pk, rule_id, device_id, _kind in due:
                by_rule.setdefault(rule_id, []).append(device_id)
            for rule in AlertRule.objects.filter(pk__in=list(by_rule), enabled=True):
                ids = by_rule[rule.pk]
                if rule.kind == RuleKind.OFFLINE_FOR:
                    # still offline, enabled, and still the rule's OU's (not moved away meanwhile)
                    still = Device.objects.filter(pk__in=ids, online=False, enabled=True, ou_id=rule.ou_id)
                    opened += open_alerts_of(rule, still, at, {"offlineMinutes": rule.minutes})
                elif rule.kind == RuleKind.THRESHOLD:
                    values = dict(LatestValue.objects.filter(device_id__in=ids, kind=ValueKind.MEASUREPOINT,
                                                             identifier=rule.identifier)
                                  .values_list("device_id", "value"))
                    over = {pk: v for pk, v in values.items() if violates(rule, v)}
                    opened += open_alerts(rule, sorted(over), at, {pk: {"value": v} for pk, v in over.items()})
        if len(due) < batch:
            return opened


def sweep(at: dt.datetime | None = None) -> dict[str, int]:
    """Beat: fire due timers, notify the state changes not yet notified, re-send due retries."""
    from . import notify

    at = at or now()
    figures = {"opened": fire_due_timers(at)}
    figures.update(notify.notify_pending(at))
    figures["retries"] = notify.enqueue_due_retries(at)
    return figures

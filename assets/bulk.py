"""Set-based bulk operations on devices: what a fleet job calls for each chunk of its devices.

Each function does what the single-device service of the same name does (assets.services), for a list of
device ids, in a few queries however many devices the chunk holds: the devices are read (and locked) in one
query narrowed by `writable_by(actor)`, changed in one UPDATE (one per thing model for attributes), and
audited with one AuditEvent per device written by one bulk INSERT, each carrying the job's id. A device the
actor may not write is indistinguishable from a missing one: failed, "not found". A device already in the
wanted state is skipped, with the reason; the others are done. The signals the single services send
(disable → connectivity kicks the live sessions; delete → connectivity and tracing let go) are sent once
per chunk with every id.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import models, transaction
from django.db.models import F, Func, Value
from django.utils.timezone import now
from django.utils.translation import gettext as _

from accounts import audit
from accounts.actors import is_system
from accounts.models import AuditEvent

from .models import Device, Disablement, ThingModel
from .services import attribute_problems, required_message
from .signals import devices_deleted, devices_disabled, devices_enabled
from .validators import MAX_TAGS, tag_problems


@dataclass
class BulkOutcome:
    """Per device id: done, failed (with the message) or skipped (with the reason)."""

    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)

    def merge(self, other: BulkOutcome) -> BulkOutcome:
        self.done.extend(other.done)
        self.failed.update(other.failed)
        self.skipped.update(other.skipped)
        return self


def not_found_message() -> str:
    return _("not found")


# --- reading and auditing a chunk -----------------------------------------------------------------

def _unique(device_ids: Sequence[int]) -> list[int]:
    return list(dict.fromkeys(int(pk) for pk in device_ids))


def _writable_rows(actor: Any, ids: list[int], fields: Sequence[str],
                   outcome: BulkOutcome) -> dict[int, dict[str, Any]]:
    """The actor's writable devices among `ids` (locked for the transaction), by id; the rest failed."""
    is_system(actor, system_allowed=False)  # None: TypeError; SYSTEM: refused, as the single services do
    # locked: a concurrent change (or a login, which takes the same lock) waits for this chunk to commit
    devices = Device.objects.writable_by(actor).filter(pk__in=ids).select_for_update(of=("self",))
    rows = {row["pk"]: row for row in devices.order_by("pk").values(
        "pk", "ou_id", "asset_id", "name", "device_key", *fields)}
    for pk in ids:
        if pk not in rows:
            outcome.failed[pk] = not_found_message()
    return rows


def _audit(actor: Any, action: str, rows: list[dict[str, Any]], job_id: str | None,
           before: Any = None, after: Any = None) -> None:
    """One event per device, one INSERT. `before`/`after`: a dict for all, or a callable row → dict."""
    request_id = audit.request_id_var.get()
    user = actor if getattr(actor, "is_authenticated", False) else None

    def shape(value: Any, row: dict[str, Any], *, carries_job: bool) -> dict | None:
        data = value(row) if callable(value) else value
        if carries_job and job_id is not None:
            data = {**(data or {}), "job_id": job_id}
        return data

    AuditEvent.objects.bulk_create([
        AuditEvent(actor=user, ou_id=row["ou_id"], action=action, object_type="device", object_id=row["asset_id"],
                   object_repr=f"{row['name']} ({row['device_key']})"[:200],
                   before=shape(before, row, carries_job=False), after=shape(after, row, carries_job=True),
                   request_id=request_id)
        for row in rows
    ], batch_size=1000)


def _audit_same_change(actor: Any, action: str, job_id: str | None, before: dict, after: dict,
                       source: str) -> tuple[str, list[Any]]:
    """One event per device when every device records the same change: the INSERT … SELECT (and its parameters)
    that reads the devices' ou_id, asset_id, name and device_key from `source` (a table narrowed by a WHERE, or
    the rows an UPDATE returned), so nothing per device crosses the wire (a fifth of bulk_create's time on a
    2,000-device chunk)."""
    from django.db import connection

    if job_id is not None:
        after = {**after, "job_id": job_id}
    json_param = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    audit_table = connection.ops.quote_name(AuditEvent._meta.db_table)
    sql = (f"INSERT INTO {audit_table} (created_at, actor_id, ou_id, action, object_type, object_id, object_repr, "
           f"before, after, request_id) SELECT %s, %s, ou_id, %s, 'device', asset_id, "
           f"substr(name || ' (' || device_key || ')', 1, 200), {json_param}, {json_param}, %s FROM {source}")
    user_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    return sql, [now(), user_id, action, json.dumps(before), json.dumps(after), audit.request_id_var.get()]


# --- JSON edits in the database (one UPDATE for every device of the chunk) -------------------------

class JSONMerge(Func):
    """`expression` with the keys of `value` set: `||` on PostgreSQL, json_patch elsewhere (SQLite)."""

    function = "json_patch"
    output_field = models.JSONField()

    def __init__(self, expression: Any, value: dict) -> None:
        super().__init__(expression, Value(value, output_field=models.JSONField()))

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        return self.as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner=" || ", **extra)


class JSONWithout(Func):
    """`expression` without the given top-level keys: `- 'key'` on PostgreSQL, json_remove elsewhere."""

    function = "json_remove"
    output_field = models.JSONField()

    def __init__(self, expression: Any, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        super().__init__(expression, *(Value(f'$."{key}"') for key in self.keys))

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql}{' - %s::text' * len(self.keys)})", [*params, *self.keys]


def _edit_json(ids: list[int], column: str, *, merge: dict | None = None, remove: Sequence[str] = ()) -> None:
    value: Any = F(column)
    if remove:
        value = JSONWithout(value, remove)
    if merge:
        value = JSONMerge(value, merge)
    Device.objects.filter(pk__in=ids).update(**{column: value, "updated_at": now()})


# --- enable / disable ---------------------------------------------------------------------------------

def set_enabled(actor: Any, device_ids: Sequence[int], enabled: bool, *, job_id: str | None = None) -> BulkOutcome:
    """Enable or disable the devices; disabled ones lose their live sessions when the transaction commits.

    One statement per chunk: disabling inserts the writable devices' Disablement rows (ON CONFLICT DO NOTHING:
    the devices already disabled are left as they are), enabling deletes them, and on PostgreSQL the same
    statement writes their audit events. No device row is written. Only ids it did not return are read again,
    to tell "already" (skipped) from "not found" (failed)."""
    outcome = BulkOutcome()
    ids = _unique(device_ids)
    if not ids:
        return outcome
    is_system(actor, system_allowed=False)  # None: TypeError; SYSTEM: refused, as the single services do
    writable = Device.objects.writable_by(actor)
    with transaction.atomic():
        changed = _change_enabled(actor, writable, ids, enabled, job_id)
        if changed:
            # the connectivity app closes the live sessions of disabled devices (one kick for the chunk)
            signal = devices_enabled if enabled else devices_disabled
            transaction.on_commit(lambda: signal.send(sender=Device, device_ids=changed))
        done = set(changed)
        rest = [pk for pk in ids if pk not in done]
        already = set(writable.filter(pk__in=rest).values_list("pk", flat=True)) if rest else set()
    for pk in rest:
        if pk in already:
            outcome.skipped[pk] = _("already enabled") if enabled else _("already disabled")
        else:
            outcome.failed[pk] = not_found_message()
    outcome.done = [pk for pk in ids if pk in done]
    return outcome


def _change_enabled(actor: Any, writable: models.QuerySet[Device], ids: list[int], enabled: bool,
                    job_id: str | None) -> list[int]:
    """Delete (enable) or insert (disable) the Disablement rows of those of `writable` whose id is in `ids`,
    audited; the ids changed, in id order."""
    from django.db import connection

    try:
        where, params = writable.query.get_compiler(connection=connection).compile(writable.query.where)
    except EmptyResultSet:  # writable_by: none
        return []
    devices = connection.ops.quote_name(Device._meta.db_table)
    marks = connection.ops.quote_name(Disablement._meta.db_table)
    postgresql = connection.vendor == "postgresql"
    among = "= ANY(%s)" if postgresql else f"IN ({', '.join(['%s'] * len(ids))})"
    id_params = [ids] if postgresql else ids
    writable = f"FROM {devices} WHERE {where} AND id {among}"
    if enabled:
        change = f"DELETE FROM {marks} WHERE device_id IN (SELECT id {writable}) RETURNING device_id"
    else:
        change = (f"INSERT INTO {marks} (device_id, ou_id) SELECT id, ou_id {writable} ON CONFLICT DO NOTHING "
                  f"RETURNING device_id")
    audit_args = ("device.enable" if enabled else "device.disable", job_id, {"enabled": not enabled},
                  {"enabled": enabled})
    with connection.cursor() as cursor:
        if postgresql:  # one statement; the ids as one array parameter
            insert, insert_params = _audit_same_change(
                actor, *audit_args, source=f"changed JOIN {devices} ON {devices}.id = changed.device_id")
            cursor.execute(f"WITH changed AS ({change}), audited AS ({insert}) SELECT device_id FROM changed",
                           [*params, *id_params, *insert_params])
            return sorted(row[0] for row in cursor.fetchall())
        cursor.execute(change, [*params, *id_params])
        changed = sorted(row[0] for row in cursor.fetchall())
        if changed:
            insert, insert_params = _audit_same_change(
                actor, *audit_args, source=f"{devices} WHERE id IN ({', '.join(['%s'] * len(changed))})")
            cursor.execute(insert, [*insert_params, *changed])
        return changed


# --- delete ---------------------------------------------------------------------------------------------

def delete_devices(actor: Any, device_ids: Sequence[int], *, job_id: str | None = None) -> BulkOutcome:
    """Delete the devices (their sub-devices stay, detached); live sessions end, traces stop."""
    outcome = BulkOutcome()
    ids = _unique(device_ids)
    if not ids:
        return outcome
    with transaction.atomic():
        rows = _writable_rows(actor, ids, ["description", "timezone", "attributes", "tags", "enabled",
                                           "gateway__asset_id"], outcome)
        doomed = list(rows)
        if not doomed:
            return outcome
        devices_deleted.send(sender=Device, device_ids=doomed)  # before the rows go, as delete_device does
        Device.objects.filter(gateway_id__in=doomed).exclude(pk__in=doomed).update(gateway=None)
        _audit(actor, "device.delete", list(rows.values()), job_id, before=_snapshot)
        Device.objects.filter(pk__in=doomed).delete()
    outcome.done = [pk for pk in ids if pk in rows]
    return outcome


def _snapshot(row: dict[str, Any]) -> dict[str, Any]:
    """What services.device_snapshot records, from a row of values()."""
    return {"name": row["name"], "description": row["description"], "timezone": row["timezone"],
            "attributes": row["attributes"], "tags": row["tags"], "enabled": row["enabled"],
            "gateway": row["gateway__asset_id"]}


# --- tags -------------------------------------------------------------------------------------------------

def add_tags(actor: Any, device_ids: Sequence[int], tags: dict[str, str], *,
             job_id: str | None = None) -> BulkOutcome:
    """Set these tags (key: value) on each device, keeping its others; at most MAX_TAGS per device."""
    outcome = BulkOutcome()
    ids = _unique(device_ids)
    if not ids:
        return outcome
    problems = tag_problems(tags) or ([] if tags else [_("Give at least one tag.")])
    with transaction.atomic():
        rows = _writable_rows(actor, ids, ["tags"], outcome)
        changing = []
        for pk, row in rows.items():
            current = row["tags"] or {}
            merged = {**current, **tags}
            if problems:
                outcome.failed[pk] = problems[0]
            elif merged == current:
                outcome.skipped[pk] = _("tags unchanged")
            elif len(merged) > MAX_TAGS:
                outcome.failed[pk] = _("a device can have at most %(maximum)d tags, got %(count)d") % {
                    "maximum": MAX_TAGS, "count": len(merged)}
            else:
                row["after"] = merged
                changing.append(row)
        if changing:
            _edit_json([row["pk"] for row in changing], "tags", merge=dict(tags))
            _audit(actor, "device.update", changing, job_id, before=lambda row: {"tags": row["tags"]},
                   after=lambda row: {"tags": row["after"]})
    done = {row["pk"] for row in changing}
    outcome.done = [pk for pk in ids if pk in done]
    return outcome


def remove_tags(actor: Any, device_ids: Sequence[int], keys: Sequence[str], *,
                job_id: str | None = None) -> BulkOutcome:
    """Remove the tags with these keys from each device; a device with none of them is skipped."""
    outcome = BulkOutcome()
    ids = _unique(device_ids)
    keys = [key for key in dict.fromkeys(keys) if isinstance(key, str)]
    if not ids:
        return outcome
    bad = [key for key in keys if tag_problems({key: ""})]
    with transaction.atomic():
        rows = _writable_rows(actor, ids, ["tags"], outcome)
        changing = []
        for pk, row in rows.items():
            current = row["tags"] or {}
            if bad or not keys:
                outcome.failed[pk] = (tag_problems({bad[0]: ""})[0] if bad else _("Give at least one tag key."))
            elif not any(key in current for key in keys):
                outcome.skipped[pk] = _("has none of these tags")
            else:
                row["after"] = {k: v for k, v in current.items() if k not in keys}
                changing.append(row)
        if changing:
            _edit_json([row["pk"] for row in changing], "tags", remove=keys)
            _audit(actor, "device.update", changing, job_id, before=lambda row: {"tags": row["tags"]},
                   after=lambda row: {"tags": row["after"]})
    done = {row["pk"] for row in changing}
    outcome.done = [pk for pk in ids if pk in done]
    return outcome


# --- attributes -------------------------------------------------------------------------------------------

def set_attributes(actor: Any, device_ids: Sequence[int], attributes: dict, *,
                   job_id: str | None = None) -> BulkOutcome:
    """Set these attribute values on each device, checked against the device's own thing model (as a single
    edit checks them); an empty value removes an optional attribute. One UPDATE per model in the chunk."""
    outcome = BulkOutcome()
    ids = _unique(device_ids)
    if not ids:
        return outcome
    with transaction.atomic():
        rows = _writable_rows(actor, ids, ["attributes", "product__model_id"], outcome)
        model_ids = {row["product__model_id"] for row in rows.values()}
        models_by_id = {model.pk: model for model in ThingModel.objects.filter(pk__in=model_ids)
                        .only("pk", "model_id", "attributes")}
        by_model: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in rows.values():
            by_model[row["product__model_id"]].append(row)
        changing_all: list[dict[str, Any]] = []
        for model_pk, model_rows in by_model.items():
            model = models_by_id[model_pk]
            clean, problems = attribute_problems(model, attributes, require_all=False)
            if problems or not isinstance(attributes, dict) or not attributes:
                message = next(iter(problems.values()), None) or _("Give at least one attribute.")
                for row in model_rows:
                    outcome.failed[row["pk"]] = message
                continue
            removed = [key for key in attributes if key not in clean]
            required = [f["identifier"] for f in model.attributes if f.get("required")]
            changing = []
            for row in model_rows:
                current = row["attributes"] or {}
                after = {k: v for k, v in {**current, **clean}.items() if k not in removed}
                missing = next((key for key in required if key not in after), None)
                if missing is not None:
                    outcome.failed[row["pk"]] = required_message(missing)
                elif after == current:
                    outcome.skipped[row["pk"]] = _("attributes unchanged")
                else:
                    row["after"] = after
                    changing.append(row)
            if changing:
                _edit_json([row["pk"] for row in changing], "attributes", merge=clean, remove=removed)
                changing_all.extend(changing)
        if changing_all:
            _audit(actor, "device.update", changing_all, job_id, before=lambda row: {"attributes": row["attributes"]},
                   after=lambda row: {"attributes": row["after"]})
    done = {row["pk"] for row in changing_all}
    outcome.done = [pk for pk in ids if pk in done]
    return outcome

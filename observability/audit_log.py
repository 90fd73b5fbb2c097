"""The OU-facing audit log: which events a user may read, filters, keyset pages, links and exports.

Shared by the console page and the API. Pages are found by (created_at, id), newest first, so page
1,000 costs what page 1 costs; exports walk the same keyset in batches, in bounded memory.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import AuditEvent, OrganizationUnit
from assets.models import BatchJob, Device, Product, ThingModel
from tracing.models import MessageTrace

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
EXPORT_BATCH = 1000
TEXT_LIMIT = 200  # object_repr is at most 200 characters


class BadFilter(ValueError):
    """A filter the user typed that cannot be applied; the message says why."""


@dataclass
class AuditFilters:
    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    text: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    given: dict[str, str] = field(default_factory=dict)  # what was typed, to fill the form and the links

    FIELDS = ("actor", "action", "object_type", "object_id", "q", "since", "until")

    @classmethod
    def parse(cls, params: Any) -> AuditFilters:
        """From a query string; raises BadFilter for a date that is none or a range that ends before it starts."""
        given = {name: str(params.get(name, "")).strip() for name in cls.FIELDS}
        given = {name: value for name, value in given.items() if value}
        for value in given.values():
            if "\x00" in value or len(value) > TEXT_LIMIT:
                raise BadFilter(_("A filter holds at most %(limit)d characters and no NUL.") % {"limit": TEXT_LIMIT})
        dates = {}
        for name in ("since", "until"):
            try:
                dates[name] = dt.date.fromisoformat(given[name]) if name in given else None
            except ValueError:
                raise BadFilter(_("“%(value)s” is not a date: use YYYY-MM-DD.") % {"value": given[name]}) from None
        # past the years a datetime can carry in any zone: no bound on that side
        if dates["since"] and dates["since"].year < 1900:
            dates["since"] = None
        if dates["until"] and dates["until"].year > 9998:
            dates["until"] = None
        if dates["since"] and dates["until"] and dates["until"] < dates["since"]:
            raise BadFilter(_("The end date is before the start date."))
        return cls(actor=given.get("actor", ""), action=given.get("action", ""),
                   object_type=given.get("object_type", ""), object_id=given.get("object_id", ""),
                   text=given.get("q", ""), since=dates["since"], until=dates["until"], given=given)

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if self.actor:
            # "system" names the portal's own writes, recorded with no user
            events = events.filter(actor__isnull=True) if self.actor == "system" else events.filter(
                actor__username=self.actor)
        if self.action:
            events = events.filter(action=self.action)
        if self.object_type:
            events = events.filter(object_type=self.object_type)
        if self.object_id:
            events = events.filter(object_id=self.object_id)
        if self.text:
            events = events.filter(object_repr__icontains=self.text)
        zone = timezone.get_current_timezone()  # a day as the reader lives it (UTC in the API)
        if self.since:
            events = events.filter(created_at__gte=dt.datetime.combine(self.since, dt.time.min, zone))
        if self.until:
            end = dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time.min, zone)
            events = events.filter(created_at__lt=end)
        return events


# --- keyset pages ------------------------------------------------------------------------------------

def encode_cursor(event: AuditEvent) -> str:
    raw = f"{event.created_at.isoformat()}|{event.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, pk = raw.rsplit("|", 1)
        moment = dt.datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError
        return moment, int(pk)
    except (ValueError, UnicodeDecodeError):
        raise BadFilter(_("The page link is broken: start again from the first page.")) from None


def older_than(at: dt.datetime, pk: int) -> Q:
    # the first conjunct is a plain range on the indexed column: the scan starts there
    return Q(created_at__lte=at) & (Q(created_at__lt=at) | Q(pk__lt=pk))


@dataclass
class EventPage:
    events: list[AuditEvent]
    next_cursor: str | None


def event_page(events: QuerySet[AuditEvent], *, cursor: str = "", size: int = PAGE_SIZE) -> EventPage:
    """One page, newest first, after `cursor` (the last event of the page before); one query."""
    if cursor:
        events = events.filter(older_than(*decode_cursor(cursor)))
    rows = list(events.select_related("actor").order_by("-created_at", "-id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return EventPage(rows, encode_cursor(rows[-1]) if more else None)


def walk(events: QuerySet[AuditEvent], batch: int = EXPORT_BATCH) -> Iterator[AuditEvent]:
    """Every event, newest first, `batch` rows per query: memory stays bounded however many there are."""
    events = events.select_related("actor", "ou").order_by("-created_at", "-id")
    position: tuple[dt.datetime, int] | None = None
    while True:
        rows = list((events.filter(older_than(*position)) if position else events)[:batch])
        yield from rows
        if len(rows) < batch:
            return
        position = (rows[-1].created_at, rows[-1].pk)


# --- what a row shows --------------------------------------------------------------------------------

def actor_name(event: AuditEvent) -> str:
    return event.actor.username if event.actor_id and event.actor else "system"


def changes(event: AuditEvent) -> list[tuple[str, Any, Any]]:
    """The keys whose values differ between before and after: (key, before, after), sorted by key."""
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    return [(key, before.get(key), after.get(key)) for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)]


def short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# object_type → (model's queryset builder, public id field, url of the object)
def _link_targets(user: Any) -> dict[str, tuple[QuerySet, str, Any]]:
    return {
        "device": (Device.objects.visible_to(user).only("asset_id"), "asset_id",
                   lambda d: reverse("assets:device-detail", args=[d.asset_id])),
        "product": (Product.objects.visible_to(user).only("product_key"), "product_key",
                    lambda p: reverse("assets:product-detail", args=[p.product_key])),
        "thingmodel": (ThingModel.objects.visible_to(user).only("pk", "model_id"), "model_id",
                       lambda m: reverse("assets:model-detail", args=[m.pk])),
        "messagetrace": (MessageTrace.objects.visible_to(user).filter(device__isnull=False)
                         .select_related("device").only("pk", "device__asset_id"), "pk",
                         lambda t: reverse("tracing:trace-logs", args=[t.device.asset_id, t.pk])),
        "batchjob": (BatchJob.objects.visible_to(user).only("pk"), "pk",
                     lambda j: reverse("assets:batch-job", args=[j.pk])),
    }


def object_links(user: Any, events: Iterable[AuditEvent], ou: OrganizationUnit | None = None) -> dict[int, str]:
    """{event pk: url} for the events whose object still exists and `user` may see: one query per kind
    of object on the page (at most five), never one per row."""
    wanted: dict[str, set[str]] = {}
    for event in events:
        if event.object_id:
            wanted.setdefault(event.object_type, set()).add(event.object_id)
    urls: dict[tuple[str, str], str] = {}
    targets = _link_targets(user) if wanted else {}
    for object_type, ids in wanted.items():
        if object_type not in targets:
            continue
        queryset, key, url = targets[object_type]
        if key == "pk":
            ids = {i for i in ids if i.isdigit() and len(i) < 19}
        if not ids:
            continue
        for obj in queryset.filter(**{f"{key}__in": sorted(ids)}):
            urls[(object_type, str(getattr(obj, key)))] = url(obj)
    return {event.pk: urls[(event.object_type, event.object_id)] for event in events
            if (event.object_type, event.object_id) in urls}


# --- exports -----------------------------------------------------------------------------------------

EXPORT_COLUMNS = ("time", "actor", "ou", "action", "object_type", "object_id", "object_repr", "before", "after",
                  "request_id")


def event_record(event: AuditEvent) -> dict[str, Any]:
    return {"time": event.created_at.astimezone(dt.UTC).isoformat(), "actor": actor_name(event),
            "ou": event.ou.ou_id if event.ou else None, "action": event.action, "object_type": event.object_type,
            "object_id": event.object_id, "object_repr": event.object_repr, "before": event.before,
            "after": event.after, "request_id": event.request_id}


def csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: Iterable[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(EXPORT_COLUMNS)
    for event in walk(events):
        record = event_record(event)
        for key in ("before", "after"):
            record[key] = "" if record[key] is None else json.dumps(record[key], ensure_ascii=False)
        yield line(record[column] for column in EXPORT_COLUMNS)


def jsonl_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    for event in walk(events):
        yield json.dumps(event_record(event), ensure_ascii=False, default=str) + "\n"


EXPORT_FORMATS = {"csv": ("text/csv; charset=utf-8", csv_lines), "jsonl": ("application/x-ndjson", jsonl_lines)}

"""`WHERE id IN (thousands of ids)` without thousands of parameters.

Django binds `pk__in=ids` as one placeholder per id, prepared one by one and spliced into the SQL text by the
client-side cursor: for a chunk of 2,000 ids that costs more than the query. On PostgreSQL `id_among` sends
the ids as one array parameter (`= ANY(%s)`); elsewhere it is the plain `__in` lookup.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, models
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL


def id_among(model: type[models.Model], field: str, ids: Iterable[int]) -> Q | RawSQL:
    """A filter: `model`'s integer `field` (a column of its own table, e.g. "id" or "device_id") is one of
    `ids`; qualified by the table, so it holds in a query that joins others."""
    ids = [int(pk) for pk in ids]
    if connection.vendor != "postgresql":
        return Q(**{f"{field}__in": ids})
    column = model._meta.get_field(field.removesuffix("_id") if field.endswith("_id") else field).column
    quote = connection.ops.quote_name
    return RawSQL(f"{quote(model._meta.db_table)}.{quote(column)} = ANY(%s)", [ids], output_field=BooleanField())

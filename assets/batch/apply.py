"""Writing the valid rows of a batch: set-based SQL, run inside the caller's transaction.

PostgreSQL: COPY the rows into a temporary table, then one `UPDATE … FROM` that rewrites only the
devices whose values differ (update) or one `INSERT … SELECT` (import). Other databases (SQLite,
the embedded default): executemany in chunks, devices equal to their row left alone there too. The
rows meet the database again: a device deleted since parsing (update) or a deviceKey taken since
parsing (import) becomes a problem line, not a failure. Any error raises, and the caller's
transaction rolls back everything this module wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils.timezone import now
from django.utils.translation import gettext_lazy

from ..models import BatchOperation, Device, OrganizationUnit, Product, generate_asset_id
from .tokens import ASSET_ID_LENGTH, SECRET_LENGTH, random_tokens
from .validate import CheckedRow, already_exists, not_found, problem_line, refused_keys_now

CHUNK = 2_000  # rows per executemany on databases without COPY
DEVICE_TABLE = Device._meta.db_table
AGAIN = gettext_lazy(" (found when applying: the database changed after the file was checked)")


@dataclass
class Applied:
    count: int = 0  # rows applied (for update: found, whether or not their values differed)
    changed: int | None = None  # devices actually rewritten, where the database tells
    problems: list[str] = field(default_factory=list)  # rows refused by the check at apply time


def apply_rows(rows: Sequence[CheckedRow], *, product: Product, ou: OrganizationUnit, operation: str,
               key_column: str) -> Applied:
    importing = operation == BatchOperation.IMPORT
    postgres = connection.vendor == "postgresql"
    if importing:
        return _import_postgres(rows, product, ou, key_column) if postgres else _import_chunks(
            rows, product, ou, key_column)
    return _update_postgres(rows, product, ou, key_column) if postgres else _update_chunks(
        rows, product, ou, key_column)


def _line(row: CheckedRow, key_column: str, message: str) -> str:
    return problem_line(row.number, key_column, "deviceKey", message + str(AGAIN))


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


# --- PostgreSQL -----------------------------------------------------------------------------------------

# the temporary table's columns are CheckedRow's, in its order: the checked rows are copied as they are
BATCH_COLUMNS = ("row_number integer, device_key text, name text, timezone text, description text, attributes jsonb, "
                 "tags jsonb")
ROW_FIELDS = ", ".join(["row_number", *CheckedRow._fields[1:]])
UNIQUE_ASSET_ID = "device_asset_id_unique"
# a device's values after its row: an empty cell (NULL) keeps the device's value; attributes merge
_AFTER_ROW = {"name": "COALESCE(r.name, d.name)", "description": "COALESCE(r.description, d.description)",
              "timezone": "COALESCE(r.timezone, d.timezone)",
              "attributes": "CASE WHEN r.attributes IS NULL THEN d.attributes ELSE d.attributes || r.attributes END",
              "tags": "COALESCE(r.tags, d.tags)"}
# Only devices whose values differ are written: an UPDATE that sets equal values still makes a new row
# version, with an entry in each of the device table's indexes, and a re-uploaded template repeats
# most of its rows.
UPDATE_CHANGED_DEVICES = f"""
    UPDATE {DEVICE_TABLE} AS d SET {", ".join(f"{column} = {value}" for column, value in _AFTER_ROW.items())},
        updated_at = %s
    FROM batch_rows AS r
    WHERE d.product_id = %s AND d.device_key = r.device_key AND d.ou_id = %s
        AND ({", ".join(_AFTER_ROW.values())}) IS DISTINCT FROM ({", ".join(f"d.{column}" for column in _AFTER_ROW)})"""


def _temp_table(cursor: Any, columns: str) -> None:
    # dropped first: inside an outer transaction (a test, a caller's atomic) ON COMMIT has not come yet
    cursor.execute("DROP TABLE IF EXISTS batch_rows")
    cursor.execute(f"CREATE TEMPORARY TABLE batch_rows ({columns}) ON COMMIT DROP")


def _copy(cursor: Any, columns: str, records: Iterable[tuple]) -> None:
    with cursor.cursor.copy(f"COPY batch_rows ({columns}) FROM STDIN") as copy:
        for record in records:
            copy.write_row(record)


@contextmanager
def _tuned(cursor: Any) -> Iterator[None]:
    """For the batch's statements only: join each row to its device through the deviceKey index, one
    probe per row in the order the rows were copied (an update's sorted by deviceKey, so the index is
    walked once from left to right), never by hashing the whole device table, which the planner prefers
    from a few thousand rows on and which took twice as long at 100,000 rows of 1,000,000 devices
    (0.96 s against 0.48 s). work_mem: room to sort an import's rows in memory."""
    names, values = ["enable_hashjoin", "enable_mergejoin", "work_mem"], ["off", "off", "64MB"]
    cursor.execute("SELECT current_setting(name) FROM unnest(%s::text[]) WITH ORDINALITY AS s(name, n) ORDER BY n",
                   [names])
    before = [value for (value,) in cursor.fetchall()]
    set_local = "SELECT set_config(name, value, true) FROM unnest(%s::text[], %s::text[]) AS s(name, value)"
    cursor.execute(set_local, [names, values])
    yield
    # not in a finally: after an error the transaction (or its savepoint) rolls back, and SET LOCAL with it
    cursor.execute(set_local, [names, before])


def _update_postgres(rows: Sequence[CheckedRow], product: Product, ou: OrganizationUnit,
                     key_column: str) -> Applied:
    with connection.cursor() as cursor, _tuned(cursor):
        _temp_table(cursor, BATCH_COLUMNS)
        _copy(cursor, ROW_FIELDS, sorted(rows, key=attrgetter("device_key")))
        cursor.execute(UPDATE_CHANGED_DEVICES, [now(), product.pk, ou.pk])
        changed = cursor.rowcount
        missing = set()
        if changed < len(rows):  # some rows were equal to their device, or have none (any more): which?
            cursor.execute(
                f"""SELECT r.row_number FROM batch_rows AS r WHERE NOT EXISTS (
                        SELECT 1 FROM {DEVICE_TABLE} AS d
                        WHERE d.product_id = %s AND d.device_key = r.device_key AND d.ou_id = %s)""",
                [product.pk, ou.pk])
            missing = {number for (number,) in cursor.fetchall()}
        cursor.execute("DROP TABLE batch_rows")
    gone = [_line(r, key_column, not_found(r.device_key, product)) for r in rows if r.number in missing]
    return Applied(count=len(rows) - len(missing), problems=gone, changed=changed)


def _import_postgres(rows: Sequence[CheckedRow], product: Product, ou: OrganizationUnit,
                     key_column: str) -> Applied:
    with connection.cursor() as cursor, _tuned(cursor):
        _temp_table(cursor, BATCH_COLUMNS + ", asset_id text, device_secret text")
        _copy(cursor, ROW_FIELDS + ", asset_id, device_secret", (
            (*row, asset_id, secret) for row, asset_id, secret in zip(
                rows, _unique_asset_ids(len(rows)), random_tokens(len(rows), SECRET_LENGTH), strict=True)))
        cursor.execute(f"""SELECT r.row_number FROM batch_rows AS r JOIN {DEVICE_TABLE} AS d
                           ON d.product_id = %s AND d.device_key = r.device_key""", [product.pk])
        taken = {number for (number,) in cursor.fetchall()}
        if taken:
            cursor.execute("DELETE FROM batch_rows WHERE row_number = ANY(%s)", [list(taken)])
        stamp = now()
        insert = f"""INSERT INTO {DEVICE_TABLE} (asset_id, device_key, device_secret, name, description, timezone,
                         attributes, tags, online, created_at, updated_at, ou_id, product_id)
                     SELECT r.asset_id, r.device_key, r.device_secret, r.name, r.description, r.timezone,
                         r.attributes, r.tags, FALSE, %s, %s, %s, %s
                     FROM batch_rows AS r ORDER BY r.row_number"""
        while True:
            try:
                # a savepoint: a random asset ID meeting an existing one (about once in 2,000 imports of
                # 100,000 rows into 1,000,000 devices) costs a retry, not a join of every row beforehand
                with transaction.atomic():
                    cursor.execute(insert, [stamp, stamp, ou.pk, product.pk])
                    inserted = cursor.rowcount
                break
            except IntegrityError as error:
                if getattr(getattr(error.__cause__, "diag", None), "constraint_name", None) != UNIQUE_ASSET_ID:
                    raise
                _replace_taken_asset_ids(cursor)
        cursor.execute("DROP TABLE batch_rows")
    refused = [_line(r, key_column, already_exists(r.device_key, product)) for r in rows if r.number in taken]
    return Applied(count=inserted, problems=refused)


def _replace_taken_asset_ids(cursor: Any) -> None:
    """Draw new asset IDs for the rows whose random one is already a device's, or an earlier row's."""
    while True:
        cursor.execute(f"""SELECT r.row_number FROM batch_rows AS r
                           WHERE EXISTS (SELECT 1 FROM {DEVICE_TABLE} AS d WHERE d.asset_id = r.asset_id)
                           UNION
                           SELECT row_number FROM (SELECT row_number, row_number() OVER (
                               PARTITION BY asset_id ORDER BY row_number) AS nth FROM batch_rows) AS numbered
                           WHERE nth > 1""")
        clashes = [number for (number,) in cursor.fetchall()]
        if not clashes:
            return
        cursor.executemany("UPDATE batch_rows SET asset_id = %s WHERE row_number = %s",
                           [(generate_asset_id(), number) for number in clashes])


def _unique_asset_ids(count: int) -> list[str]:
    ids = set(random_tokens(count, ASSET_ID_LENGTH))
    while len(ids) < count:
        ids.add(generate_asset_id())
    return list(ids)


# --- other databases (SQLite) ----------------------------------------------------------------------------

def write_chunk(sql: str, params: list[tuple]) -> None:
    """One executemany; a module function so that tests can make a chunk fail."""
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _update_chunks(rows: Sequence[CheckedRow], product: Product, ou: OrganizationUnit,
                   key_column: str) -> Applied:
    stamp = connection.ops.adapt_datetimefield_value(now())
    applied = Applied(changed=0)
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        current = {values[0]: values[1:] for values in Device.objects.filter(
            product=product, ou=ou, device_key__in=[r.device_key for r in chunk]).values_list(
            "device_key", "pk", "name", "description", "timezone", "attributes", "tags")}
        params = []
        for row in chunk:
            found = current.get(row.device_key)
            if found is None:
                applied.problems.append(_line(row, key_column, not_found(row.device_key, product)))
                continue
            applied.count += 1
            pk, *before = found
            name, description, timezone, attributes, tags = before
            after = [name if row.name is None else row.name,
                     description if row.description is None else row.description,
                     timezone if row.timezone is None else row.timezone,
                     attributes if row.attributes is None else {**(attributes or {}), **json.loads(row.attributes)},
                     tags if row.tags is None else json.loads(row.tags)]
            if after != before:  # as on PostgreSQL: a device equal to its row is not rewritten
                params.append((*after[:3], _json(after[3]), _json(after[4]), stamp, pk))
        if params:
            write_chunk(f"""UPDATE {DEVICE_TABLE} SET name = %s, description = %s, timezone = %s, attributes = %s,
                            tags = %s, updated_at = %s WHERE id = %s""", params)
            applied.changed += len(params)
    return applied


def _import_chunks(rows: Sequence[CheckedRow], product: Product, ou: OrganizationUnit,
                   key_column: str) -> Applied:
    stamp = now()
    applied = Applied()
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        taken = refused_keys_now(product, ou, BatchOperation.IMPORT, [r.device_key for r in chunk])
        fresh = [r for r in chunk if r.device_key not in taken]
        applied.problems += [_line(r, key_column, already_exists(r.device_key, product))
                             for r in chunk if r.device_key in taken]
        asset_ids = _free_asset_ids(len(fresh))
        secrets_ = random_tokens(len(fresh), SECRET_LENGTH)
        params = [(asset_id, r.device_key, secret, r.name, r.description, r.timezone,
                   r.attributes, r.tags, False, _db_time(stamp), _db_time(stamp), ou.pk,
                   product.pk) for r, asset_id, secret in zip(fresh, asset_ids, secrets_, strict=True)]
        if params:
            write_chunk(f"""INSERT INTO {DEVICE_TABLE} (asset_id, device_key, device_secret, name, description,
                            timezone, attributes, tags, online, created_at, updated_at, ou_id, product_id)
                            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""", params)
            applied.count += len(params)
    return applied


def _free_asset_ids(count: int) -> list[str]:
    ids = set(_unique_asset_ids(count))
    while clashes := set(Device.objects.filter(asset_id__in=list(ids)).values_list("asset_id", flat=True)):
        ids -= clashes
        while len(ids) < count:
            ids.add(generate_asset_id())
    return list(ids)


def _db_time(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)

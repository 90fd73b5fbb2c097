"""Writing the valid rows of a batch: set-based SQL, run inside the caller's transaction.

PostgreSQL: COPY the rows into a temporary table, then one `UPDATE … FROM` (update) or one
`INSERT … SELECT` (import). Other databases (SQLite, the embedded default): executemany/bulk_create
in chunks. Both check the rows against the database again first: a device deleted since parsing
(update) or a deviceKey taken since parsing (import) becomes a problem line, not a failure.
Any error raises, and the caller's transaction rolls back everything this module wrote.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils.timezone import now

from ..models import ALPHANUMERIC, BatchOperation, Device, OrganizationUnit, Product, generate_asset_id
from .validate import CheckedRow, already_exists, existing_devices, not_found, problem_line

CHUNK = 2_000  # rows per executemany on databases without COPY
SECRET_LENGTH = len(Device._meta.get_field("device_secret").default())
ASSET_ID_LENGTH = len(Device._meta.get_field("asset_id").default())
# byte values mapped onto the 62 letters and digits; 248 = 4 × 62, bytes above are dropped so each
# character stays equally likely
_UNBIASED = 248
_TO_ALPHANUMERIC = bytes(ord(ALPHANUMERIC[b % len(ALPHANUMERIC)]) if b < _UNBIASED else 0 for b in range(256))
_BIASED = bytes(range(_UNBIASED, 256))
DEVICE_TABLE = Device._meta.db_table
AGAIN = " (found when applying: the database changed after the file was checked)"


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
    return problem_line(row.number, key_column, "deviceKey", message + AGAIN)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


# --- PostgreSQL -----------------------------------------------------------------------------------------

def _temp_table(cursor: Any, columns: str) -> None:
    # dropped first: inside an outer transaction (a test, a caller's atomic) ON COMMIT has not come yet
    cursor.execute("DROP TABLE IF EXISTS batch_rows")
    cursor.execute(f"CREATE TEMPORARY TABLE batch_rows ({columns}) ON COMMIT DROP")


def _copy(cursor: Any, columns: str, records: Iterator[tuple]) -> None:
    with cursor.cursor.copy(f"COPY batch_rows ({columns}) FROM STDIN") as copy:
        for record in records:
            copy.write_row(record)
    cursor.execute("ANALYZE batch_rows")


def _tune(cursor: Any) -> None:
    """For this transaction only: hash the rows in memory; let the GIN indexes (trigram search, tags)
    take the new entries into their pending list instead of merging each one at once; and price index
    lookups as on a cached database, so a batch of a few thousand rows probes the deviceKey index
    instead of scanning every device of the table twice."""
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute("SET LOCAL gin_pending_list_limit = '256MB'")
    cursor.execute("SET LOCAL random_page_cost = 1.1")


def _update_postgres(rows: Sequence[CheckedRow], product: Product, ou: OrganizationUnit,
                     key_column: str) -> Applied:
    with connection.cursor() as cursor:
        _tune(cursor)
        _temp_table(cursor, "row_number integer, device_key text, name text, description text, timezone text, "
                            "attributes jsonb, tags jsonb")
        _copy(cursor, "row_number, device_key, name, description, timezone, attributes, tags",
              ((r.number, r.device_key, r.name, r.description, r.timezone, r.attributes, r.tags) for r in rows))
        # One pass over the device table finds every row's device; the rows whose values differ are then
        # written by id. A row already equal to its device is not written: with a dozen indexes on the
        # device table each new row version costs, and re-uploaded templates repeat most rows.
        cursor.execute(
            f"""WITH found AS MATERIALIZED (
                    SELECT d.id, r.row_number,
                        COALESCE(r.name, d.name) AS name,
                        COALESCE(r.description, d.description) AS description,
                        COALESCE(r.timezone, d.timezone) AS timezone,
                        CASE WHEN r.attributes IS NULL THEN d.attributes ELSE d.attributes || r.attributes END
                            AS attributes,
                        COALESCE(r.tags, d.tags) AS tags,
                        d.name AS old_name, d.description AS old_description, d.timezone AS old_timezone,
                        d.attributes AS old_attributes, d.tags AS old_tags
                    FROM batch_rows AS r JOIN {DEVICE_TABLE} AS d
                        ON d.product_id = %s AND d.ou_id = %s AND d.device_key = r.device_key),
                changed AS (
                    UPDATE {DEVICE_TABLE} AS d SET name = f.name, description = f.description, timezone = f.timezone,
                        attributes = f.attributes, tags = f.tags, updated_at = %s
                    FROM found AS f
                    WHERE d.id = f.id AND (f.name, f.description, f.timezone, f.attributes, f.tags) IS DISTINCT FROM
                        (f.old_name, f.old_description, f.old_timezone, f.old_attributes, f.old_tags)
                    RETURNING 1)
                SELECT (SELECT count(*) FROM changed),
                    ARRAY(SELECT r.row_number FROM batch_rows AS r
                          WHERE NOT EXISTS (SELECT 1 FROM found AS f WHERE f.row_number = r.row_number))""",
            [product.pk, ou.pk, now()],
        )
        changed, missing_numbers = cursor.fetchone()
        missing = set(missing_numbers)
        cursor.execute("DROP TABLE batch_rows")
    gone = [_line(r, key_column, not_found(r.device_key, product)) for r in rows if r.number in missing]
    return Applied(count=len(rows) - len(missing), problems=gone, changed=changed)


def _import_postgres(rows: Sequence[CheckedRow], product: Product, ou: OrganizationUnit,
                     key_column: str) -> Applied:
    asset_ids = _unique_asset_ids(len(rows))
    with connection.cursor() as cursor:
        _tune(cursor)
        _temp_table(cursor, "row_number integer, device_key text, name text, description text, timezone text, "
                            "attributes jsonb, tags jsonb, asset_id text, device_secret text")
        _copy(cursor, "row_number, device_key, name, description, timezone, attributes, tags, asset_id, "
                      "device_secret",
              ((r.number, r.device_key, r.name, r.description, r.timezone, r.attributes, r.tags,
                asset_id, secret) for r, asset_id, secret in zip(rows, asset_ids, random_tokens(
                    len(rows), SECRET_LENGTH), strict=True)))
        cursor.execute(f"""SELECT r.row_number FROM batch_rows AS r JOIN {DEVICE_TABLE} AS d
                           ON d.product_id = %s AND d.device_key = r.device_key""", [product.pk])
        taken = {number for (number,) in cursor.fetchall()}
        if taken:
            cursor.execute("DELETE FROM batch_rows WHERE row_number = ANY(%s)", [list(taken)])
        _replace_taken_asset_ids(cursor)
        stamp = now()
        cursor.execute(
            f"""INSERT INTO {DEVICE_TABLE} (asset_id, device_key, device_secret, name, description, timezone,
                    attributes, tags, enabled, online, created_at, updated_at, ou_id, product_id)
                SELECT r.asset_id, r.device_key, r.device_secret, r.name, r.description, r.timezone,
                    r.attributes, r.tags, TRUE, FALSE, %s, %s, %s, %s
                FROM batch_rows AS r ORDER BY r.row_number""",
            [stamp, stamp, ou.pk, product.pk],
        )
        inserted = cursor.rowcount
        cursor.execute("DROP TABLE batch_rows")
    refused = [_line(r, key_column, already_exists(r.device_key, product)) for r in rows if r.number in taken]
    return Applied(count=inserted, problems=refused)


def _replace_taken_asset_ids(cursor: Any) -> None:
    """Random asset IDs can, rarely, meet an existing one: draw again for those rows."""
    while True:
        cursor.execute(f"SELECT r.row_number FROM batch_rows AS r JOIN {DEVICE_TABLE} AS d ON d.asset_id = r.asset_id")
        clashes = [number for (number,) in cursor.fetchall()]
        if not clashes:
            return
        cursor.executemany("UPDATE batch_rows SET asset_id = %s WHERE row_number = %s",
                           [(generate_asset_id(), number) for number in clashes])


def random_tokens(count: int, length: int) -> list[str]:
    """`count` tokens like models.random_token makes, from the same CSPRNG, drawn in one go.

    models.random_token calls secrets.choice once per character (~80 µs a secret): 100,000
    imported devices would spend over ten seconds there. This draws all the bytes at once.
    """
    needed = count * length
    letters = b""
    while len(letters) < needed:
        draw = secrets.token_bytes((needed - len(letters)) * 5 // 4 + 64)
        letters += draw.translate(_TO_ALPHANUMERIC, _BIASED)
    text = letters[:needed].decode("ascii")
    return [text[i:i + length] for i in range(0, needed, length)]


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
    applied = Applied()
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        current = {key: (pk, attributes) for key, pk, attributes in Device.objects.filter(
            product=product, ou=ou, device_key__in=[r.device_key for r in chunk]).values_list(
            "device_key", "pk", "attributes")}
        params = []
        for row in chunk:
            found = current.get(row.device_key)
            if found is None:
                applied.problems.append(_line(row, key_column, not_found(row.device_key, product)))
                continue
            pk, attributes = found
            merged = {**(attributes or {}), **json.loads(row.attributes)} if row.attributes else None
            params.append((row.name, row.description, row.timezone, _json(merged), row.tags, stamp, pk))
        if params:
            write_chunk(f"""UPDATE {DEVICE_TABLE} SET name = COALESCE(%s, name),
                            description = COALESCE(%s, description), timezone = COALESCE(%s, timezone),
                            attributes = COALESCE(%s, attributes), tags = COALESCE(%s, tags), updated_at = %s
                            WHERE id = %s""", params)
            applied.count += len(params)
    return applied


def _import_chunks(rows: Sequence[CheckedRow], product: Product, ou: OrganizationUnit,
                   key_column: str) -> Applied:
    stamp = now()
    applied = Applied()
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        taken = existing_devices(product, (r.device_key for r in chunk))
        fresh = [r for r in chunk if r.device_key not in taken]
        applied.problems += [_line(r, key_column, already_exists(r.device_key, product))
                             for r in chunk if r.device_key in taken]
        asset_ids = _free_asset_ids(len(fresh))
        secrets_ = random_tokens(len(fresh), SECRET_LENGTH)
        params = [(asset_id, r.device_key, secret, r.name, r.description, r.timezone,
                   r.attributes, r.tags, True, False, _db_time(stamp), _db_time(stamp), ou.pk,
                   product.pk) for r, asset_id, secret in zip(fresh, asset_ids, secrets_, strict=True)]
        if params:
            write_chunk(f"""INSERT INTO {DEVICE_TABLE} (asset_id, device_key, device_secret, name, description,
                            timezone, attributes, tags, enabled, online, created_at, updated_at, ou_id, product_id)
                            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""", params)
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

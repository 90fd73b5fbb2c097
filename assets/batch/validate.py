"""Checking every row of a parsed template, collecting every problem as one errmsg.txt line.

The field rules are the ones single edits use (assets.validators, services.attribute_problems,
datatypes.check_value); this module only reads cells into those rules and says where a problem is:
`Row 7, column C (Time Zone): "+25:00" is not a valid time zone`. Existing devices are resolved
with one query per KEY_CHUNK deviceKeys, however many rows the file has.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection

from ..models import BatchOperation, Device, OrganizationUnit, Product, generate_device_key
from ..services import attribute_problems
from ..validators import is_valid_timezone, tag_problems, validate_device_key, validate_device_name
from .columns import (
    ATTRIBUTE,
    DESCRIPTION,
    DESCRIPTION_MAX,
    DEVICE_KEY,
    NAME,
    TAGS,
    TIMEZONE,
    Column,
    column_letter,
)
from .parse import ParsedSheet

KEY_CHUNK = 5_000  # deviceKeys per IN query
PROGRESS_EVERY = 10_000  # rows between progress reports
DEFAULT_TIMEZONE = Device._meta.get_field("timezone").default
ROW_LEVEL = -1  # a problem of the whole row, listed before its cells' problems


class CheckedRow(NamedTuple):
    """A valid row, ready to apply. None means "keep the device's value" (Batch Update only).

    attributes and tags are JSON text already: the form the database takes, made once per row.
    """

    number: int
    device_key: str
    name: str | None
    timezone: str | None
    description: str | None
    attributes: str | None  # the attributes to set (update: merged into the device's)
    tags: str | None  # the whole tag set


@dataclass
class Outcome:
    rows: list[CheckedRow]
    problems: list[str]
    invalid_rows: int
    total_rows: int
    key_column: str = "A"  # where deviceKey is, for problems found again when applying


def problem_line(row: int, letter: str | None, label: str | None, message: str) -> str:
    if letter is None:
        return f"Row {row}: {message}"
    return f"Row {row}, column {letter} ({label}): {message}"


def not_found(key: str, product: Product) -> str:
    return f'device "{key}" does not exist in product {product.product_key} in this OU'


def already_exists(key: str, product: Product) -> str:
    return f'device "{key}" already exists in product {product.product_key}'


# --- reading cells -------------------------------------------------------------------------------------

def cell_text(value: Any) -> str:
    """A cell as the text a person typed: 12.0 → "12", a date → "2024-05-01"."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


def cell_value(value: Any) -> Any:
    """An attribute cell for check_value: numbers stay numbers (12.0 → 12), dates become ISO text."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float | bool):
        return value
    return cell_text(value)


def parse_tags(text: str) -> tuple[dict | None, list[str]]:
    """`key=value;key2=value2` or a JSON object; empty means no tags given."""
    if not text:
        return None, []
    problems: list[str] = []
    if text.startswith("{"):
        try:
            tags = json.loads(text)
        except json.JSONDecodeError as error:
            return None, [f"tags are not valid JSON: {error.msg}"]
    else:
        tags = {}
        for part in text.split(";"):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep:
                problems.append(f'"{part.strip()}" is not key=value')
            elif key in tags:
                problems.append(f'tag "{key}" is given twice')
            else:
                tags[key] = value.strip()
    problems += tag_problems(tags)
    return (tags if not problems else None), problems


# --- one row -------------------------------------------------------------------------------------------

class RowChecker:
    """The field rules for one operation on one product; `check` returns (row or None, problems).

    A file repeats values (time zones, enum keys, tags, dates): the outcome of each rule is kept per
    distinct value, so 100,000 rows cost one check per distinct value, not one per cell.
    """

    def __init__(self, product: Product, operation: str, columns: list[tuple[Column, int]]) -> None:
        self.product = product
        self.model = product.model
        self.importing = operation == BatchOperation.IMPORT
        self.attribute_columns = [(c.identifier, i) for c, i in columns if c.field == ATTRIBUTE]
        self.by_field = {c.field: i for c, i in columns if c.field != ATTRIBUTE}
        self.index_of = {c.identifier: i for c, i in columns}
        self.width = max((i for _, i in columns), default=-1) + 1
        # what attribute_problems says of a row that gives no attribute: the required ones' messages
        _, missing = attribute_problems(self.model, {}, require_all=True)
        self.required = {ident: _attribute_message(ident, message) for ident, message in missing.items()}
        self.time_zones: dict[str, bool] = {}
        self.tag_cells: dict[str, tuple[str | None, list[str]]] = {}  # cell → (tags as JSON, problems)
        # (identifier, type, cell) → ('"identifier":value' as JSON, or None; the problem, or None)
        self.attribute_cells: dict[tuple, tuple[str | None, str | None]] = {}

    def check(self, number: int, cells: list[Any], texts: list[str]) -> tuple[CheckedRow | None,
                                                                          list[tuple[int, str]]]:
        """`texts`: the cells as text (cell_text), at least as many as the template's columns."""
        problems: list[tuple[int, str]] = []
        by_field = self.by_field

        key = texts[by_field[DEVICE_KEY]]
        if not key:
            if self.importing:
                key = generate_device_key()
            else:
                problems.append((by_field[DEVICE_KEY], "a deviceKey is required to find the device"))
        else:
            try:
                validate_device_key(key)
            except ValidationError as error:
                problems.append((by_field[DEVICE_KEY], error.messages[0]))

        name = texts[by_field[NAME]] or None
        if name is not None or self.importing:
            try:
                validate_device_name(name or "")
            except ValidationError as error:
                problems.append((by_field[NAME], error.messages[0]))

        timezone = texts[by_field[TIMEZONE]] or (DEFAULT_TIMEZONE if self.importing else None)
        if timezone is not None:
            valid = self.time_zones.get(timezone)
            if valid is None:
                valid = self.time_zones[timezone] = is_valid_timezone(timezone)
            if not valid:
                problems.append((by_field[TIMEZONE], f'"{timezone}" is not a valid time zone'))

        description = texts[by_field[DESCRIPTION]] or ("" if self.importing else None)
        if description and len(description) > DESCRIPTION_MAX:
            problems.append((by_field[DESCRIPTION],
                             f"the description is {len(description)} characters; the maximum is {DESCRIPTION_MAX}"))

        tag_text = texts[by_field[TAGS]]
        parsed = self.tag_cells.get(tag_text)
        if parsed is None:
            tag_set, tag_errors = parse_tags(tag_text)
            if tag_set is None and self.importing and not tag_errors:
                tag_set = {}
            parsed = self.tag_cells[tag_text] = (_json(tag_set), tag_errors)
        tags, tag_errors = parsed
        if tag_errors:
            problems += [(by_field[TAGS], message) for message in tag_errors]

        members = []
        for identifier, index in self.attribute_columns:
            if not texts[index]:
                if self.importing and identifier in self.required:
                    problems.append((index, self.required[identifier]))
                continue
            value = cells[index]
            memo_key = (identifier, type(value), value)
            outcome = self.attribute_cells.get(memo_key)
            if outcome is None:
                outcome = self.attribute_cells[memo_key] = self._check_attribute(identifier, cell_value(value))
            member, problem = outcome
            if problem is None:
                members.append(member)
            else:
                problems.append((index, problem))

        if problems:
            return None, problems
        # the object is joined from members made once per distinct value: json.dumps per row cost more
        # than all the rules together
        attributes_json = "{" + ",".join(members) + "}" if members or self.importing else None
        return CheckedRow(number, key, name, timezone, description, attributes_json, tags), problems

    def _check_attribute(self, identifier: str, value: Any) -> tuple[str | None, str | None]:
        clean, problems = attribute_problems(self.model, {identifier: value}, require_all=False, from_text=True)
        if problems:
            return None, _attribute_message(identifier, problems[identifier])
        return f"{_json(identifier)}:{_json(clean.get(identifier))}", None


# one encoder: json.dumps with any option builds a new JSONEncoder per call
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json(value: Any) -> str | None:
    return None if value is None else _encode(value)


def _attribute_message(identifier: str, message: str) -> str:
    if message == f'attribute "{identifier}" is required':
        return "a value is required for Batch Import"
    return message.removeprefix(f'attribute "{identifier}": ')


# --- the whole file --------------------------------------------------------------------------------------

def validate_sheet(sheet: ParsedSheet, product: Product, ou: OrganizationUnit, operation: str,
                   progress: Callable[[int, int], None] | None = None) -> Outcome:
    checker = RowChecker(product, operation, sheet.columns)
    headers = {index: column.header for column, index in sheet.columns}
    key_index = checker.by_field[DEVICE_KEY]
    by_row: dict[int, list[tuple[int, str]]] = {}
    candidates: dict[int, CheckedRow] = {}
    rows_by_key: dict[str, list[int]] = defaultdict(list)
    signatures: dict[int, tuple] = {}
    first_with_signature: dict[tuple, int] = {}
    total = len(sheet.rows)

    width = checker.width
    for position, (number, cells) in enumerate(sheet.rows, start=1):
        texts = [cell.strip() if type(cell) is str else cell_text(cell) for cell in cells]
        if len(texts) < width:
            texts += [""] * (width - len(texts))
        row, problems = checker.check(number, cells, texts)
        for index in sheet.unnamed:
            if index < len(texts) and texts[index]:
                problems.append((index, "a value in a column that has no name in row 1"))
                row = None
        if problems:
            by_row[number] = problems
        if row is not None:
            candidates[number] = row
        signature = tuple(texts)
        signatures[number] = signature
        key = texts[key_index]
        if key:
            rows_by_key[key].append(number)
        elif signature in first_with_signature:
            _flag(by_row, candidates, number, ROW_LEVEL, f"the same as row {first_with_signature[signature]}")
        else:
            first_with_signature[signature] = number
        if progress and position % PROGRESS_EVERY == 0:
            progress(position, total)

    for key, numbers in rows_by_key.items():
        if len(numbers) < 2:
            continue
        if len({signatures[n] for n in numbers}) == 1:
            for number in numbers[1:]:
                _flag(by_row, candidates, number, ROW_LEVEL, f"the same as row {numbers[0]}")
        else:
            listed = ", ".join(str(n) for n in numbers[:10]) + (", …" if len(numbers) > 10 else "")
            for number in numbers:
                _flag(by_row, candidates, number, key_index, f'"{key}" is in the file more than once (rows {listed})')
    del signatures, first_with_signature

    resolve_against_database(candidates, by_row, product, ou, operation, key_index)

    problems = render_problems(by_row, headers)
    valid = [candidates[number] for number in sorted(candidates)]
    return Outcome(rows=valid, problems=problems, invalid_rows=len(by_row), total_rows=total,
                   key_column=column_letter(key_index))


def resolve_against_database(candidates: dict[int, CheckedRow], by_row: dict[int, list[tuple[int, str]]],
                             product: Product, ou: OrganizationUnit, operation: str, key_index: int) -> None:
    """Update needs each device in this product and OU; import needs each deviceKey free in the product."""
    keys = {row.device_key: number for number, row in candidates.items()}
    found = existing_devices(product, keys)
    importing = operation == BatchOperation.IMPORT
    for key, number in keys.items():
        owner_ou = found.get(key)
        if importing and owner_ou is not None:
            _flag(by_row, candidates, number, key_index, already_exists(key, product))
        elif not importing and owner_ou != ou.pk:
            # a device of a shared product that lives in another OU is as good as absent here
            _flag(by_row, candidates, number, key_index, not_found(key, product))


def existing_devices(product: Product, keys: Iterable[str]) -> dict[str, int]:
    """deviceKey → OU pk of the product's devices among `keys`: one query per KEY_CHUNK keys."""
    keys = list(keys)
    found: dict[str, int] = {}
    postgres = connection.vendor == "postgresql"
    for start in range(0, len(keys), KEY_CHUNK):
        chunk = keys[start:start + KEY_CHUNK]
        if postgres:
            # one array parameter instead of 5,000 placeholders: the same index scan, a fraction of the
            # time spent building and parsing the statement
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT device_key, ou_id FROM {Device._meta.db_table} "
                               "WHERE product_id = %s AND device_key = ANY(%s)", [product.pk, chunk])
                found.update(cursor.fetchall())
        else:
            found.update(Device.objects.filter(product=product, device_key__in=chunk).order_by()
                         .values_list("device_key", "ou_id"))
    return found


def render_problems(by_row: dict[int, list[tuple[int, str]]], headers: dict[int, str]) -> list[str]:
    lines = []
    for number in sorted(by_row):
        for index, message in sorted(by_row[number], key=lambda item: item[0]):
            if index == ROW_LEVEL:
                lines.append(problem_line(number, None, None, message))
            else:
                lines.append(problem_line(number, column_letter(index), headers.get(index, "no name"), message))
    return lines


def _flag(by_row: dict[int, list[tuple[int, str]]], candidates: dict[int, CheckedRow], number: int,
          index: int, message: str) -> None:
    by_row.setdefault(number, []).append((index, message))
    candidates.pop(number, None)

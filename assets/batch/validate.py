"""Checking every row of a parsed template, collecting every problem as one errmsg.txt line.

The field rules are the ones single edits use (assets.validators, services.attribute_problems,
datatypes.check_value); this module only reads cells into those rules and says where a problem is:
`Row 7, column C (Time Zone): "+25:00" is not a valid time zone`. Existing devices are resolved
with one query per KEY_CHUNK deviceKeys, however many rows the file has.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import compress
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import gettext as _

from ..datatypes import ValueProblem, check_value
from ..models import BatchOperation, Device, OrganizationUnit, Product
from ..services import attribute_problems, required_message
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
from .tokens import DEVICE_KEY_LENGTH, random_tokens

KEY_CHUNK = 5_000  # deviceKeys per IN query
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
    """One errmsg.txt line, in the uploader's language (the job's, see services.in_job_language)."""
    if letter is None:
        return _("Row %(row)d: %(message)s") % {"row": row, "message": message}
    return _("Row %(row)d, column %(column)s (%(name)s): %(message)s") % {
        "row": row, "column": letter, "name": label, "message": message}


def not_found(key: str, product: Product) -> str:
    return _('device "%(key)s" does not exist in product %(product)s in this OU') % {
        "key": key, "product": product.product_key}


def already_exists(key: str, product: Product) -> str:
    return _('device "%(key)s" already exists in product %(product)s') % {"key": key, "product": product.product_key}


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
            return None, [_("tags are not valid JSON: %(reason)s") % {"reason": error.msg}]
    else:
        tags = {}
        for part in text.split(";"):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep:
                problems.append(_('"%(text)s" is not key=value') % {"text": part.strip()})
            elif key in tags:
                problems.append(_('tag "%(key)s" is given twice') % {"key": key})
            else:
                tags[key] = value.strip()
    problems += tag_problems(tags)
    return (tags if not problems else None), problems


# --- the columns -----------------------------------------------------------------------------------------

Problem = tuple[int, int, str]  # (position of the row in the sheet, column index, message)


class Columns:
    """The sheet turned on its side: each column's raw cells (template columns and any others in the
    file), one per row, and their texts (cell_text) when asked. Checking a column at a time keeps the
    work per cell small, and a value repeated down a column is checked once."""

    def __init__(self, rows: list[tuple[int, list[Any]]], width: int) -> None:
        full = max(width, max((len(cells) for _, cells in rows), default=0))
        grid = [cells if len(cells) == full else [*cells, *[""] * (full - len(cells))] for _, cells in rows]
        self.cells: list[tuple[Any, ...]] = list(zip(*grid, strict=True)) if grid else [() for _ in range(full)]
        self.count = len(rows)
        self._texts: dict[int, list[str]] = {}

    def __len__(self) -> int:
        return len(self.cells)

    def texts(self, index: int) -> list[str]:
        texts = self._texts.get(index)
        if texts is None:
            texts = self._texts[index] = [cell.strip() if type(cell) is str else cell_text(cell)
                                          for cell in self.cells[index]]
        return texts


def _failure(rule: Callable[[Any], None], value: Any) -> str | None:
    """The first message of a validator (assets.validators) that refuses `value`, else None."""
    try:
        rule(value)
    except ValidationError as error:
        return error.messages[0]
    return None


class SheetChecker:
    """The field rules for one operation on one product, applied a column at a time.

    `device_keys` then `check` return, for every row, the values to write (lists by field), and add every
    problem found to `problems`. Time zones, tags and attribute cells are checked once per distinct value
    of their column; deviceKeys, names and descriptions, which differ on every row, go through the rule
    directly.
    """

    def __init__(self, product: Product, operation: str, columns: list[tuple[Column, int]]) -> None:
        self.product = product
        self.model = product.model
        self.importing = operation == BatchOperation.IMPORT
        self.attribute_columns = [(c.feature, i) for c, i in columns if c.field == ATTRIBUTE]
        self.by_field = {c.field: i for c, i in columns if c.field != ATTRIBUTE}
        self.width = max((i for _, i in columns), default=-1) + 1
        # what attribute_problems says of a row that gives no attribute: the required ones' messages
        _, missing = attribute_problems(self.model, {}, require_all=True)
        self.required = {ident: _attribute_message(ident, message) for ident, message in missing.items()}

    def device_keys(self, columns: Columns, problems: list[Problem]) -> list[str]:
        """The deviceKey column first: the database can look the keys up while the rest is checked."""
        return self._device_keys(columns.texts(self.by_field[DEVICE_KEY]), problems)

    def check(self, columns: Columns, keys: list[str], problems: list[Problem]) -> dict[str, list[Any]]:
        """Every other column; returns each row's values to write, by CheckedRow field."""
        members = [self._attribute(feature, index, columns.cells[index], problems)
                   for feature, index in self.attribute_columns]
        texts = {field: columns.texts(index) for field, index in self.by_field.items()}
        return {
            "device_key": keys,
            "name": self._names(texts[NAME], problems),
            "timezone": self._time_zones(texts[TIMEZONE], problems),
            "description": self._descriptions(texts[DESCRIPTION], problems),
            "attributes": self._attribute_objects(members, columns.count),
            "tags": self._tags(texts[TAGS], problems),
        }

    def _device_keys(self, keys: list[str], problems: list[Problem]) -> list[str]:
        index = self.by_field[DEVICE_KEY]
        empty = [position for position, key in enumerate(keys) if not key]
        if empty and self.importing:  # Batch Import makes a deviceKey where the cell is empty
            keys = keys.copy()
            for position, key in zip(empty, random_tokens(len(empty), DEVICE_KEY_LENGTH), strict=True):
                keys[position] = key
        elif empty:
            required = _("a deviceKey is required to find the device")
            problems += [(position, index, required) for position in empty]
        problems += [(position, index, message) for position, key in enumerate(keys)
                     if key and (message := _failure(validate_device_key, key))]
        return keys

    def _names(self, names: list[str], problems: list[Problem]) -> list[str | None]:
        index = self.by_field[NAME]
        # an empty cell keeps the device's name in an update; in an import the name is required
        problems += [(position, index, message) for position, name in enumerate(names)
                     if (name or self.importing) and (message := _failure(validate_device_name, name))]
        return [name or None for name in names]

    def _time_zones(self, texts: list[str], problems: list[Problem]) -> list[str | None]:
        index = self.by_field[TIMEZONE]
        default = DEFAULT_TIMEZONE if self.importing else None
        zones = [text or default for text in texts]
        invalid = {zone for zone in set(zones) if zone is not None and not is_valid_timezone(zone)}
        if invalid:
            problems += [(position, index, _('"%(zone)s" is not a valid time zone') % {"zone": zone})
                         for position, zone in enumerate(zones) if zone in invalid]
        return zones

    def _descriptions(self, texts: list[str], problems: list[Problem]) -> list[str | None]:
        index = self.by_field[DESCRIPTION]
        default = "" if self.importing else None
        problems += [(position, index, _("the description is %(length)d characters; the maximum is %(maximum)d")
                      % {"length": len(text), "maximum": DESCRIPTION_MAX})
                     for position, text in enumerate(texts) if len(text) > DESCRIPTION_MAX]
        return [text or default for text in texts]

    def _tags(self, texts: list[str], problems: list[Problem]) -> list[str | None]:
        index = self.by_field[TAGS]
        parsed = {}  # cell → (tags as JSON, problems)
        for text in set(texts):
            tag_set, errors = parse_tags(text)
            if tag_set is None and self.importing and not errors:
                tag_set = {}
            parsed[text] = (_json(tag_set), errors)
        if any(errors for _, errors in parsed.values()):
            problems += [(position, index, message) for position, text in enumerate(texts)
                         for message in parsed[text][1]]
        return [parsed[text][0] for text in texts]

    def _attribute(self, feature: dict, index: int, cells: tuple[Any, ...],
                   problems: list[Problem]) -> list[str | None]:
        """Each row's '"identifier":value' JSON member for this attribute, or None (empty or refused)."""
        identifier = feature["identifier"]
        prefix = _json(identifier) + ":"
        # an empty cell: nothing to set, or (import) the required attribute's message
        empty = (None, self.required.get(identifier) if self.importing else None)
        memo: dict[Any, tuple[str | None, str | None]] = {}
        members: list[str | None] = []
        for position, cell in enumerate(cells):
            # each distinct cell checked once; other than text, its type is part of its key: True == 1 == 1.0,
            # yet "true" ≠ "1"
            memo_key = cell if type(cell) is str else (type(cell), cell)
            outcome = memo.get(memo_key)
            if outcome is None:
                outcome = memo[memo_key] = empty if not cell_text(cell) else _attribute_member(
                    feature, identifier, prefix, cell_value(cell))
            member, problem = outcome
            members.append(member)
            if problem is not None:
                problems.append((position, index, problem))
        return members

    def _attribute_objects(self, members: list[list[str | None]], count: int) -> list[str | None]:
        """Each row's attributes as one JSON object, joined from the members made once per distinct value
        (json.dumps per row cost more than all the rules together). An update without any attribute
        cell keeps the device's attributes: None."""
        if not members:
            return ["{}" if self.importing else None] * count
        joined = ["{" + ",".join(filter(None, row)) + "}" for row in zip(*members, strict=True)]
        return joined if self.importing else [None if row == "{}" else row for row in joined]


def _attribute_member(feature: dict, identifier: str, prefix: str, value: Any) -> tuple[str | None, str | None]:
    """The rule single edits use (services.attribute_problems → datatypes.check_value) for one cell."""
    try:
        clean = check_value(feature, value, from_text=True)
    except ValueProblem as problem:
        return None, str(problem)
    return prefix + _encode(clean), None


# one encoder: json.dumps with any option builds a new JSONEncoder per call
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json(value: Any) -> str | None:
    return None if value is None else _encode(value)


def _attribute_message(identifier: str, message: str) -> str:
    if message == required_message(identifier):
        return _("a value is required for Batch Import")
    return message


# --- the whole file --------------------------------------------------------------------------------------

def validate_sheet(sheet: ParsedSheet, product: Product, ou: OrganizationUnit, operation: str,
                   progress: Callable[[int, int], None] | None = None) -> Outcome:
    checker = SheetChecker(product, operation, sheet.columns)
    headers = {index: column.title for column, index in sheet.columns}
    key_index = checker.by_field[DEVICE_KEY]
    numbers = [number for number, _ in sheet.rows]
    total = len(numbers)

    columns = Columns(sheet.rows, checker.width)
    problems: list[Problem] = []
    keys = checker.device_keys(columns, problems)
    unusable = {position for position, _, _ in problems}
    with refused_keys(product, ou, operation, list(dict.fromkeys(
            key for position, key in enumerate(keys) if position not in unusable))) as refused:
        values = checker.check(columns, keys, problems)
    if progress:
        progress(total * 2 // 3, total)
    for index in (index for index in sheet.unnamed if index < len(columns)):
        unnamed = _("a value in a column that has no name in row 1")
        problems += [(position, index, unnamed) for position, text in enumerate(columns.texts(index)) if text]
    by_row: dict[int, list[tuple[int, str]]] = {}
    for position, index, message in problems:
        by_row.setdefault(numbers[position], []).append((index, message))
    checked = map(CheckedRow._make, zip(numbers, *(values[field] for field in CheckedRow._fields[1:]), strict=True))
    candidates = {row.number: row for row in checked if row.number not in by_row}

    _flag_repeated_rows(columns, numbers, key_index, by_row, candidates)
    refusal = already_exists if operation == BatchOperation.IMPORT else not_found
    for row in [row for row in candidates.values() if row.device_key in refused]:
        _flag(by_row, candidates, row.number, key_index, refusal(row.device_key, product))
    if progress:
        progress(total, total)

    problems = render_problems(by_row, headers)
    valid = [candidates[number] for number in sorted(candidates)]
    return Outcome(rows=valid, problems=problems, invalid_rows=len(by_row), total_rows=total,
                   key_column=column_letter(key_index))


def _flag_repeated_rows(columns: Columns, numbers: list[int], key_index: int,
                        by_row: dict[int, list[tuple[int, str]]], candidates: dict[int, CheckedRow]) -> None:
    """A deviceKey on several rows: the same row again is refused as a repeat (the first kept), different
    rows are all refused. Without a deviceKey, only a row equal to an earlier one in every cell is a repeat.
    Rows are compared by the texts of their cells (12.0 and "12" are the same), made only when needed."""
    keys = columns.texts(key_index)
    repeated = {key for key, count in Counter(keys).items() if count > 1 and key}
    if repeated:
        positions_by_key: dict[str, list[int]] = defaultdict(list)
        for position, key in enumerate(keys):
            if key in repeated:
                positions_by_key[key].append(position)
        texts = [columns.texts(index) for index in range(len(columns))]
        for key, positions in positions_by_key.items():
            rows = [numbers[position] for position in positions]
            if len({tuple(column[position] for column in texts) for position in positions}) == 1:
                for number in rows[1:]:
                    _flag(by_row, candidates, number, ROW_LEVEL, _("the same as row %(row)d") % {"row": rows[0]})
            else:
                listed = ", ".join(str(n) for n in rows[:10]) + (", …" if len(rows) > 10 else "")
                message = _('"%(key)s" is in the file more than once (rows %(rows)s)') % {"key": key, "rows": listed}
                for number in rows:
                    _flag(by_row, candidates, number, key_index, message)
    without_key = [not key for key in keys]
    if any(without_key):
        first_with: dict[tuple[str, ...], int] = {}
        texts = [columns.texts(index) for index in range(len(columns))]
        signatures = compress(zip(*texts, strict=True), without_key)  # every cell's text, of the rows without key
        for number, signature in zip(compress(numbers, without_key), signatures, strict=True):
            first = first_with.setdefault(signature, number)
            if first != number:
                _flag(by_row, candidates, number, ROW_LEVEL, _("the same as row %(row)d") % {"row": first})


def refused_keys_now(product: Product, ou: OrganizationUnit, operation: str, keys: list[str]) -> set[str]:
    with refused_keys(product, ou, operation, keys) as refused:
        pass
    return refused


@contextmanager
def refused_keys(product: Product, ou: OrganizationUnit, operation: str, keys: list[str]) -> Iterator[set[str]]:
    """The deviceKeys among `keys` the database refuses, in the set yielded, filled when the block ends:
    for an update, the keys of no device of the product in this OU (a device of a shared product that
    lives in another OU is as good as absent here); for an import, the keys the product already has.

    One query per KEY_CHUNK keys, answering only the refused keys (usually none). On PostgreSQL they are
    sent at once, pipelined, and the database looks the keys up while the block goes on checking the
    file; the block must not use the database meanwhile.
    """
    refused: set[str] = set()
    chunks = [keys[start:start + KEY_CHUNK] for start in range(0, len(keys), KEY_CHUNK)]
    if connection.vendor != "postgresql":
        yield refused
        for chunk in chunks:
            refused |= _refused_by_orm(product, ou, operation, chunk)
        return
    sql = _REFUSED_SQL[operation]
    connection.ensure_connection()
    with connection.connection.pipeline():
        pending = []
        for chunk in chunks:
            listed = ",".join(chunk)
            if listed.count(",") != len(chunk) - 1:  # a key with a comma: never valid, but kept apart
                refused |= _refused_by_orm(product, ou, operation, chunk)
                continue
            cursor = connection.cursor()
            cursor.execute(sql, {"product": product.pk, "ou": ou.pk, "keys": listed})
            pending.append(cursor)
        yield refused
        for cursor in pending:
            refused.update(key for (key,) in cursor.fetchall())
            cursor.close()


# the keys travel as one comma-separated text split by the server (a valid deviceKey has no comma): for
# 5,000 keys a fraction of the client's work of an array or 5,000 placeholders, for the same index scan
_REFUSED_SQL = {
    BatchOperation.UPDATE: f"""SELECT k.key FROM unnest(string_to_array(%(keys)s, ',')) AS k(key)
                               WHERE NOT EXISTS (SELECT 1 FROM {Device._meta.db_table} AS d
                                   WHERE d.product_id = %(product)s AND d.device_key = k.key AND d.ou_id = %(ou)s)""",
    BatchOperation.IMPORT: f"""SELECT device_key FROM {Device._meta.db_table}
                               WHERE product_id = %(product)s AND device_key = ANY(string_to_array(%(keys)s, ','))""",
}


def _refused_by_orm(product: Product, ou: OrganizationUnit, operation: str, keys: list[str]) -> set[str]:
    devices = Device.objects.filter(product=product, device_key__in=keys).order_by()
    if operation == BatchOperation.IMPORT:
        return set(devices.values_list("device_key", flat=True))
    return set(keys) - set(devices.filter(ou=ou).values_list("device_key", flat=True))


def render_problems(by_row: dict[int, list[tuple[int, str]]], headers: dict[int, str]) -> list[str]:
    lines = []
    for number in sorted(by_row):
        for index, message in sorted(by_row[number], key=lambda item: item[0]):
            if index == ROW_LEVEL:
                lines.append(problem_line(number, None, None, message))
            else:
                lines.append(problem_line(number, column_letter(index), headers.get(index, _("no name")), message))
    return lines


def _flag(by_row: dict[int, list[tuple[int, str]]], candidates: dict[int, CheckedRow], number: int,
          index: int, message: str) -> None:
    by_row.setdefault(number, []).append((index, message))
    candidates.pop(number, None)

"""Writing `Template_<productKey>.xlsx`: the Devices sheet, an Instructions sheet and a hidden Lists sheet.

openpyxl's write-only mode streams rows, so a template with many rows (the benchmark's) costs little
memory. The template is written in the active language (the downloader's); see columns.py for how
an upload in any language is read back. Text is always written as text: a value such as
`=HYPERLINK(...)` taken from a device must never become a formula in someone's spreadsheet.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from typing import IO, Any

from django.conf import settings
from django.utils.timezone import now
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from ..models import Device, Product
from .columns import (
    ATTRIBUTE,
    DATA_SHEET,
    DESCRIPTION,
    DEVICE_KEY,
    FIRST_DATA_ROW,
    INSTRUCTIONS_SHEET,
    LISTS_SHEET,
    NAME,
    NOTE_PREFIX,
    PRODUCT_KEY_LABEL,
    TAGS,
    TIMEZONE,
    Column,
    column_letter,
    columns_for,
)
from .validate import problem_line

# Leading characters that make a spreadsheet (or a CSV opened in one) read a cell as a formula.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
TIME_ZONE_OFFSETS = [
    "-12:00", "-11:00", "-10:00", "-09:30", "-09:00", "-08:00", "-07:00", "-06:00", "-05:00", "-04:00",
    "-03:30", "-03:00", "-02:00", "-01:00", "+00:00", "+01:00", "+02:00", "+03:00", "+03:30", "+04:00",
    "+04:30", "+05:00", "+05:30", "+05:45", "+06:00", "+06:30", "+07:00", "+08:00", "+08:45", "+09:00",
    "+09:30", "+10:00", "+10:30", "+11:00", "+12:00", "+12:45", "+13:00", "+13:45", "+14:00",
]
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F5FAD")
NOTE_FONT = Font(italic=True, color="5B6B7F", size=9)
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def instructions(product: Product) -> list[str]:
    limit_mb = settings.BATCH_MAX_FILE_BYTES // (1024 * 1024)
    return [
        _("How to fill this template"),
        _("• One device per row on the %(sheet)s sheet, from row 3. Row 1 names the columns: keep it as it is "
          "(the order may change, the names may not). Row 2 describes each column and is skipped.")
        % {"sheet": DATA_SHEET},
        _("• Batch Import creates the devices: deviceKey must not exist yet in the product (left empty, one is "
          "made); Device Name and the attributes marked required must be filled; Time Zone defaults to +08:00."),
        _("• Batch Update changes existing devices of this product in your OU, found by deviceKey. An empty cell "
          "keeps the device's current value. Attribute cells change only that attribute. A Tags cell replaces "
          "all of the device's tags; write {} to remove them all."),
        _("• Time Zone: pick an offset from the list, or type an IANA name such as Europe/Berlin."),
        _("• Tags: key=value pairs separated by ; (for example site=north;floor=2), or a JSON object such as "
          '{"site": "north"} when a value contains ;.'),
        _("• Enumerations: pick a key from the list (its label is accepted too). Booleans: true or false. "
          "Dates: YYYY-MM-DD. Arrays and structs: JSON."),
        _("• Formulas are refused: the portal never evaluates them and their saved results may be stale. "
          "Paste values instead (Paste Special → Values)."),
        _("• Hidden sheets are refused, except this template's own %(sheet)s sheet (the drop-down values). "
          "Keep the sheet names; password-protected files cannot be read.") % {"sheet": LISTS_SHEET},
        _("• Limits: %(rows)s rows and %(megabytes)d MB per file. Each problem found is listed in errmsg.txt "
          'as, for example: %(example)s') % {
            "rows": f"{settings.BATCH_MAX_ROWS:,}", "megabytes": limit_mb,
            "example": problem_line(7, "C", _("Time Zone"), _('"%(zone)s" is not a valid time zone')
                                    % {"zone": "+25:00"})},
    ]


def build_template(product: Product, *, sample: Device | None = None,
                   rows: Iterable[Sequence[Any]] = ()) -> bytes:
    """The template of `product`; `sample` fills the first row with that device's values.

    `rows` (already in column order) follow it: the benchmark and the tests fill templates so.
    """
    buffer = io.BytesIO()
    write_template(buffer, product, sample=sample, rows=rows)
    return buffer.getvalue()


def write_template(target: str | IO[bytes], product: Product, *, sample: Device | None = None,
                   rows: Iterable[Sequence[Any]] = ()) -> None:
    """build_template into a file: rows (an iterator is fine) are streamed, never all held (the export)."""
    columns = columns_for(product.model)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(DATA_SHEET)
    lists = _list_columns(columns)
    _shape_data_sheet(sheet, columns, lists)
    sheet.append([_styled(sheet, c.title, font=HEADER_FONT, fill=HEADER_FILL) for c in columns])
    sheet.append([_styled(sheet, str(NOTE_PREFIX) + c.note, font=NOTE_FONT, wrap=True) for c in columns])
    if sample is not None:
        sheet.append([safe_cell(sheet, value) for value in device_row(columns, sample)])
    for row in rows:
        sheet.append([safe_cell(sheet, value) for value in row])

    guide = book.create_sheet(INSTRUCTIONS_SHEET)
    guide.column_dimensions["A"].width = 18
    guide.column_dimensions["B"].width = 110
    lines = instructions(product)
    guide.append([_styled(guide, lines[0], font=Font(bold=True, size=13))])
    for label, value in ((str(PRODUCT_KEY_LABEL), product.product_key), (_("Product"), product.name),
                         (_("Model"), product.model.model_id),
                         (_("Generated"), now().strftime("%Y-%m-%d %H:%M UTC")),
                         (_("From device"), sample.device_key if sample else _("(empty template)"))):
        guide.append([_styled(guide, label, font=Font(bold=True)), safe_cell(guide, value)])
    guide.append([])
    for line in lines[1:]:
        guide.append(["", safe_cell(guide, line)])

    list_sheet = book.create_sheet(LISTS_SHEET)
    list_sheet.sheet_state = "hidden"
    longest = max((len(values) for values in lists.values()), default=0)
    order = list(lists)
    for index in range(longest):
        list_sheet.append([safe_cell(list_sheet, lists[key][index]) if index < len(lists[key]) else None
                           for key in order])
    book.save(target)


def device_row(columns: list[Column], device: Device) -> list[Any]:
    """A device's values in template order, as a person would type them."""
    values: list[Any] = []
    for column in columns:
        if column.field == DEVICE_KEY:
            values.append(device.device_key)
        elif column.field == NAME:
            values.append(device.name)
        elif column.field == TIMEZONE:
            values.append(device.timezone)
        elif column.field == DESCRIPTION:
            values.append(device.description)
        elif column.field == TAGS:
            values.append(format_tags(device.tags or {}))
        else:
            values.append(attribute_text(column.feature or {}, (device.attributes or {}).get(column.identifier)))
    return values


def attribute_text(feature: dict, value: Any) -> Any:
    if value is None:
        return None
    if feature.get("data_type") in ("array", "struct") or isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def format_tags(tags: dict[str, str]) -> str:
    """`key=value;key2=value2`, or JSON when a key or value would not survive that form."""
    if not tags:
        return ""
    plain = all(";" not in f"{k}{v}" and "=" not in k and k == k.strip() and str(v) == str(v).strip()
                for k, v in tags.items())
    if plain:
        return ";".join(f"{key}={value}" for key, value in tags.items())
    return json.dumps(tags, ensure_ascii=False)


def safe_cell(sheet: Worksheet, value: Any) -> Any:
    """Text stays text: a leading = + - @ tab or CR gets a string cell with Excel's quote prefix."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        cell = WriteOnlyCell(sheet, value=None)
        cell.value = value
        cell.data_type = "s"  # openpyxl would otherwise store "=…" as a formula
        cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
        return cell
    return value


def _styled(sheet: Worksheet, value: str, *, font: Font | None = None, fill: PatternFill | None = None,
            wrap: bool = False) -> Cell:
    cell = safe_cell(sheet, value)
    if not isinstance(cell, Cell):
        cell = WriteOnlyCell(sheet, value=value)
    if font:
        cell.font = font
    if fill:
        cell.fill = fill
    if wrap:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    return cell


def _list_columns(columns: list[Column]) -> dict[str, list[str]]:
    """Drop-down values by column identifier; time zones come first (Lists column A)."""
    lists: dict[str, list[str]] = {TIMEZONE: TIME_ZONE_OFFSETS}
    for column in columns:
        feature = column.feature or {}
        if column.field == ATTRIBUTE and feature.get("data_type") == "enum":
            lists[column.identifier] = [str(key) for key in (feature.get("spec") or {}).get("values") or {}]
        elif column.field == ATTRIBUTE and feature.get("data_type") == "bool":
            lists[column.identifier] = ["true", "false"]
    return lists


def _shape_data_sheet(sheet: Worksheet, columns: list[Column], lists: dict[str, list[str]]) -> None:
    """Widths, text format, frozen headers and drop-downs: all set before the first row is streamed."""
    sheet.freeze_panes = f"A{FIRST_DATA_ROW}"
    last_row = FIRST_DATA_ROW + settings.BATCH_MAX_ROWS - 1
    list_letters = {key: column_letter(index) for index, key in enumerate(lists)}
    for index, column in enumerate(columns):
        letter = column_letter(index)
        dimension = sheet.column_dimensions[letter]
        dimension.width = 28 if column.field in (DESCRIPTION, TAGS) else 18
        numeric = (column.feature or {}).get("data_type") in ("int32", "float", "double", "timestamp", "bool")
        if not numeric:
            dimension.number_format = "@"  # typed "+08:00" or "0012" stays text instead of a time or 12
        source = list_letters.get(column.identifier) if column.field in (TIMEZONE, ATTRIBUTE) else None
        if source is None:
            continue
        count = len(lists[column.identifier])
        # a warning, not a stop: IANA zone names and enum labels are accepted as well
        validation = DataValidation(type="list", formula1=f"{LISTS_SHEET}!${source}$1:${source}${count}",
                                    allow_blank=True, errorStyle="warning", showErrorMessage=True,
                                    error=_("Not in the list: check the %(sheet)s sheet.")
                                    % {"sheet": INSTRUCTIONS_SHEET})
        validation.add(f"{letter}{FIRST_DATA_ROW}:{letter}{last_row}")
        sheet.data_validations.append(validation)

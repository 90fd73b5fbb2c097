"""Reading an uploaded template safely: judge the file by its content, then read it with python-calamine.

Three steps, cheapest first:
1. `inspect_upload` (in the request, before a job exists): size, magic bytes (zip, or OLE2 = an
   encrypted workbook or a legacy .xls), a readable zip with an .xlsx workbook, the decompressed
   size the zip's central directory declares (a zip bomb is refused before anything inflates), and
   an estimate of the rows (the sheet's <dimension>, else its size) to choose in-request or Celery.
2. `verify_archive`: inflates every part once, in chunks, through zipfile, which stops at the
   declared size and checks each CRC, so a central directory that lies is caught too. On the way
   it looks at the sheet XML: formulas (`<f>` elements) are refused, never evaluated; and the cell
   area calamine would allocate (last row × last column) is bounded, so a sparse sheet with one
   cell at XFD1048576 cannot make the reader allocate billions of cells.
3. `read_template`: calamine reads the sheets; hidden sheets (other than our own Lists sheet),
   another product's template, wrong header columns, no rows and too many rows are refused.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

import python_calamine
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.errors import DomainError

from ..models import Product
from .columns import (
    DATA_SHEET,
    FIRST_DATA_ROW,
    INSTRUCTIONS_SHEET,
    LISTS_SHEET,
    NOTE_PREFIX,
    PRODUCT_KEY_LABEL,
    Column,
    column_letter,
    columns_for,
    in_every_language,
    template_filename,
)

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")  # Compound File: an encrypted .xlsx, or a legacy .xls
CONTENT_TYPES = "[Content_Types].xml"
XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
MACRO_MAIN = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
MAX_PARTS = 2_000
MAX_SMALL_PART = 5 * 1024 * 1024  # workbook.xml, rels, content types: never this large in a real file
BYTES_PER_ROW_ESTIMATE = 250  # sheet XML per row of a template, when the sheet has no <dimension>
CHUNK = 1 << 20
TAIL = 64  # bytes kept between chunks so a tag split across two chunks is still seen
OTHER_SHEET_ROWS = 10_000  # Instructions, Lists, or a sheet of the user's own: read or not, kept small
COLUMN_SLACK = 10  # stray cells this far right of the template's columns are reported, not refused
MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"

ROOT_PREFIX_RE = re.compile(rb"<([A-Za-z_][\w.-]*:)?worksheet[\s>]")  # a sheet written with x:c, x:f…
CELL_REF_BEFORE_RE = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?c r="([A-Z]{1,3}[0-9]+)"[^<]*$')
CELL_REF_RE = re.compile(r"([A-Z]+)([0-9]+)")
DIMENSION_RE = re.compile(rb'<(?:x:)?dimension ref="[A-Z]+[0-9]+(?::[A-Z]+([0-9]+))?"')


class BadFile(DomainError):
    """An upload refused as a whole: nothing was read from it and nothing changes."""


@dataclass
class Inspection:
    """What the cheap look at an upload found."""

    estimated_rows: int
    sheet_parts: dict[str, str] = field(default_factory=dict)  # sheet name → zip part


@dataclass
class ParsedSheet:
    columns: list[tuple[Column, int]]  # each template column and its index in the file
    rows: list[tuple[int, list[Any]]]  # (spreadsheet row number, cells) of every non-empty row
    unnamed: list[int]  # indexes of columns without a name in row 1


# --- 1. the cheap look ----------------------------------------------------------------------------

def inspect_upload(file: IO[bytes], size: int) -> Inspection:
    limit = settings.BATCH_MAX_FILE_BYTES
    if size > limit:
        raise BadFile(_("The file is %(size)s; the limit is %(limit)s.") % {
            "size": _megabytes(size), "limit": _megabytes(limit)}, code="file_too_large")
    file.seek(0)
    head = file.read(8)
    file.seek(0)
    if not head:
        raise BadFile(_("The file is empty."), code="empty_file")
    if head.startswith(OLE2_MAGIC):
        raise BadFile(_("The file is password-protected (encrypted), or an old-style .xls workbook: the portal "
                        "cannot read it. Remove the password, or save it as an Excel workbook (.xlsx), and upload "
                        "it again."), code="encrypted")
    if not head.startswith(ZIP_MAGIC):
        raise BadFile(_("This is not an .xlsx file: its content is not an Excel workbook, whatever its name. "
                        "Download the template, fill it and save it as .xlsx."), code="not_xlsx")
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _corrupt() from None
    with archive:
        return _inspect_archive(archive)


def _inspect_archive(archive: zipfile.ZipFile) -> Inspection:
    parts = archive.infolist()
    if len(parts) > MAX_PARTS:
        raise BadFile(_("The file has %(count)s parts; an .xlsx template has a few dozen.") % {
            "count": f"{len(parts):,}"}, code="corrupt")
    declared = sum(part.file_size for part in parts)
    cap = settings.BATCH_MAX_UNZIPPED_BYTES
    if declared > cap:
        raise BadFile(_("The file unpacks to %(size)s, more than the %(limit)s allowed: "
                        "it is refused as a possible zip bomb.") % {
                            "size": _megabytes(declared), "limit": _megabytes(cap)}, code="zip_bomb")
    names = {part.filename for part in parts}
    if CONTENT_TYPES not in names:
        raise BadFile(_("This zip file is not an Excel workbook (it has no [Content_Types].xml). Download the "
                        "template and save it as .xlsx."), code="not_xlsx")
    content_types = _read_small(archive, CONTENT_TYPES)
    if MACRO_MAIN.encode() in content_types:
        raise BadFile(_("Macro-enabled workbooks (.xlsm) are not accepted: save the file as .xlsx."),
                      code="not_xlsx")
    if XLSX_MAIN.encode() not in content_types:
        raise BadFile(_("This zip file is not an Excel workbook. Download the template and save it as .xlsx."),
                      code="not_xlsx")
    sheet_parts = _sheet_parts(archive, names)
    data_part = sheet_parts.get(DATA_SHEET)
    if data_part is None:
        raise BadFile(_('The workbook has no "%(sheet)s" sheet: this is not a batch template. Download the '
                        "template and fill its %(sheet)s sheet.") % {"sheet": DATA_SHEET}, code="not_a_template")
    return Inspection(estimated_rows=_estimate_rows(archive, data_part), sheet_parts=sheet_parts)


def _sheet_parts(archive: zipfile.ZipFile, names: set[str]) -> dict[str, str]:
    """Sheet name → the zip part holding its XML, from workbook.xml and its relationships."""
    workbook_part = "xl/workbook.xml"
    if workbook_part not in names:
        raise BadFile(_("The workbook part is missing: the file is damaged."), code="corrupt")
    try:
        workbook = ElementTree.fromstring(_read_small(archive, workbook_part))
        rels_part = "xl/_rels/workbook.xml.rels"
        rels = ElementTree.fromstring(_read_small(archive, rels_part)) if rels_part in names else None
    except ElementTree.ParseError:
        raise _corrupt() from None
    targets = {}
    for rel in rels.iter(f"{PKG_REL_NS}Relationship") if rels is not None else ():
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        targets[rel.get("Id")] = path
    found = {}
    for sheet in workbook.iter(f"{MAIN_NS}sheet"):
        part = targets.get(sheet.get(f"{REL_NS}id"))
        if part in names:
            found[sheet.get("name", "")] = part
    return found


def _estimate_rows(archive: zipfile.ZipFile, part: str) -> int:
    try:
        with archive.open(part) as stream:
            head = stream.read(4096)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError):
        raise _corrupt() from None
    match = DIMENSION_RE.search(head)
    if match and match.group(1):
        return max(int(match.group(1)) - FIRST_DATA_ROW + 1, 0)
    return archive.getinfo(part).file_size // BYTES_PER_ROW_ESTIMATE


def _read_small(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        if archive.getinfo(name).file_size > MAX_SMALL_PART:
            raise BadFile(_("The part %(name)s is far larger than in any workbook.") % {"name": name}, code="corrupt")
        return archive.read(name)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError):
        # RuntimeError: zipfile's "encrypted, password required"
        raise _corrupt() from None


# --- 2. inflating once, with eyes open -------------------------------------------------------------

@dataclass
class SheetScan:
    formulas: int = 0
    formula_cell: str | None = None
    unreferenced: bool = False  # a cell without its r="B7": its place would be counted, not read
    far_refs: list[str] = field(default_factory=list)  # cell references past column Z or far down


class _SheetPatterns:
    """Three searches over a sheet's XML, each a fast scan for a rare match in a valid template.

    The reader allocates last row × last column cells, so only the farthest references matter: those
    with two or more column letters, or a row number of as many digits as the first row too far.
    """

    def __init__(self, prefix: bytes, last_row: int) -> None:
        tag = re.escape(b"<" + prefix)
        digits = len(str(last_row + 1))
        self.formula = re.compile(tag + rb"f[ >/]")
        self.unreferenced = re.compile(tag + rb'c(?:>|/>| (?!r="))')
        self.far = re.compile(tag + rb'c r="([A-Z]{2,}[0-9]+|[A-Z][0-9]{%d,})"' % digits)


def verify_archive(path: Path, product: Product) -> None:
    """Inflate and check every part; refuse formulas and sheets whose cell area exceeds the limits."""
    try:
        with zipfile.ZipFile(path) as archive:
            sheet_parts = {part: name for name, part in _sheet_parts(archive, set(archive.namelist())).items()}
            for info in archive.infolist():
                sheet = sheet_parts.get(info.filename)
                scan = _inflate(archive, info, last_row=_last_row(sheet)) if sheet is not None else None
                if scan is None:
                    _inflate(archive, info, last_row=None)
                else:
                    _judge_sheet(sheet, scan, product)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError):
        raise _corrupt() from None


def _last_row(sheet: str | None) -> int:
    return FIRST_DATA_ROW - 1 + settings.BATCH_MAX_ROWS if sheet == DATA_SHEET else OTHER_SHEET_ROWS


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, last_row: int | None) -> SheetScan:
    """Read a part to its end (checking its CRC); for a sheet (last_row given), scan its XML on the way."""
    scan = SheetScan()
    patterns = None
    tail = b""
    with archive.open(info) as stream:  # stops at the declared size; a wrong CRC raises BadZipFile
        while chunk := stream.read(CHUNK):
            if last_row is None:
                continue
            if patterns is None:
                root = ROOT_PREFIX_RE.search(chunk[:4096])
                patterns = _SheetPatterns(root.group(1) or b"" if root else b"", last_row)
            buffer = tail + chunk
            for match in patterns.formula.finditer(buffer):
                if match.start() > len(tail) - 3:  # one wholly in the tail was counted with the last chunk
                    scan.formulas += 1
                    if scan.formula_cell is None:
                        ref = CELL_REF_BEFORE_RE.search(buffer, max(0, match.start() - 2048), match.start())
                        scan.formula_cell = ref.group(1).decode() if ref else "?"
            if not scan.unreferenced:
                match = patterns.unreferenced.search(buffer)
                # "<c " cut off at the end of a chunk is looked at again, whole, with the next one
                scan.unreferenced = bool(match) and match.end() + 4 <= len(buffer)
            if len(scan.far_refs) < 1000:
                scan.far_refs += [ref.decode() for ref in patterns.far.findall(buffer)]
            tail = buffer[-TAIL:]
    return scan


def _judge_sheet(sheet: str, scan: SheetScan, product: Product) -> None:
    if scan.formulas:
        raise BadFile(ngettext(
            'The "%(sheet)s" sheet holds %(count)s formula, in cell %(cell)s. Formulas are not evaluated and their '
            "saved results may be stale: replace them by their values (Copy, then Paste Special → Values) and "
            "upload again.",
            'The "%(sheet)s" sheet holds %(count)s formulas, the first in cell %(cell)s. Formulas are not evaluated '
            "and their saved results may be stale: replace them by their values (Copy, then Paste Special → "
            "Values) and upload again.", scan.formulas)
            % {"sheet": sheet, "count": f"{scan.formulas:,}", "cell": scan.formula_cell}, code="formulas")
    if scan.unreferenced:
        raise BadFile(_('The "%(sheet)s" sheet is not laid out as spreadsheet programs write it (cells without '
                        "references). Open it in a spreadsheet program, save it as .xlsx and upload again.")
                      % {"sheet": sheet}, code="corrupt")
    refs = [CELL_REF_RE.match(ref).groups() for ref in scan.far_refs]
    last_row = max((int(row) for _, row in refs), default=0)
    widest = max((letters for letters, _ in refs), key=_column_number, default="")
    allowed_last = _last_row(sheet)
    if last_row > allowed_last:
        if sheet == DATA_SHEET:
            raise BadFile(_('The "%(sheet)s" sheet reaches row %(row)s; a template holds at most %(maximum)s devices '
                            "(rows %(first)d to %(last)s). Split the file, or delete the empty rows below your data.")
                          % {"sheet": sheet, "row": f"{last_row:,}", "maximum": f"{settings.BATCH_MAX_ROWS:,}",
                             "first": FIRST_DATA_ROW, "last": f"{allowed_last:,}"}, code="too_many_rows")
        raise BadFile(_('The "%(sheet)s" sheet reaches row %(row)s: only the %(data_sheet)s sheet holds data, '
                        "other sheets may have at most %(maximum)s rows.")
                      % {"sheet": sheet, "row": f"{last_row:,}", "data_sheet": DATA_SHEET,
                         "maximum": f"{OTHER_SHEET_ROWS:,}"}, code="too_many_rows")
    width = len(columns_for(product.model)) + COLUMN_SLACK
    if widest and _column_number(widest) > max(width, 26):
        raise BadFile(_('The "%(sheet)s" sheet has cells as far right as column %(column)s, far past the '
                        "template's %(count)d columns. Delete them and upload again.")
                      % {"sheet": sheet, "column": widest, "count": width - COLUMN_SLACK}, code="bad_headers")


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


# --- 3. reading --------------------------------------------------------------------------------------

def read_template(path: Path, product: Product) -> ParsedSheet:
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError:
        raise BadFile(_("The file is password-protected: remove the password and upload it again."),
                      code="encrypted") from None
    except (python_calamine.CalamineError, OSError, ValueError):
        raise _corrupt() from None
    with workbook:
        _check_sheets(workbook)
        _check_product(workbook, product)
        try:
            cells = workbook.get_sheet_by_name(DATA_SHEET).to_python(skip_empty_area=False)
        except (python_calamine.CalamineError, ValueError):
            raise _corrupt() from None
    columns = columns_for(product.model)
    header = cells[0] if cells else []
    mapping, unnamed = _map_headers(header, columns, product)
    rows = list(_data_rows(cells))
    del cells
    if not rows:
        raise BadFile(_("The file has no devices: fill one device per row from row %(row)d of the %(sheet)s sheet.")
                      % {"row": FIRST_DATA_ROW, "sheet": DATA_SHEET}, code="no_rows")
    if len(rows) > settings.BATCH_MAX_ROWS:
        raise BadFile(_("The file has %(count)s devices; the limit is %(maximum)s per file. "
                        "Split it into several files.")
                      % {"count": f"{len(rows):,}", "maximum": f"{settings.BATCH_MAX_ROWS:,}"}, code="too_many_rows")
    return ParsedSheet(columns=mapping, rows=rows, unnamed=unnamed)


def _check_sheets(workbook: python_calamine.CalamineWorkbook) -> None:
    hidden = [meta.name for meta in workbook.sheets_metadata
              if meta.visible != python_calamine.SheetVisibleEnum.Visible
              and not (meta.name == LISTS_SHEET and meta.visible == python_calamine.SheetVisibleEnum.Hidden)]
    if hidden:
        names = ", ".join(f'"{name}"' for name in hidden)
        raise BadFile(_("The workbook has hidden sheets (%(names)s): unhide or delete them, so that everything "
                        "uploaded can be seen. Only the template's own %(sheet)s sheet may stay hidden.")
                      % {"names": names, "sheet": LISTS_SHEET}, code="hidden_sheet")
    if DATA_SHEET not in workbook.sheet_names:
        raise BadFile(_('The workbook has no "%(sheet)s" sheet: this is not a batch template.') % {"sheet": DATA_SHEET},
                      code="not_a_template")


def _check_product(workbook: python_calamine.CalamineWorkbook, product: Product) -> None:
    """The template names its product on the Instructions sheet; another product's file is refused."""
    found = None
    labels = in_every_language(PRODUCT_KEY_LABEL)  # a template downloaded in any language
    if INSTRUCTIONS_SHEET in workbook.sheet_names:
        for row in workbook.get_sheet_by_name(INSTRUCTIONS_SHEET).to_python(nrows=20):
            if len(row) > 1 and str(row[0]).strip() in labels:
                found = str(row[1]).strip()
                break
    if not found:
        raise BadFile(_('The file does not say which product it is for (its "%(sheet)s" sheet names '
                        "no %(label)s). Download %(template)s and fill that.")
                      % {"sheet": INSTRUCTIONS_SHEET, "label": PRODUCT_KEY_LABEL,
                         "template": template_filename(product)}, code="not_a_template")
    if found != product.product_key:
        raise BadFile(_("This is the template of product %(found)s, not of %(name)s (%(product)s). "
                        "Download %(template)s and fill that.")
                      % {"found": found, "name": product.name, "product": product.product_key,
                         "template": template_filename(product)}, code="wrong_product")


def _map_headers(header: list[Any], columns: list[Column],
                 product: Product) -> tuple[list[tuple[Column, int]], list[int]]:
    # row 1 as the template wrote it in any language (or a mix: a column renamed back to English)
    expected = {name: column for column in columns for name in column.names()}
    positions: dict[str, int] = {}
    unknown, repeated, unnamed = [], [], []
    for index, cell in enumerate(header):
        text = str(cell).strip() if cell is not None else ""
        if not text:
            unnamed.append(index)
            continue
        column = expected.get(text.casefold())
        if column is None:
            unknown.append(f'{column_letter(index)} "{text}"')
        elif column.header in positions:
            repeated.append(f'"{column.title}"')
        else:
            positions[column.header] = index
    missing = [f'"{column.title}"' for column in columns if column.header not in positions]
    problems = []
    if missing:
        problems.append(ngettext("missing column %(columns)s", "missing columns %(columns)s", len(missing))
                        % {"columns": ", ".join(missing)})
    if unknown:
        problems.append(ngettext("unknown column %(columns)s", "unknown columns %(columns)s", len(unknown))
                        % {"columns": ", ".join(unknown)})
    if repeated:
        problems.append(ngettext("column given twice %(columns)s", "columns given twice %(columns)s", len(repeated))
                        % {"columns": ", ".join(repeated)})
    if problems:
        raise BadFile(_("Row 1 of the %(sheet)s sheet does not match the template of %(name)s (%(product)s): "
                        "%(problems)s. Keep the template's column names as they are; if the model changed, "
                        "download the template again.")
                      % {"sheet": DATA_SHEET, "name": product.name, "product": product.product_key,
                         "problems": "; ".join(problems)}, code="bad_headers")
    return [(column, positions[column.header]) for column in columns], unnamed


def _data_rows(cells: list[list[Any]]) -> Iterator[tuple[int, list[Any]]]:
    """Non-empty rows after the header, numbered as the spreadsheet shows them; the notes row is skipped."""
    prefixes = tuple(in_every_language(NOTE_PREFIX))
    for index in range(1, len(cells)):
        row = cells[index]
        if index == 1 and any(isinstance(cell, str) and cell.startswith(prefixes) for cell in row):
            continue
        for cell in row:
            if cell != "" and cell is not None:
                yield index + 1, row
                break


def _corrupt() -> BadFile:
    return BadFile(_("The file is damaged and cannot be read as an .xlsx workbook: save it again from your "
                     "spreadsheet program and upload it again."), code="corrupt")


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"

"""Rows as CSV (UTF-8 with a byte-order mark, so Excel reads Chinese) or as an XLSX workbook:
one table streamed (`csv_chunks`, `xlsx_file`), or several titled tables at once (`Sheet`,
`to_csv`, `to_xlsx`).

A row is a sequence of values: `str` is text, `int` and `Decimal` are numbers, `datetime` a
time, None an empty cell. Text is never read as a formula by a spreadsheet: in CSV a text
starting with = + - @ (or a tab or carriage return) gets a leading apostrophe; in XLSX every
text is stored as a string cell, whatever it starts with. Numbers we produce ourselves stay numbers.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import IO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_CHUNK_ROWS = 500
# Larger workbooks go from memory to a temporary file while they are written.
SPOOL_BYTES = 8 * 1024 * 1024

TIME_PATTERN = "%Y-%m-%d %H:%M"

Value = str | int | Decimal | datetime | None

CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def neutralise(text: str) -> str:
    """A text a spreadsheet would run as a formula, made plain with a leading apostrophe."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_value(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        raise TypeError("booleans are written as words")
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime(TIME_PATTERN)
    return neutralise(str(value))


def csv_chunks(headers: Sequence[str], rows: Iterable[Sequence[Value]]) -> Iterator[str]:
    """The file in pieces (BOM and header first), ready to stream."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(h) for h in headers])
    yield BOM + buffer.getvalue()
    pending = 0
    buffer.seek(0)
    buffer.truncate()
    for row in rows:
        writer.writerow([_csv_value(v) for v in row])
        pending += 1
        if pending >= CSV_CHUNK_ROWS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue()


def _xlsx_cell(sheet, value: Value) -> WriteOnlyCell:
    if value is None:
        return WriteOnlyCell(sheet, value=None)
    if isinstance(value, bool):
        raise TypeError("booleans are written as words")
    if isinstance(value, int):
        return WriteOnlyCell(sheet, value=value)
    if isinstance(value, Decimal):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "0.00"
        return cell
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=value.replace(tzinfo=None))
        cell.number_format = "yyyy-mm-dd hh:mm"
        return cell
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", str(value)))
    cell.data_type = "s"  # openpyxl would otherwise take a text starting with = as a formula
    return cell


def xlsx_file(title: str, headers: Sequence[str], rows: Iterable[Sequence[Value]], *,
              widths: Sequence[int] | None = None) -> IO[bytes]:
    """A one-sheet workbook in a file object at position 0 (the caller closes it)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31] or "Sheet1")
    for index, width in enumerate(widths or (), start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    bold = Font(bold=True)
    header_cells = []
    for header in headers:
        cell = _xlsx_cell(sheet, header)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in rows:
        sheet.append([_xlsx_cell(sheet, v) for v in row])
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (handed back open)
    book.save(out)
    out.seek(0)
    return out


@dataclass
class Sheet:
    """One titled table: a header row (may be empty) and its rows."""

    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[Value]] = field(default_factory=list)
    widths: Sequence[int] = ()


def to_csv(sheets: Sequence[Sheet]) -> bytes:
    """All sheets one after another, each under its title, blank lines between them."""
    out = io.StringIO()
    writer = csv.writer(out)
    for n, sheet in enumerate(sheets):
        if n:
            writer.writerow([])
        writer.writerow([neutralise(sheet.title)])
        if sheet.header:
            writer.writerow([_csv_value(v) for v in sheet.header])
        for row in sheet.rows:
            writer.writerow([_csv_value(v) for v in row])
    return (BOM + out.getvalue()).encode("utf-8")


_BAD_TITLE = str.maketrans({c: " " for c in "[]:*?/\\"})


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    """One worksheet per sheet, the header in the first row."""
    book = Workbook(write_only=True)
    used: set[str] = set()
    for n, sheet in enumerate(sheets, start=1):
        title = (sheet.title.translate(_BAD_TITLE).strip() or f"Sheet{n}")[:31]
        if title in used:
            title = f"{title[:28]} {n}"
        used.add(title)
        ws = book.create_sheet(title)
        for col, width in enumerate(sheet.widths, start=1):
            ws.column_dimensions[get_column_letter(col)].width = width
        if sheet.header:
            ws.append([_xlsx_cell(ws, v) for v in sheet.header])
        for row in sheet.rows:
            ws.append([_xlsx_cell(ws, v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

"""Tables as downloads: CSV for Excel (UTF-8 with BOM) and XLSX, safe against formula injection."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils import get_column_letter

# A cell starting with one of these is read as a formula by Excel, LibreOffice or WPS.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TIME_PATTERN = "%Y-%m-%d %H:%M"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIMETYPE = "text/csv"


@dataclass
class Sheet:
    """One titled table: a header row (may be empty) and rows of str, int, Decimal, datetime."""

    title: str
    header: Sequence[str]
    rows: Iterable[Sequence] = field(default_factory=list)
    widths: Sequence[int] = ()


def neutralise(text: str) -> str:
    """Prefix a quote to text a spreadsheet would run as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_value(value) -> str | int:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return value.strftime(TIME_PATTERN)
    return neutralise(str(value))


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
    return ("\ufeff" + out.getvalue()).encode("utf-8")


_BAD_TITLE = str.maketrans({c: " " for c in "[]:*?/\\"})


def _xlsx_cell(ws, value) -> WriteOnlyCell:
    if isinstance(value, Decimal):
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = "0.00"
    elif isinstance(value, datetime):
        cell = WriteOnlyCell(ws, value=value.replace(tzinfo=None))
        cell.number_format = "yyyy-mm-dd hh:mm"
    elif isinstance(value, int) and not isinstance(value, bool):
        cell = WriteOnlyCell(ws, value=value)
    else:
        # Text stays text, exactly as typed: never a formula, whatever it starts with.
        cell = WriteOnlyCell(ws, value="" if value is None else str(value))
        cell.data_type = "s"
    return cell


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

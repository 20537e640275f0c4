"""Importing members from a CSV or Excel list: upload → checked preview → confirm (all or
nothing).

The uploaded rows are kept with their errors in a `MemberImport` until staff confirm or
discard them. Confirming checks every row against the database again and creates the
members in one transaction, or none of them.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from timebank import idnumber
from timebank.errors import AlreadyExists, InvalidTransition, NotFound, ValidationFailed
from timebank.extensions import db
from timebank.models import MemberImport, OrgUnit, User
from timebank.models.base import utcnow
from timebank.models.user import MEMBER_ROLES
from timebank.privacy import mask_id_number
from timebank.services import access, audit, tx, users

MAX_ROWS = 5000
MAX_COLUMNS = 30
MAX_CELL = 120  # characters kept of a cell; anything longer is an error in every column
MAX_NAME = users.MAX_DISPLAY_NAME
MAX_GRID_TEXT = 100
MAX_FILENAME = 255
MAX_UNPACKED_BYTES = 64 * 1024 * 1024  # an .xlsx is a zip: refuse one that unpacks to a bomb
LOOKUP_CHUNK = 500  # values per IN (...) when asking the database in bulk
IMPORT_KINDS = ("street", "community", "grid")

# Every status change an import may make; anything else is an invalid transition.
TRANSITIONS = {("preview", "imported"), ("preview", "discarded")}

MOBILE = re.compile(r"^1[3-9][0-9]{9}$")  # an 11-digit mainland mobile number
USERNAME = re.compile(r"^[A-Za-z0-9_.\-@]{3,64}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Column → the header names it is known by, compared after _header_key().
COLUMNS = ("name", "phone", "grid", "id_number", "role", "party_member", "party_unit",
           "username")
REQUIRED_COLUMNS = ("name",)
HEADER_ALIASES = {
    "name": ("姓名", "名字", "name", "displayname"),
    "phone": ("手机号", "手机", "手机号码", "联系电话", "电话", "phone", "mobile"),
    "grid": ("网格", "所属网格", "网格名称", "grid", "gridid"),
    "id_number": ("身份证号", "身份证号码", "身份证", "idnumber", "idcard"),
    "role": ("角色", "身份", "role", "roles"),
    "party_member": ("党员", "是否党员", "partymember", "party"),
    "party_unit": ("党组织", "所在党组织", "党组织名称", "partyunit", "partybranch"),
    "username": ("用户名", "账号", "登录名", "username", "login"),
}
IGNORED_HEADERS = {"序号", "编号", "no", "no.", "#", "备注", "说明", "note", "notes", "remark",
                   "remarks"}
TEMPLATE_HEADERS = {
    "zh": ("姓名", "手机号", "网格", "身份证号", "角色", "党员", "党组织", "用户名"),
    "en": ("name", "phone", "grid", "id_number", "role", "party_member", "party_unit",
           "username"),
}
ROLE_WORDS = {
    "volunteer": "volunteer", "志愿者": "volunteer",
    "gridworker": "gridworker", "网格员": "gridworker", "专职网格员": "gridworker",
    "兼职网格员": "gridworker",
}
YES_WORDS = {"是", "y", "yes", "true", "1", "√", "✓", "党员", "中共党员"}
NO_WORDS = {"", "否", "n", "no", "false", "0", "×", "群众", "非党员"}

# What can be wrong with one row, by code; `line` and `n` are filled in from the error.
ERROR_MESSAGES = {
    "name_missing": _l("The name is missing."),
    "name_too_long": _l("The name is longer than %(n)d characters."),
    "phone_invalid": _l("Not an 11-digit mobile number."),
    "phone_in_file": _l("The same phone number is on line %(line)d."),
    "phone_taken": _l("This phone number is already registered."),
    "grid_missing": _l("The grid is missing."),
    "grid_unknown": _l("No grid with this name or number in the chosen unit."),
    "grid_ambiguous": _l("Several grids have this name; write the grid's number instead."),
    "id_format": users.ID_NUMBER_ERRORS["format"],
    "id_birth_date": users.ID_NUMBER_ERRORS["birth_date"],
    "id_checksum": users.ID_NUMBER_ERRORS["checksum"],
    "id_as_number": _l("The ID number was saved as a number and lost digits; format the "
                       "column as text."),
    "id_in_file": _l("The same ID number is on line %(line)d."),
    "id_taken": _l("This ID number belongs to another member."),
    "role_unknown": _l("Unknown role; write 志愿者 (volunteer) or 网格员 (gridworker)."),
    "party_unknown": _l("Write 是 (yes) or 否 (no)."),
    "party_unit_not_member": _l("Only a party member has a party unit."),
    "too_long": _l("Longer than %(n)d characters."),
    "username_invalid": _l("A username has 3 to 64 letters, digits or _ . - @."),
    "username_in_file": _l("The same username is on line %(line)d."),
    "username_taken": _l("This username is taken."),
    "bad_characters": _l("Contains characters that cannot be saved."),
}


def error_text(error: dict) -> str:
    """One row error as a sentence in the reader's language."""
    message = ERROR_MESSAGES.get(error.get("code"), ERROR_MESSAGES["bad_characters"])
    params = {k: v for k, v in error.items() if k in ("line", "n")}
    return str(message) % params if params else str(message)


# --- reading the file -------------------------------------------------------------------


class FileRefused(ValidationFailed):
    """The uploaded file as a whole cannot be used; `reason` says why in a stable word."""

    def __init__(self, reason: str, message: str):
        super().__init__(message, errors={"file": [message]})
        self.reason = reason


def _refuse(reason: str, message: str) -> FileRefused:
    return FileRefused(reason, message)


def _header_key(text: str) -> str:
    key = unicodedata.normalize("NFKC", text or "").strip().lower()
    key = re.sub(r"\(.*?\)|\*", "", key)  # "网格（名称或编号）", "姓名*"
    return re.sub(r"[\s_\-]", "", key)


_ALIAS_TO_COLUMN = {_header_key(alias): column
                    for column, aliases in HEADER_ALIASES.items() for alias in aliases}
_IGNORED_KEYS = {_header_key(h) for h in IGNORED_HEADERS}


def _extension(filename: str) -> str:
    name = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _cell_text(value) -> str:
    """A spreadsheet cell as text: whole numbers without '.0', nothing as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030 as Chinese Excel saves it."""
    if data.startswith(codecs.BOM_UTF8):
        attempts = ("utf-8-sig",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        attempts = ("utf-16",)
    else:
        attempts = ("utf-8", "gb18030")
    for encoding in attempts:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text or len(_CONTROL.findall(text)) > max(10, len(text) // 1000):
            break  # decodes, but is not text: a binary file under a .csv name
        return text  # a stray control character is told on its own row
    raise _refuse("unreadable", _unreadable_list())


def _unreadable_list() -> str:
    return _("This file cannot be read as a member list. Save it as CSV (UTF-8) or Excel "
             "(.xlsx) and try again.")


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    text = _decode_csv(data)
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";", "，"), key=first_line.count)
    if not first_line.count(delimiter):
        delimiter = ","
    try:
        yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    except csv.Error:
        raise _refuse("unreadable", _unreadable_list()) from None


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    import openpyxl

    unreadable = _("This Excel file cannot be read. Save it again as .xlsx or CSV and try "
                   "again.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _refuse("unreadable", unreadable) from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise _refuse("too_large_unpacked", _(
            "This Excel file is too large once unpacked; split the list into smaller files."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles it does not know
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # any broken or foreign zip: openpyxl raises many kinds
        raise _refuse("unreadable", unreadable) from None
    try:
        if not book.worksheets:
            raise _refuse("unreadable", unreadable)
        sheet = book.worksheets[0]
        try:
            for row in sheet.iter_rows(max_col=MAX_COLUMNS + 1, values_only=True):
                yield [_cell_text(v) for v in row]
        except Exception:  # a damaged sheet fails while it is read
            raise _refuse("unreadable", unreadable) from None
    finally:
        book.close()


@dataclass
class Parsed:
    columns: list[str | None]  # the column each position holds; None = ignored
    rows: list[tuple[int, list[str]]]  # (line in the file, cells)


def parse(filename: str, data: bytes) -> Parsed:
    """The header and the non-empty rows of a CSV or XLSX file, or a person-readable refusal."""
    if not data or not data.strip():
        raise _refuse("empty", _("The file is empty."))
    extension = _extension(filename)
    is_zip = data[:4] == b"PK\x03\x04"
    is_ole = data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    if extension == "xls" or (is_ole and extension in ("csv", "txt", "")):
        raise _refuse("old_xls", _("Old Excel files (.xls) cannot be read; save the list as "
                                   ".xlsx or CSV and try again."))
    if extension in ("xlsx", "xlsm") or (is_zip and extension in ("csv", "txt", "")):
        lines: Iterable[list[str]] = _xlsx_rows(data)
    elif extension in ("csv", "txt", ""):
        lines = _csv_rows(data)
    else:
        raise _refuse("wrong_type", _("Choose a CSV or Excel (.xlsx) file."))
    return _read_table(lines)


def _read_table(lines: Iterable[list[str]]) -> Parsed:
    columns: list[str | None] | None = None
    rows: list[tuple[int, list[str]]] = []
    for line, cells in enumerate(lines, start=1):
        if not any((c or "").strip() for c in cells):
            continue  # spreadsheets keep empty rows around; they are not members
        if columns is None:
            columns = _read_header(cells)
            continue
        if len(rows) >= MAX_ROWS:
            raise _refuse("too_many_rows", _(
                "The file has more than %(n)d members; split it into smaller files.",
                n=MAX_ROWS))
        rows.append((line, cells))
    if columns is None:
        raise _refuse("empty", _("The file is empty."))
    if not rows:
        raise _refuse("no_rows", _("The file has a header row but no members."))
    return Parsed(columns, rows)


def _read_header(cells: list[str]) -> list[str | None]:
    if len(cells) > MAX_COLUMNS and any((c or "").strip() for c in cells[MAX_COLUMNS:]):
        raise _refuse("too_many_columns", _(
            "The file has more than %(n)d columns; use the template.", n=MAX_COLUMNS))
    columns: list[str | None] = []
    unknown: list[str] = []
    for cell in cells:
        key = _header_key(cell)
        column = _ALIAS_TO_COLUMN.get(key)
        if column is None and key and key not in _IGNORED_KEYS:
            unknown.append(_CONTROL.sub("", cell.strip())[:20])
        if column is not None and column in columns:
            raise _refuse("duplicate_column", _("The column %(column)s appears twice.",
                                                column=cell.strip()[:20]))
        columns.append(column)
    if not any(columns):
        raise _refuse("no_header", _("The first row must hold the column names (姓名, 手机号, "
                                     "网格 …); download the template to see them."))
    if unknown:
        raise _refuse("unknown_columns", _(
            "Unknown columns: %(columns)s. Use the column names of the template.",
            columns="、".join(unknown[:5])))
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        header = TEMPLATE_HEADERS["zh"][COLUMNS.index(missing[0])]
        raise _refuse("missing_column", _("The column %(column)s is missing.", column=header))
    return columns


def _row_values(columns: list[str | None], cells: list[str]) -> tuple[dict[str, str], bool]:
    """The row's known columns as trimmed text (at most MAX_CELL characters each), and
    whether any cell held control characters (removed here, told as an error)."""
    values = {c: "" for c in COLUMNS}
    dirty = False
    for column, cell in zip(columns, cells, strict=False):
        if column is None:
            continue
        text = (cell or "").strip()
        if _CONTROL.search(text):
            dirty = True
            text = _CONTROL.sub("", text)
        values[column] = text[:MAX_CELL + 1]
    return values, dirty


# --- checking the rows ------------------------------------------------------------------


@dataclass
class Checked:
    rows: list[dict]  # what is stored: line, values, errors, username, grid_id, grid_label
    members: list[users.NewMember]  # the members to create (only meaningful without errors)

    @property
    def error_count(self) -> int:
        return sum(1 for row in self.rows if row["errors"])


def _grids(unit: OrgUnit) -> tuple[dict[int, OrgUnit], dict[str, list[OrgUnit]]]:
    """The grids at or below the unit, by id and by name (one query)."""
    found = db.session.scalars(
        select(OrgUnit).where(OrgUnit.kind == "grid",
                              OrgUnit.path.startswith(unit.path, autoescape=True)))
    by_id: dict[int, OrgUnit] = {}
    by_name: dict[str, list[OrgUnit]] = {}
    for grid in found:
        by_id[grid.id] = grid
        by_name.setdefault(_name_key(grid.name), []).append(grid)
    return by_id, by_name


def _name_key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


def _existing(column, values: set[str]) -> set[str]:
    """Which of the values the column already holds, asked in chunks."""
    found: set[str] = set()
    ordered = sorted(values)
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ordered[start:start + LOOKUP_CHUNK]
        found.update(db.session.scalars(select(column).where(column.in_(chunk))))
    return found


def _generated_username(import_id: int, line: int) -> str:
    return f"imp{import_id}-{line}"


def _clean_row(values: dict[str, str], import_id: int, line: int, unit: OrgUnit,
               grids_by_id: dict[int, OrgUnit], grids_by_name: dict[str, list[OrgUnit]]
               ) -> tuple[dict, list[dict]]:
    """The row's cleaned values and its own errors (those needing no other row)."""
    errors: list[dict] = []
    clean: dict = {}

    name = values["name"]
    if not name:
        errors.append({"field": "name", "code": "name_missing"})
    elif len(name) > MAX_NAME:
        errors.append({"field": "name", "code": "name_too_long", "n": MAX_NAME})
    clean["display_name"] = name

    phone = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", values["phone"]))
    phone = phone.removeprefix("+86")
    if phone and not MOBILE.match(phone):
        errors.append({"field": "phone", "code": "phone_invalid"})
    clean["phone"] = phone or None

    grid_text = values["grid"]
    grid: OrgUnit | None = None
    if not grid_text:
        if unit.kind == "grid":
            grid = unit
        else:
            errors.append({"field": "grid", "code": "grid_missing"})
    elif len(grid_text) > MAX_GRID_TEXT:
        errors.append({"field": "grid", "code": "too_long", "n": MAX_GRID_TEXT})
    else:
        key = _name_key(grid_text)
        named = grids_by_name.get(key, [])
        if len(named) == 1:
            grid = named[0]
        elif len(named) > 1:
            errors.append({"field": "grid", "code": "grid_ambiguous"})
        elif key.isascii() and key.isdigit() and len(key) < 11 and int(key) in grids_by_id:
            grid = grids_by_id[int(key)]
        else:
            errors.append({"field": "grid", "code": "grid_unknown"})
    clean["grid"] = grid

    raw_id = values["id_number"]
    clean["id_number"] = None
    if raw_id:
        if "e+" in raw_id.lower():
            errors.append({"field": "id_number", "code": "id_as_number"})
        else:
            try:
                clean["id_number"] = idnumber.validate(raw_id)
            except idnumber.InvalidIdNumber as err:
                errors.append({"field": "id_number", "code": f"id_{err.reason}"})

    words = [w for w in re.split(r"[,，、/;；\s]+",
                                 unicodedata.normalize("NFKC", values["role"]).lower()) if w]
    roles = {ROLE_WORDS.get(w) for w in words} or {"volunteer"}
    if None in roles:
        errors.append({"field": "role", "code": "role_unknown"})
    clean["roles"] = tuple(sorted(r for r in roles if r in MEMBER_ROLES))

    party_word = _name_key(values["party_member"])
    is_party = party_word in YES_WORDS
    if not is_party and party_word not in NO_WORDS:
        errors.append({"field": "party_member", "code": "party_unknown"})
    clean["is_party_member"] = is_party
    party_unit = values["party_unit"] or None
    if party_unit is not None and len(party_unit) > users.MAX_PARTY_UNIT:
        errors.append({"field": "party_unit", "code": "too_long", "n": users.MAX_PARTY_UNIT})
    elif party_unit is not None and not is_party and party_word in NO_WORDS:
        errors.append({"field": "party_unit", "code": "party_unit_not_member"})
    clean["party_unit"] = party_unit

    username = unicodedata.normalize("NFKC", values["username"])
    if username:
        if not USERNAME.match(username):
            errors.append({"field": "username", "code": "username_invalid"})
    else:
        username = _generated_username(import_id, line)
    clean["username"] = username
    return clean, errors


def check_rows(unit: OrgUnit, import_id: int, lines: list[tuple[int, dict[str, str], bool]]
               ) -> Checked:
    """Every row's errors, against each other and the database (a few bulk queries)."""
    grids_by_id, grids_by_name = _grids(unit)
    cleaned: list[tuple[int, dict[str, str], dict, list[dict]]] = []
    for line, values, dirty in lines:
        clean, errors = _clean_row(values, import_id, line, unit, grids_by_id, grids_by_name)
        if dirty:
            errors.insert(0, {"field": "", "code": "bad_characters"})
        cleaned.append((line, values, clean, errors))

    checks = (("phone", User.phone, "phone_in_file", "phone_taken"),
              ("id_number", User.id_number, "id_in_file", "id_taken"),
              ("username", User.username, "username_in_file", "username_taken"))
    for key, column, in_file_code, taken_code in checks:
        first_line: dict[str, int] = {}
        for line, _values, clean, errors in cleaned:
            value = clean[key]
            if value is None:
                continue
            fold = value.lower() if key == "username" else value
            if fold in first_line:
                errors.append({"field": key, "code": in_file_code, "line": first_line[fold]})
            else:
                first_line[fold] = line
        taken = _existing(column, {clean[key] for *_rest, clean, _e in cleaned
                                   if clean[key] is not None})
        for _line, _values, clean, errors in cleaned:
            if clean[key] is not None and clean[key] in taken:
                errors.append({"field": key, "code": taken_code})

    rows: list[dict] = []
    members: list[users.NewMember] = []
    for line, values, clean, errors in cleaned:
        grid = clean["grid"]
        rows.append({
            "line": line,
            "values": {k: v[:MAX_CELL] for k, v in values.items()},
            "errors": errors,
            "username": clean["username"],
            "grid_id": grid.id if grid is not None else None,
            "grid_label": grid.name if grid is not None else None,
        })
        if not errors:
            members.append(users.NewMember(
                username=clean["username"], display_name=clean["display_name"],
                org_unit_id=grid.id, roles=clean["roles"], phone=clean["phone"],
                is_party_member=clean["is_party_member"], party_unit=clean["party_unit"],
                id_number=clean["id_number"]))
    return Checked(rows, members)


# --- the use cases ----------------------------------------------------------------------


def _import_unit(actor: User, unit: OrgUnit | int) -> OrgUnit:
    access.require_staff(actor)
    if not isinstance(unit, OrgUnit):
        found = db.session.get(OrgUnit, unit)
        if found is None:
            raise NotFound(_("No such organisation unit."))
        unit = found
    access.require_reach(actor, unit)
    if unit.kind not in IMPORT_KINDS:
        raise ValidationFailed(errors={"org_unit_id": [
            _("Choose a street, community or grid.")]})
    return unit


def _clean_filename(filename: str | None) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL.sub("", name).strip()
    return name[:MAX_FILENAME] or "members"


def preview(actor: User, unit: OrgUnit | int, filename: str, data: bytes) -> MemberImport:
    """Read and check an uploaded list, keep it with its errors; nobody is created yet."""
    unit = _import_unit(actor, unit)
    filename = _clean_filename(filename)
    parsed = parse(filename, data)  # before the write transaction: no lock while reading
    tx.begin_write()
    unit = db.session.get(OrgUnit, unit.id)
    batch = MemberImport(org_unit_id=unit.id, created_by_id=actor.id, filename=filename,
                         rows=[], status="preview")
    db.session.add(batch)
    db.session.flush()
    lines = [(line, *_row_values(parsed.columns, cells)) for line, cells in parsed.rows]
    checked = check_rows(unit, batch.id, lines)
    batch.rows = checked.rows
    batch.row_count = len(checked.rows)
    batch.error_count = checked.error_count
    tx.commit()
    return batch


def get_import(actor: User, import_id: int) -> MemberImport:
    """An import the actor may see: staff in reach of its unit; else 404 or 403."""
    access.require_staff(actor)
    batch = db.session.get(MemberImport, import_id)
    if batch is None:
        raise NotFound(_("No such import."))
    access.require_reach(actor, batch.org_unit)
    return batch


def recent_imports(actor: User, limit: int = 10) -> list[MemberImport]:
    """The latest imports in the actor's reach, newest first."""
    access.require_staff(actor)
    query = access.scope_to_reach(
        select(MemberImport).order_by(MemberImport.id.desc()).limit(limit), actor,
        MemberImport.org_unit_id)
    return list(db.session.scalars(query))


def _check_transition(batch: MemberImport, target: str) -> None:
    if (batch.status, target) in TRANSITIONS:
        return
    if batch.status == "imported":
        raise InvalidTransition(_("This list was already imported."))
    raise InvalidTransition(_("This list was discarded; upload it again."))


def _locked(actor: User, import_id: int) -> MemberImport:
    access.require_staff(actor)
    batch = db.session.scalar(
        select(MemberImport).where(MemberImport.id == import_id)
        .with_for_update(of=MemberImport).execution_options(populate_existing=True))
    if batch is None:
        raise NotFound(_("No such import."))
    access.require_reach(actor, batch.org_unit)
    return batch


def confirm(actor: User, import_id: int, *, password: str | None = None) -> int:
    """Create every member of a clean list in one transaction and return how many.

    The rows are checked against the database again first: when anything is wrong now
    (someone registered the same phone meanwhile), the new errors are kept on the import,
    nobody is created and ValidationFailed is raised. Everyone gets `password` as their
    first password (hashed once, never kept in clear); without one the accounts cannot
    sign in until a password is set.
    """
    if password is not None and len(password) < users.MIN_PASSWORD_LENGTH:
        raise ValidationFailed(errors={"password": [
            _("At least %(n)d characters.", n=users.MIN_PASSWORD_LENGTH)]})
    tx.begin_write()
    batch = _locked(actor, import_id)
    _check_transition(batch, "imported")
    lines = [(row["line"], {c: row["values"].get(c, "") for c in COLUMNS}, False)
             for row in batch.rows]
    checked = check_rows(batch.org_unit, batch.id, lines)
    for old, new in zip(batch.rows, checked.rows, strict=True):
        if any(e["code"] == "bad_characters" for e in old["errors"]):
            new["errors"].insert(0, {"field": "", "code": "bad_characters"})
    if checked.error_count or not checked.members:
        batch.rows = checked.rows
        batch.error_count = sum(1 for row in checked.rows if row["errors"])
        tx.commit()  # the errors found now are kept for the preview; nobody was created
        raise ValidationFailed(ngettext(
            "%(num)d row has a problem; nothing was imported. Correct the file and upload it "
            "again.",
            "%(num)d rows have problems; nothing was imported. Correct the file and upload it "
            "again.", batch.error_count))
    password_hash = users.hash_password(password) if password else users.locked_password_hash()
    try:
        users.add_members(checked.members, password_hash=password_hash)
    except IntegrityError:
        db.session.rollback()
        raise AlreadyExists(_("Someone registered one of these members meanwhile; nothing was "
                              "imported. Check the list again.")) from None
    batch.status = "imported"
    batch.imported_at = utcnow()
    batch.rows = [_scrubbed(row) for row in checked.rows]
    audit.record(actor, "members.imported", "member_import", batch.id,
                 org_unit_id=batch.org_unit_id, count=len(checked.members),
                 filename=batch.filename)
    tx.commit()
    return len(checked.members)


def _scrubbed(row: dict) -> dict:
    """The row as kept after the import: the ID number masked (the member holds it now)."""
    values = dict(row["values"])
    values["id_number"] = mask_id_number(idnumber.normalise(values.get("id_number", "")))
    return {**row, "values": values}


def discard(actor: User, import_id: int) -> MemberImport:
    """Drop a list that will not be imported; its rows (personal data) are not kept."""
    tx.begin_write()
    batch = _locked(actor, import_id)
    _check_transition(batch, "discarded")
    batch.status = "discarded"
    batch.rows = []
    audit.record(actor, "members.import_discarded", "member_import", batch.id,
                 org_unit_id=batch.org_unit_id, filename=batch.filename)
    tx.commit()
    return batch


def template_csv(lang: str) -> bytes:
    """The empty list to fill in: the header row, with a BOM so Excel reads it as UTF-8."""
    out = io.StringIO()
    csv.writer(out).writerow(TEMPLATE_HEADERS.get(lang, TEMPLATE_HEADERS["zh"]))
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


def can_confirm(batch: MemberImport) -> bool:
    return batch.status == "preview" and batch.error_count == 0 and batch.row_count > 0


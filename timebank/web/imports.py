"""Importing members from a CSV or Excel list: upload, checked preview, confirm, result."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import PasswordField, SelectField
from wtforms.validators import DataRequired, InputRequired, Length

from timebank import select_locale
from timebank.errors import ValidationFailed
from timebank.models import MemberImport
from timebank.privacy import mask_id_number, mask_phone
from timebank.services import member_import, users
from timebank.web.common import flash_form_errors, page_arg, roles_required

bp = Blueprint("imports", __name__, url_prefix="/members/import")

ROWS_PER_PAGE = 100
RECENT_SHOWN = 10
UPLOAD_KINDS = member_import.IMPORT_KINDS
# The script asks for a JSON answer so that it can follow on after its progress bar.
PROGRESS_HEADER = "X-Upload-Progress"
COLUMN_LABELS = {
    "name": _l("Name"),
    "phone": _l("Phone"),
    "grid": _l("Grid"),
    "id_number": _l("ID number"),
    "role": _l("Role"),
    "party_member": _l("Party member"),
    "party_unit": _l("Party unit"),
    "username": _l("Username"),
    "": _l("Row"),
}
STATUS_LABELS = {
    "preview": _l("Waiting for confirmation"),
    "imported": _l("Imported"),
    "discarded": _l("Discarded"),
}


@bp.context_processor
def _import_context() -> dict:
    return {"mask_phone": mask_phone, "mask_id_number": mask_id_number,
            "column_labels": COLUMN_LABELS, "status_labels": STATUS_LABELS,
            "error_text": member_import.error_text}


class UploadForm(FlaskForm):
    org_unit_id = SelectField(_l("Community or grid"), coerce=int,
                              validators=[InputRequired(_l("Choose where the members live."))])
    file = FileField(_l("Member list (CSV or Excel .xlsx)"),
                     validators=[FileRequired(_l("Choose the file to upload."))])


class ConfirmForm(FlaskForm):
    password = PasswordField(_l("First password for everyone imported"), validators=[
        DataRequired(_l("Please enter a password.")),
        Length(min=users.MIN_PASSWORD_LENGTH, max=200)])


class DiscardForm(FlaskForm):
    pass


@dataclass
class ListPage:
    """One page of rows held in memory, shaped like a query's pagination for the macro."""

    items: list
    page: int
    per_page: int
    total: int

    @classmethod
    def of(cls, rows: list, page: int, per_page: int) -> ListPage:
        pages = max(1, math.ceil(len(rows) / per_page))
        page = min(page, pages)
        start = (page - 1) * per_page
        return cls(rows[start:start + per_page], page, per_page, len(rows))

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    def iter_pages(self, left_edge=2, left_current=2, right_current=4, right_edge=2
                   ) -> Iterator[int | None]:
        last = 0
        for number in range(1, self.pages + 1):
            if (number <= left_edge
                    or self.page - left_current <= number <= self.page + right_current
                    or number > self.pages - right_edge):
                if last + 1 != number:
                    yield None
                yield number
                last = number


def _unit_choices() -> list[tuple[int, str]]:
    return [(unit.id, label) for unit, label
            in users.units_in_reach(current_user, kinds=UPLOAD_KINDS)]


def _answer(location: str):
    """Where to go next: a redirect for a plain form, JSON for the progress script."""
    if request.headers.get(PROGRESS_HEADER) == "1":
        return jsonify(location=location)
    return redirect(location)


def _upload_page(form: UploadForm, status: int = 200):
    return render_template(
        "imports/upload.html", form=form, recent=member_import.recent_imports(
            current_user, RECENT_SHOWN),
        max_rows=member_import.MAX_ROWS,
        max_bytes=current_app.config.get("MAX_CONTENT_LENGTH") or 0), status


@bp.get("/")
@roles_required("staff")
def upload():
    form = UploadForm(formdata=None)
    form.org_unit_id.choices = _unit_choices()
    return _upload_page(form)


@bp.post("/")
@roles_required("staff")
def upload_post():
    form = UploadForm()
    form.org_unit_id.choices = _unit_choices()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return _answer(url_for("imports.upload"))
    upload_file = form.file.data
    try:
        batch = member_import.preview(current_user, form.org_unit_id.data,
                                      upload_file.filename or "", upload_file.read())
    except ValidationFailed as err:
        flash(err.detail, "danger")
        return _answer(url_for("imports.upload"))
    if batch.error_count:
        flash(ngettext("%(num)d row has a problem; it is marked below.",
                       "%(num)d rows have problems; they are marked below.",
                       batch.error_count), "warning")
    return _answer(url_for("imports.preview", import_id=batch.id))


@bp.get("/template.csv")
@roles_required("staff")
def template():
    lang = select_locale() or "zh"
    return Response(member_import.template_csv(lang), mimetype="text/csv",
                    headers={"Content-Disposition":
                             "attachment; filename=member-import-template.csv"})


def _rows_page(batch: MemberImport, only_errors: bool) -> ListPage:
    rows = [r for r in batch.rows if r["errors"]] if only_errors else batch.rows
    return ListPage.of(rows, page_arg(), ROWS_PER_PAGE)


@bp.get("/<int:import_id>")
@roles_required("staff")
def preview(import_id: int):
    batch = member_import.get_import(current_user, import_id)
    if batch.status == "imported":
        return redirect(url_for("imports.result", import_id=batch.id))
    only_errors = request.args.get("errors") == "1"
    return render_template(
        "imports/preview.html", batch=batch, page=_rows_page(batch, only_errors),
        only_errors=only_errors, can_confirm=member_import.can_confirm(batch),
        confirm_form=ConfirmForm(formdata=None), discard_form=DiscardForm(formdata=None))


@bp.post("/<int:import_id>/confirm")
@roles_required("staff")
def confirm(import_id: int):
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(url_for("imports.preview", import_id=import_id))
    try:
        count = member_import.confirm(current_user, import_id, password=form.password.data)
    except ValidationFailed as err:
        flash(err.detail, "danger")
        for messages in (err.errors or {}).values():
            for message in messages:
                flash(message, "danger")
        return redirect(url_for("imports.preview", import_id=import_id))
    flash(ngettext("%(num)d member was imported.", "%(num)d members were imported.", count),
          "success")
    return redirect(url_for("imports.result", import_id=import_id))


@bp.post("/<int:import_id>/discard")
@roles_required("staff")
def discard(import_id: int):
    form = DiscardForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(url_for("imports.preview", import_id=import_id))
    member_import.discard(current_user, import_id)
    flash(_("The list was discarded; nobody was imported."), "success")
    return redirect(url_for("imports.upload"))


@bp.get("/<int:import_id>/result")
@roles_required("staff")
def result(import_id: int):
    batch = member_import.get_import(current_user, import_id)
    if batch.status != "imported":
        return redirect(url_for("imports.preview", import_id=batch.id))
    return render_template("imports/result.html", batch=batch,
                           page=_rows_page(batch, only_errors=False))


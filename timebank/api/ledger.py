"""Ledger verification and export (admin)."""

from __future__ import annotations

from flask import Response, stream_with_context

from timebank.api.base import Blueprint, actor
from timebank.errors import Forbidden
from timebank.schemas import ExportQuery, VerifyOut
from timebank.services import access, export, ledger

blp = Blueprint("api_ledger", __name__, description="The ledger's integrity")


def _require_admin() -> None:
    if not access.is_admin(actor()):
        raise Forbidden()


@blp.route("/ledger/verify", methods=["GET"])
@blp.response(200, VerifyOut)
def verify():
    """Zero-sum, cached balances, no forbidden negatives, the hash chain."""
    _require_admin()
    report = ledger.verify()
    return {"ok": report.ok, "accounts": report.accounts,
            "transactions": report.transactions, "problems": report.problems}


@blp.route("/ledger/export", methods=["GET"])
@blp.arguments(ExportQuery, location="query")
@blp.response(200, {"type": "string"}, content_type="text/plain")
def export_journal(args):
    """A plain-text journal for `hledger check` or `bean-check`."""
    _require_admin()
    fmt = args["format"]
    chunks = export.journal(fmt)
    return Response(stream_with_context(chunks), mimetype="text/plain",
                    headers={"Content-Disposition":
                             f"attachment; filename=timebank.{export.suffix(fmt)}"})

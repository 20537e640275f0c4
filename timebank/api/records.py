"""Service records: log hours, list, approve, reject."""

from __future__ import annotations

from timebank.api.base import Blueprint, actor, idempotent, paged
from timebank.schemas import (
    ApproveOut,
    BulkApproveIn,
    BulkApproveOut,
    RecordIn,
    RecordOut,
    RecordQuery,
    RejectIn,
    RejectOut,
)
from timebank.services import records

blp = Blueprint("api_records", __name__, description="Hours given, and their review")

record_out = RecordOut()


@blp.route("/service-records", methods=["POST"])
@blp.arguments(RecordIn)
@blp.response(201, RecordOut)
def create_record(args):
    """Log hours (pending); staff in reach may log for a member."""
    return records.log_hours(actor=actor(), **args)


@blp.route("/service-records", methods=["GET"])
@blp.arguments(RecordQuery, location="query")
@blp.response(200)
def list_records(args):
    """A volunteer sees their own records; staff see their reach."""
    query = records.records_query(actor(), status=args.get("status"),
                                  member_id=args.get("member_id"),
                                  org_unit_id=args.get("org_unit_id"))
    return paged(query, args, record_out.dump)


@blp.route("/service-records/<int:record_id>", methods=["GET"])
@blp.response(200, RecordOut)
def get_record(record_id):
    return records.visible_record(actor(), record_id)


@blp.route("/service-records/<int:record_id>/approve", methods=["POST"])
@idempotent
@blp.response(200, ApproveOut)
def approve(record_id):
    """Approve pending hours and post their points."""
    return records.approve(record_id, reviewer=actor())


@blp.route("/service-records/<int:record_id>/reject", methods=["POST"])
@blp.arguments(RejectIn)
@blp.response(200, RejectOut)
def reject(args, record_id):
    return records.reject(record_id, reviewer=actor(), reason=args["reason"])


@blp.route("/service-records/bulk-approve", methods=["POST"])
@idempotent
@blp.arguments(BulkApproveIn)
@blp.response(200, BulkApproveOut)
def bulk_approve(args):
    """Approve many at once; each that cannot be approved is listed with its code."""
    result = records.bulk_approve(args["ids"], reviewer=actor())
    return {"approved": result.approved,
            "failed": [{"id": i, "code": code} for i, code in result.failed]}

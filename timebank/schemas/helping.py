"""Schemas of the time bank between neighbours: requests for help, transfers, family links."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from timebank.models.helping import HELP_STATUSES, LINK_STATUSES
from timebank.models.policy import TRANSFER_MODES
from timebank.schemas import PageArgs, _id
from timebank.schemas.types import LocalDateTime, MinorUnits, Text, shown_name


class HelpRequestIn(Schema):
    title = Text(required=True, min_length=1, max_length=200)
    description = Text(required=True, max_length=2000)
    category = Text(required=True, min_length=1, max_length=32)
    org_unit_id = _id(required=True)
    needed_at = LocalDateTime(required=True)
    offered_points = MinorUnits(load_default=0, positive=False,
                                data_key="offered_points", attribute="offered_points_minor")
    beneficiary_id = _id(load_default=None, allow_none=True)


class HelpRequestOut(Schema):
    id = fields.Integer()
    status = fields.String()
    title = fields.String()
    description = fields.String()
    category = fields.Function(lambda r: r.category.code)
    org_unit_id = fields.Integer()
    needed_at = LocalDateTime()
    offered_points = MinorUnits(attribute="offered_points_minor", positive=False)
    beneficiary_id = fields.Integer()
    beneficiary_name = fields.Function(lambda r: shown_name(r.beneficiary))
    helper_id = fields.Integer(allow_none=True)
    helper_name = fields.Function(lambda r: shown_name(r.helper) if r.helper else None)
    claimed_at = LocalDateTime(allow_none=True)
    completed_at = LocalDateTime(allow_none=True)
    rating = fields.Integer(allow_none=True)
    comment = fields.String(allow_none=True)
    service_record_id = fields.Integer(allow_none=True)
    created_at = LocalDateTime()


class HelpRequestQuery(PageArgs):
    status = fields.String(validate=validate.OneOf(HELP_STATUSES))


class CompleteIn(Schema):
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    comment = Text(load_default=None, allow_none=True, max_length=2000)
    started_at = LocalDateTime(load_default=None, allow_none=True)
    ended_at = LocalDateTime(load_default=None, allow_none=True)


class TransferIn(Schema):
    to_member_id = _id(required=True)
    amount = MinorUnits(required=True, attribute="amount_minor", data_key="amount")
    memo = Text(load_default="", max_length=200)
    from_member_id = _id(load_default=None, allow_none=True)


class TransferOut(Schema):
    id = fields.Integer()
    from_member_id = fields.Integer()
    from_member_name = fields.Function(lambda t: shown_name(t.from_member))
    to_member_id = fields.Integer()
    to_member_name = fields.Function(lambda t: shown_name(t.to_member))
    amount = MinorUnits(attribute="amount_minor")
    memo = fields.String()
    transaction_id = fields.Integer()
    created_at = LocalDateTime()


class TransferQuery(PageArgs):
    member_id = _id(strict=False)


class FamilyLinkIn(Schema):
    member_id = _id(load_default=None, allow_none=True)
    relative_id = _id(required=True)
    relation = Text(required=True, min_length=1, max_length=32)


class FamilyLinkOut(Schema):
    id = fields.Integer()
    member_id = fields.Integer()
    member_name = fields.Function(lambda link: shown_name(link.member))
    relative_id = fields.Integer()
    relative_name = fields.Function(lambda link: shown_name(link.relative))
    relation = fields.String()
    status = fields.String(validate=validate.OneOf(LINK_STATUSES))
    confirmed_at = LocalDateTime(allow_none=True)
    created_at = LocalDateTime()


class FamilyLinkQuery(PageArgs):
    member_id = _id(strict=False)


class TransferPolicyIn(Schema):
    mode = fields.String(required=True, validate=validate.OneOf(TRANSFER_MODES))
    per_transfer_limit = MinorUnits(required=True)
    monthly_limit = MinorUnits(required=True)


class TransferPolicyOut(Schema):
    org_unit_id = fields.Integer()
    mode = fields.String()
    per_transfer_limit = MinorUnits(attribute="per_transfer_limit_minor")
    monthly_limit = MinorUnits(attribute="monthly_limit_minor")
    set_at_unit_id = fields.Integer(allow_none=True)

"""Input and output schemas, shared by the API and the web forms."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from timebank.models.org import UNIT_KINDS
from timebank.models.user import ROLES
from timebank.privacy import mask_name
from timebank.schemas.types import Day, LocalDateTime, MinorUnits, Text


def _id(*, strict: bool = True, **kwargs) -> fields.Integer:
    # Query strings carry every value as text: ids read from them cannot be strict.
    # Ids are INTEGER columns: a larger number would be a database error, not a 422.
    return fields.Integer(strict=strict, validate=validate.Range(min=1, max=2**31 - 1),
                          **kwargs)


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ProblemSchema(Schema):
    """An error answer (RFC 7807, `application/problem+json`)."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True, metadata={"description": "For people to read."})
    code = fields.String(required=True,
                         metadata={"description": "Stable and machine-readable."})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "Messages by field (`validation_error`)."})


# --- auth and users --------------------------------------------------------------------


class TokenIn(Schema):
    username = Text(required=True, max_length=64, min_length=1)
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class UserOut(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.String())
    org_unit_id = fields.Integer()


class TokenOut(Schema):
    token = fields.String()
    expires_at = LocalDateTime()
    user = fields.Nested(UserOut)


class UserIn(Schema):
    username = Text(
        required=True, min_length=3, max_length=64,
        validate=validate.Regexp(r"^[A-Za-z0-9_.\-@]+$",
                                 error="Letters, digits and _ . - @ only."),
    )
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))
    display_name = Text(required=True, min_length=1, max_length=100)
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), required=True,
                        validate=validate.Length(min=1, max=len(ROLES)))
    org_unit_id = _id(required=True)
    phone = Text(load_default=None, allow_none=True, max_length=20,
                 validate=validate.Regexp(r"^\+?[0-9]{5,19}$", error="Digits only."))
    merchant_id = _id(load_default=None, allow_none=True)


class MeOut(UserOut):
    balance = fields.Decimal(as_string=True, places=2)
    total_hours = fields.Decimal(as_string=True, places=2)
    star_level = fields.Integer()


# --- organisation ----------------------------------------------------------------------


class OrgUnitIn(Schema):
    parent_id = _id(required=True, allow_none=True)
    kind = fields.String(required=True, validate=validate.OneOf(UNIT_KINDS))
    name = Text(required=True, min_length=1, max_length=100)


class OrgUnitOut(Schema):
    id = fields.Integer()
    parent_id = fields.Integer(allow_none=True)
    kind = fields.String()
    name = fields.String()
    path = fields.String()


class OrgUnitQuery(PageArgs):
    parent_id = _id(load_default=None, strict=False)


# --- categories ------------------------------------------------------------------------


class CategoryIn(Schema):
    code = Text(required=True, min_length=1, max_length=32,
                validate=validate.Regexp(r"^[a-z0-9_\-]+$", error="Lowercase letters, "
                                         "digits, _ and - only."))
    name = Text(required=True, min_length=1, max_length=100)
    points_per_hour = MinorUnits(required=True, positive=False, maximum=10000)


class CategoryOut(Schema):
    code = fields.String()
    name = fields.String()
    points_per_hour = MinorUnits(attribute="points_per_hour_minor")


class RateIn(Schema):
    points_per_hour = MinorUnits(required=True, positive=False, maximum=10000)
    effective_from = fields.Date(required=True)


class RateOut(Schema):
    points_per_hour = MinorUnits(attribute="points_per_hour_minor")
    effective_from = fields.Date()


# --- service records -------------------------------------------------------------------


class RecordIn(Schema):
    category = Text(required=True, min_length=1, max_length=32)
    started_at = LocalDateTime(required=True)
    ended_at = LocalDateTime(required=True)
    place = Text(required=True, min_length=1, max_length=200)
    description = Text(required=True, min_length=1, max_length=2000)
    org_unit_id = _id(load_default=None, allow_none=True)
    member_id = _id(load_default=None, allow_none=True)
    title = Text(load_default=None, allow_none=True, max_length=200)
    person_in_charge = Text(load_default=None, allow_none=True, max_length=100)


class RecordOut(Schema):
    id = fields.Integer()
    member_id = fields.Integer()
    category = fields.Function(lambda r: r.category.code)
    org_unit_id = fields.Integer()
    title = fields.String()
    started_at = LocalDateTime()
    ended_at = LocalDateTime()
    hours = MinorUnits(attribute="hours_minor")
    place = fields.String()
    description = fields.String()
    person_in_charge = fields.String(allow_none=True)
    status = fields.String()
    expected_points = MinorUnits(attribute="expected_points_minor")
    points_awarded = MinorUnits(attribute="points_awarded_minor", allow_none=True)
    transaction_id = fields.Integer(allow_none=True)
    reject_reason = fields.String(allow_none=True)
    created_at = LocalDateTime()


class RecordQuery(PageArgs):
    status = fields.String(validate=validate.OneOf(("pending", "approved", "rejected")))
    member_id = _id(strict=False)
    org_unit_id = _id(strict=False)


class ApproveOut(Schema):
    id = fields.Integer()
    status = fields.String()
    points_awarded = MinorUnits(attribute="points_awarded_minor")
    transaction_id = fields.Integer(allow_none=True)


class RejectIn(Schema):
    reason = Text(required=True, min_length=1, max_length=500)


class RejectOut(Schema):
    id = fields.Integer()
    status = fields.String()
    reject_reason = fields.String()


class BulkApproveIn(Schema):
    ids = fields.List(_id(), required=True, validate=validate.Length(min=1, max=1000))


class BulkFailure(Schema):
    id = fields.Integer()
    code = fields.String()


class BulkApproveOut(Schema):
    approved = fields.List(fields.Integer())
    failed = fields.List(fields.Nested(BulkFailure))


# --- balances and the ledger -----------------------------------------------------------


class BalanceOut(Schema):
    member_id = fields.Integer()
    balance = fields.Decimal(as_string=True, places=2)
    total_hours = fields.Decimal(as_string=True, places=2)
    points_earned = fields.Decimal(as_string=True, places=2)
    star_level = fields.Integer()


class MemberTransactionOut(Schema):
    transaction_id = fields.Integer()
    kind = fields.String()
    amount = MinorUnits(attribute="amount_minor")
    balance_after = MinorUnits(attribute="balance_after_minor")
    created_at = LocalDateTime()
    memo = fields.String()


class VerifyOut(Schema):
    ok = fields.Boolean()
    accounts = fields.Integer()
    transactions = fields.Integer()
    problems = fields.List(fields.String())


class ExportQuery(Schema):
    format = fields.String(required=True, validate=validate.OneOf(("hledger", "beancount")))


# --- merchants and redemption ----------------------------------------------------------


class MerchantIn(Schema):
    name = Text(required=True, min_length=1, max_length=100)
    org_unit_id = _id(required=True)
    address = Text(load_default=None, allow_none=True, max_length=200)


class MerchantOut(Schema):
    id = fields.Integer()
    name = fields.String()
    org_unit_id = fields.Integer()
    address = fields.String(allow_none=True)
    is_active = fields.Boolean()


class OfferIn(Schema):
    title = Text(required=True, min_length=1, max_length=100)
    points_cost = MinorUnits(required=True)
    description = Text(load_default=None, allow_none=True, max_length=1000)


class OfferOut(Schema):
    id = fields.Integer()
    merchant_id = fields.Integer()
    title = fields.String()
    description = fields.String(allow_none=True)
    points_cost = MinorUnits(attribute="points_cost_minor")
    is_active = fields.Boolean()


class CodeOut(Schema):
    code = fields.String()
    expires_at = LocalDateTime()


class RedemptionIn(Schema):
    code = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9]{8}$", error="Eight digits."))
    offer_id = _id(required=True)


class RedemptionOut(Schema):
    id = fields.Integer()
    offer_id = fields.Integer()
    offer_title = fields.String()
    points = MinorUnits(attribute="points_minor")
    member_name = fields.Function(lambda r: mask_name(r.member_display_name))
    status = fields.String()
    created_at = LocalDateTime()
    refunded_at = LocalDateTime(allow_none=True)
    transaction_id = fields.Integer(allow_none=True)
    refund_transaction_id = fields.Integer(allow_none=True)


class StatementQuery(Schema):
    from_ = Day(data_key="from")
    to = Day()


class StatementOut(Schema):
    merchant_id = fields.Integer()
    from_ = fields.Date(data_key="from", attribute="date_from")
    to = fields.Date(attribute="date_to")
    count = fields.Integer()
    points_total = MinorUnits(attribute="points_total_minor", positive=False)
    items = fields.List(fields.Nested(RedemptionOut))


# --- operations ------------------------------------------------------------------------


class HealthOut(Schema):
    status = fields.String()
    database = fields.String()

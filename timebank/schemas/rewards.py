"""Schemas of the community points shop."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from timebank.models.shop import ORDER_STATUSES, REWARD_KINDS
from timebank.schemas import PageArgs, _id
from timebank.schemas.types import LocalDateTime, MinorUnits, Text, shown_name

_stock = fields.Integer(load_default=None, allow_none=True, strict=True,
                        validate=validate.Range(min=0, max=1_000_000))
_limit = fields.Integer(load_default=None, allow_none=True, strict=True,
                        validate=validate.Range(min=1, max=1_000_000))


class RewardIn(Schema):
    title = Text(required=True, min_length=1, max_length=100)
    kind = fields.String(required=True, validate=validate.OneOf(REWARD_KINDS))
    points_cost = MinorUnits(required=True, attribute="points_cost_minor")
    stock = _stock
    org_unit_id = _id(required=True)
    per_member_limit = _limit
    description = Text(load_default="", max_length=2000)


class RewardPatch(Schema):
    title = Text(min_length=1, max_length=100)
    points_cost = MinorUnits(attribute="points_cost_minor")
    stock = fields.Integer(allow_none=True, strict=True,
                           validate=validate.Range(min=0, max=1_000_000))
    per_member_limit = fields.Integer(allow_none=True, strict=True,
                                      validate=validate.Range(min=1, max=1_000_000))
    description = Text(max_length=2000)
    is_active = fields.Boolean()


class RewardOut(Schema):
    id = fields.Integer()
    title = fields.String()
    kind = fields.String()
    description = fields.String()
    points_cost = MinorUnits(attribute="points_cost_minor")
    stock = fields.Integer(allow_none=True)
    per_member_limit = fields.Integer(allow_none=True)
    org_unit_id = fields.Integer()
    is_active = fields.Boolean()
    created_at = LocalDateTime()


class RewardQuery(PageArgs):
    include_inactive = fields.Boolean(load_default=False)


class OrderIn(Schema):
    quantity = fields.Integer(load_default=1, strict=True,
                              validate=validate.Range(min=1, max=100))


class OrderOut(Schema):
    id = fields.Integer()
    status = fields.String()
    reward_id = fields.Integer()
    reward_title = fields.Function(lambda o: o.reward.title)
    member_id = fields.Integer()
    member_name = fields.Function(lambda o: shown_name(o.member))
    quantity = fields.Integer()
    points = MinorUnits(attribute="points_minor")
    created_at = LocalDateTime()
    closed_at = LocalDateTime(allow_none=True)


class OrderQuery(PageArgs):
    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))
    reward_id = _id()

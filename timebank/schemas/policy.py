"""Schemas of points policies and expiring points."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from timebank.models.policy import EXPIRY_MODES, TRANSFER_MODES
from timebank.schemas.types import LocalDateTime, MinorUnits, Text


class PolicyIn(Schema):
    effective_from = fields.Date(required=True)
    transfer_mode = fields.String(load_default="off", validate=validate.OneOf(TRANSFER_MODES))
    per_transfer_limit = MinorUnits(load_default=10000, attribute="per_transfer_limit_minor")
    monthly_transfer_limit = MinorUnits(load_default=30000,
                                        attribute="monthly_transfer_limit_minor")
    expiry_mode = fields.String(load_default="never", validate=validate.OneOf(EXPIRY_MODES))
    expiry_months = fields.Integer(load_default=None, allow_none=True, strict=True,
                                   validate=validate.Range(min=1, max=120))
    daily_hours_cap = MinorUnits(load_default=None, allow_none=True,
                                 attribute="daily_hours_cap_minor")
    rates = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=32)),
                        values=MinorUnits(positive=False), load_default=dict,
                        validate=validate.Length(max=200))
    note = Text(load_default="", max_length=500)


class PolicyRateOut(Schema):
    category = fields.String()
    points_per_hour = MinorUnits(positive=False)


class VersionOut(Schema):
    org_unit_id = fields.Integer(allow_none=True)
    effective_from = fields.Date(allow_none=True)
    transfer_mode = fields.String()
    per_transfer_limit = MinorUnits()
    monthly_transfer_limit = MinorUnits()
    expiry_mode = fields.String()
    expiry_months = fields.Integer(allow_none=True)
    daily_hours_cap = MinorUnits(allow_none=True)
    rates = fields.List(fields.Nested(PolicyRateOut))
    note = fields.String()
    created_at = LocalDateTime(allow_none=True)


class PolicyOut(Schema):
    org_unit_id = fields.Integer()
    in_force = fields.Nested(VersionOut)
    versions = fields.List(fields.Nested(VersionOut))


class ExpiringItem(Schema):
    last_day = fields.Date()
    points = MinorUnits()


class ExpiringOut(Schema):
    balance = MinorUnits(positive=False)
    expiry_mode = fields.String()
    expiry_months = fields.Integer(allow_none=True)
    items = fields.List(fields.Nested(ExpiringItem))

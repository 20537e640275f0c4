"""Schemas of organised activities, their sign-ups and check-in."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from timebank.schemas import PageArgs, _id
from timebank.schemas.types import LocalDateTime, MinorUnits, Text, shown_name

ACTIVITY_STATUSES = ("open", "closed", "cancelled")


class ActivityIn(Schema):
    title = Text(required=True, min_length=1, max_length=200)
    category = Text(required=True, min_length=1, max_length=32)
    org_unit_id = _id(required=True)
    starts_at = LocalDateTime(required=True)
    ends_at = LocalDateTime(required=True)
    place = Text(required=True, min_length=1, max_length=200)
    capacity = fields.Integer(required=True, strict=True,
                              validate=validate.Range(min=1, max=10_000))
    description = Text(load_default="", max_length=2000)
    organiser = Text(load_default="", max_length=100)
    person_in_charge = Text(load_default="", max_length=100)


class ActivityOut(Schema):
    id = fields.Integer()
    status = fields.String()
    title = fields.String()
    category = fields.Function(lambda a: a.category.code)
    org_unit_id = fields.Integer()
    starts_at = LocalDateTime()
    ends_at = LocalDateTime()
    planned_hours = MinorUnits(attribute="planned_hours_minor")
    place = fields.String()
    capacity = fields.Integer()
    description = fields.String()
    organiser = fields.String()
    person_in_charge = fields.String()
    created_at = LocalDateTime()
    closed_at = LocalDateTime(allow_none=True)


class ActivityQuery(PageArgs):
    status = fields.String(validate=validate.OneOf(ACTIVITY_STATUSES))
    upcoming = fields.Boolean(load_default=False)


class SignupIn(Schema):
    member_id = _id(load_default=None, allow_none=True)


class SignupOut(Schema):
    activity_id = fields.Integer()
    member_id = fields.Integer()
    member_name = fields.Function(lambda s: shown_name(s.member))
    status = fields.String()
    queued_at = LocalDateTime()
    checked_in_at = LocalDateTime(allow_none=True)
    checked_out_at = LocalDateTime(allow_none=True)
    service_record_id = fields.Integer(allow_none=True)


class CheckinCodeOut(Schema):
    code = fields.String()
    expires_at = LocalDateTime()
    rotates_at = LocalDateTime()


class CheckinIn(Schema):
    code = fields.String(required=True, validate=validate.Regexp(
        r"^\s*[0-9]{6}\s*$", error="Six digits."))


class AttendanceIn(Schema):
    member_id = _id(required=True)
    checked_in_at = LocalDateTime(required=True)
    checked_out_at = LocalDateTime(required=True)


class NotCredited(Schema):
    member_id = fields.Integer()
    reason = fields.String()


class CloseOut(Schema):
    id = fields.Function(lambda r: r.activity.id)
    status = fields.Function(lambda r: r.activity.status)
    records_created = fields.List(fields.Integer())
    not_credited = fields.Function(
        lambda r: [{"member_id": member_id, "reason": reason}
                   for member_id, reason in r.not_credited])

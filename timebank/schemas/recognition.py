"""Schemas of recognition: certificates, leaderboards, volunteer teams, star levels due."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from timebank.models.recognition import CERTIFICATE_KINDS
from timebank.schemas import PageArgs, _id
from timebank.schemas.types import Day, LocalDateTime, MinorUnits, Text, shown_name
from timebank.services import boards, certificates


class StrictBoolean(fields.Boolean):
    """JSON true or false only: "yes", 1 or "0" are not taken for a choice."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


# --- certificates ----------------------------------------------------------------------


class CertificateIn(Schema):
    member_id = _id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(CERTIFICATE_KINDS))
    period_from = Day(load_default=None, allow_none=True)
    period_to = Day(load_default=None, allow_none=True)
    person_in_charge = Text(load_default=None, allow_none=True, max_length=100)
    # The honour's title (honor certificates), e.g. 优秀志愿者.
    title = Text(load_default=None, allow_none=True, max_length=100)
    citation = Text(load_default=None, allow_none=True, max_length=certificates.MAX_TEXT)


class CertificateOut(Schema):
    serial = fields.String()
    verify_url = fields.Function(lambda c: certificates.verify_url(c.serial))
    pdf_url = fields.Function(lambda c: certificates.pdf_url(c.serial))
    kind = fields.String()
    title = fields.Function(lambda c: certificates.KIND_TITLES[c.kind])
    member_id = fields.Integer()
    member_name = fields.Function(lambda c: shown_name(c.member))
    org_unit_id = fields.Integer()
    hours = MinorUnits(attribute="hours_minor", positive=False)
    period_from = fields.Date(allow_none=True)
    period_to = fields.Date(allow_none=True)
    star_level = fields.Function(lambda c: (c.data or {}).get("star_level"))
    issued_at = LocalDateTime()
    revoked = fields.Function(lambda c: c.revoked_at is not None)
    revoked_at = LocalDateTime(allow_none=True)


class CertificateQuery(PageArgs):
    member_id = _id(strict=False)
    kind = fields.String(validate=validate.OneOf(CERTIFICATE_KINDS))


class RevokeIn(Schema):
    reason = Text(required=True, min_length=1, max_length=certificates.MAX_TEXT)


class VerificationOut(Schema):
    """What anyone may learn from a serial: the certificate's face, the holder masked."""

    valid = fields.Boolean()
    revoked = fields.Boolean()
    kind = fields.String()
    holder = fields.String()
    hours = fields.String()
    issued_at = LocalDateTime()
    issuer = fields.String()
    serial = fields.String()
    title = fields.String()
    period_from = fields.String(allow_none=True)
    period_to = fields.String(allow_none=True)
    star_level = fields.Integer(allow_none=True)
    revoked_at = LocalDateTime(allow_none=True)


class StarDueOut(Schema):
    member_id = fields.Integer()
    name = fields.Function(lambda award: shown_name(award.member))
    level = fields.Integer()
    org_unit_id = fields.Integer()
    reached_at = LocalDateTime()


# --- leaderboards ----------------------------------------------------------------------


class BoardQuery(Schema):
    scope_id = _id(strict=False, load_default=None)
    period = fields.String(load_default="month", validate=validate.OneOf(boards.PERIODS))
    metric = fields.String(load_default="hours", validate=validate.OneOf(boards.METRICS))
    group = fields.String(load_default="member", validate=validate.OneOf(boards.GROUPS))
    limit = fields.Integer(load_default=boards.DEFAULT_LIMIT,
                           validate=validate.Range(min=1, max=boards.MAX_LIMIT))
    # Any day of the week, month or year wanted (default: today).
    day = Day(data_key="date", load_default=None)


class BoardEntryOut(Schema):
    rank = fields.Integer()
    name = fields.String()
    value = fields.Decimal(as_string=True, places=2)


class BoardOut(Schema):
    scope_id = fields.Function(lambda b: b.scope.id)
    scope_name = fields.Function(lambda b: b.scope.name)
    period = fields.String()
    from_ = fields.Date(data_key="from", attribute="starts_on", allow_none=True)
    to = fields.Date(attribute="ends_on", allow_none=True)
    metric = fields.String()
    group = fields.String()
    entries = fields.List(fields.Nested(BoardEntryOut))


class BoardsChoiceIn(Schema):
    on_boards = StrictBoolean(required=True)


class BoardsChoiceOut(Schema):
    on_boards = fields.Boolean()


# --- volunteer teams -------------------------------------------------------------------


class TeamIn(Schema):
    org_unit_id = _id(required=True)
    name = Text(required=True, min_length=1, max_length=100)
    description = Text(load_default=None, allow_none=True, max_length=1000)
    leader_id = _id(load_default=None, allow_none=True)


class TeamPatchIn(Schema):
    name = Text(min_length=1, max_length=100)
    description = Text(allow_none=True, max_length=1000)

    @validates_schema
    def _changes_something(self, data, **_kwargs):
        if not data:
            raise ValidationError(str(_l("Give a new name or description.")))


class TeamQuery(PageArgs):
    org_unit_id = _id(strict=False, load_default=None)


class TeamMemberIn(Schema):
    member_id = _id(required=True)


class TeamLeaderIn(Schema):
    member_id = _id(required=True, allow_none=True)


class TeamMemberOut(Schema):
    team_id = fields.Integer()
    member_id = fields.Integer()
    name = fields.Function(lambda m: shown_name(m.member))
    joined_at = LocalDateTime()


class TeamOut(Schema):
    id = fields.Integer()
    org_unit_id = fields.Integer()
    org_unit_name = fields.Function(lambda t: t.org_unit.name)
    name = fields.String()
    description = fields.String()
    leader_id = fields.Integer(allow_none=True)
    leader_name = fields.Function(lambda t: shown_name(t.leader) if t.leader else None)
    member_count = fields.Integer()
    created_at = LocalDateTime()


class TeamDetailOut(TeamOut):
    members = fields.List(fields.Nested(TeamMemberOut))


certificate_in = CertificateIn()
certificate_out = CertificateOut()
certificate_query = CertificateQuery()
revoke_in = RevokeIn()
verification_out = VerificationOut()
star_due_out = StarDueOut()
page_args = PageArgs()
board_query = BoardQuery()
board_out = BoardOut()
boards_choice_in = BoardsChoiceIn()
boards_choice_out = BoardsChoiceOut()
team_in = TeamIn()
team_patch_in = TeamPatchIn()
team_query = TeamQuery()
team_member_in = TeamMemberIn()
team_leader_in = TeamLeaderIn()
team_member_out = TeamMemberOut()
team_out = TeamOut()
team_detail_out = TeamDetailOut()

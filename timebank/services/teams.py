"""Volunteer teams (志愿服务队): staff form them in their reach, with members and a leader."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError

from timebank.errors import AlreadyExists, NotFound, ValidationFailed
from timebank.extensions import db
from timebank.models import TeamMembership, User, VolunteerTeam
from timebank.models.user import MEMBER_ROLES
from timebank.services import access, audit, org, tx

MAX_NAME = 100
MAX_DESCRIPTION = 1000


def _clean(name: str | None, description: str | None) -> tuple[str, str]:
    name = (name or "").strip()
    description = (description or "").strip()
    errors: dict[str, list[str]] = {}
    if not name or len(name) > MAX_NAME:
        errors["name"] = [_("Between 1 and %(n)d characters.", n=MAX_NAME)]
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = [_("At most %(n)d characters.", n=MAX_DESCRIPTION)]
    if errors:
        raise ValidationFailed(errors=errors)
    return name, description


def visible_team(actor: User, team_id: int) -> VolunteerTeam:
    """A team the actor may see: staff in reach, or one of its members."""
    team = db.session.get(VolunteerTeam, team_id)
    if team is None or not (access.reaches(actor, team.org_unit) or is_member(team, actor.id)):
        raise NotFound(_("No such team."))
    return team


def managed_team(actor: User, team_id: int) -> VolunteerTeam:
    access.require_staff(actor)
    team = visible_team(actor, team_id)
    access.require_reach(actor, team.org_unit)
    return team


def is_member(team: VolunteerTeam, member_id: int) -> bool:
    return db.session.scalar(select(TeamMembership.id).where(
        TeamMembership.team_id == team.id, TeamMembership.member_id == member_id)) is not None


def _team_member(actor: User, team: VolunteerTeam, member_id: int) -> User:
    member = access.visible_member(actor, db.session.get(User, member_id))
    if not member.has_role(*MEMBER_ROLES):
        raise ValidationFailed(errors={"member_id": [
            _("Teams are made of volunteers and gridworkers.")]})
    if not member.is_active:
        raise ValidationFailed(errors={"member_id": [_("This member is deactivated.")]})
    if not org.community_of(team.org_unit).contains(member.org_unit):
        raise ValidationFailed(errors={"member_id": [
            _("The member lives outside this team's community.")]})
    return member


def create_team(*, actor: User, org_unit_id: int, name: str, description: str | None = None,
                leader_id: int | None = None) -> VolunteerTeam:
    """A new team of a unit in the staff member's reach; the leader joins it."""
    tx.begin_write()
    access.require_staff(actor)
    unit = org.get_unit(org_unit_id)
    access.require_reach(actor, unit)
    name, description = _clean(name, description)
    if db.session.scalar(select(VolunteerTeam.id).where(
            VolunteerTeam.org_unit_id == unit.id, VolunteerTeam.name == name)) is not None:
        message = _("This unit already has a team of that name.")
        raise AlreadyExists(message, errors={"name": [message]})
    team = VolunteerTeam(org_unit_id=unit.id, name=name, description=description,
                         created_by_id=actor.id)
    db.session.add(team)
    db.session.flush()
    if leader_id is not None:
        leader = _team_member(actor, team, leader_id)
        db.session.add(TeamMembership(team_id=team.id, member_id=leader.id))
        team.leader_id = leader.id
    audit.record(actor, "team.create", "team", team.id, org_unit_id=unit.id, name=name)
    _commit_unique()
    return team


def _commit_unique() -> None:
    try:
        tx.commit()
    except IntegrityError as err:
        db.session.rollback()
        raise AlreadyExists(_("This already exists.")) from err


def update_team(*, actor: User, team_id: int, name: str | None = None,
                description: str | None = None) -> VolunteerTeam:
    tx.begin_write()
    team = managed_team(actor, team_id)
    new_name, new_description = _clean(name if name is not None else team.name,
                                       description if description is not None
                                       else team.description)
    if new_name != team.name and db.session.scalar(select(VolunteerTeam.id).where(
            VolunteerTeam.org_unit_id == team.org_unit_id, VolunteerTeam.name == new_name,
            VolunteerTeam.id != team.id)) is not None:
        message = _("This unit already has a team of that name.")
        raise AlreadyExists(message, errors={"name": [message]})
    team.name, team.description = new_name, new_description
    audit.record(actor, "team.update", "team", team.id, org_unit_id=team.org_unit_id,
                 name=new_name)
    _commit_unique()
    return team


def add_member(*, actor: User, team_id: int, member_id: int) -> TeamMembership:
    tx.begin_write()
    team = managed_team(actor, team_id)
    member = _team_member(actor, team, member_id)
    if is_member(team, member.id):
        raise AlreadyExists(_("This member is already in the team."))
    membership = TeamMembership(team_id=team.id, member_id=member.id)
    db.session.add(membership)
    audit.record(actor, "team.add_member", "team", team.id, on_behalf_of=member,
                 org_unit_id=team.org_unit_id, member_id=member.id)
    _commit_unique()
    return membership


def remove_member(*, actor: User, team_id: int, member_id: int) -> None:
    tx.begin_write()
    team = managed_team(actor, team_id)
    removed = db.session.execute(delete(TeamMembership).where(
        TeamMembership.team_id == team.id, TeamMembership.member_id == member_id)).rowcount
    if not removed:
        raise NotFound(_("This member is not in the team."))
    if team.leader_id == member_id:
        team.leader_id = None
    audit.record(actor, "team.remove_member", "team", team.id, org_unit_id=team.org_unit_id,
                 member_id=member_id)
    tx.commit()


def set_leader(*, actor: User, team_id: int, member_id: int | None) -> VolunteerTeam:
    """Name one of the team's members its leader (None: no leader)."""
    tx.begin_write()
    team = managed_team(actor, team_id)
    if member_id is not None and not is_member(team, member_id):
        raise ValidationFailed(errors={"member_id": [_("The leader must be in the team.")]})
    team.leader_id = member_id
    audit.record(actor, "team.set_leader", "team", team.id, org_unit_id=team.org_unit_id,
                 leader_id=member_id)
    tx.commit()
    return team


def teams_query(actor: User, *, org_unit_id: int | None = None) -> Select:
    """Teams the actor may list: staff their reach; members the teams they are in."""
    query = select(VolunteerTeam).order_by(VolunteerTeam.name, VolunteerTeam.id)
    if access.is_staff(actor):
        query = access.scope_to_reach(query, actor, VolunteerTeam.org_unit_id)
    else:
        query = teams_of(actor)
    if org_unit_id is not None:
        query = query.where(VolunteerTeam.org_unit_id.in_(
            access.subtree_ids(org.get_unit(org_unit_id))))
    return query


def teams_of(member: User) -> Select:
    """The teams the member is in (whatever other roles they hold)."""
    return (select(VolunteerTeam)
            .where(VolunteerTeam.id.in_(select(TeamMembership.team_id)
                                        .where(TeamMembership.member_id == member.id)))
            .order_by(VolunteerTeam.name, VolunteerTeam.id))


def members_of(team: VolunteerTeam) -> list[TeamMembership]:
    return list(db.session.scalars(
        select(TeamMembership).join(User, User.id == TeamMembership.member_id)
        .where(TeamMembership.team_id == team.id)
        .order_by(User.display_name, User.id)))


def member_counts(team_ids: list[int]) -> dict[int, int]:
    if not team_ids:
        return {}
    return dict(db.session.execute(
        select(TeamMembership.team_id, func.count())
        .where(TeamMembership.team_id.in_(team_ids))
        .group_by(TeamMembership.team_id)).all())

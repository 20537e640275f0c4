"""Recognition: certificates anyone can check, leaderboards, volunteer teams, stars due."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Response

from timebank.api.base import Blueprint, actor, idempotent, paged, public
from timebank.models import TeamMembership, VolunteerTeam
from timebank.schemas.recognition import (
    board_out,
    board_query,
    boards_choice_in,
    boards_choice_out,
    certificate_in,
    certificate_out,
    certificate_query,
    page_args,
    revoke_in,
    star_due_out,
    team_detail_out,
    team_in,
    team_leader_in,
    team_member_in,
    team_member_out,
    team_out,
    team_patch_in,
    team_query,
    verification_out,
)
from timebank.services import boards, certificates, org, teams

blp = Blueprint("api_recognition", __name__,
                description="Certificates, leaderboards and volunteer teams")


# --- certificates ----------------------------------------------------------------------


@blp.route("/certificates", methods=["POST"])
@idempotent
@blp.arguments(certificate_in)
@blp.response(201, certificate_out)
def issue_certificate(args):
    """Staff issue a certificate to a member in reach; what it states is frozen now."""
    return certificates.issue(actor=actor(), **args)


@blp.route("/certificates", methods=["GET"])
@blp.arguments(certificate_query, location="query")
@blp.response(200)
def list_certificates(args):
    """Staff see the certificates of their reach, members their own; newest first."""
    query = certificates.certificates_query(actor(), member_id=args.get("member_id"),
                                            kind=args.get("kind"))
    return paged(query, args, certificate_out.dump)


@blp.route("/certificates/<serial>/pdf", methods=["GET"])
@blp.response(200, {"type": "string", "format": "binary"}, content_type="application/pdf")
def certificate_pdf(serial):
    """The certificate as a PDF, for its holder and staff in reach."""
    certificate, body = certificates.pdf(actor(), serial)
    return Response(body, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{certificate.serial}.pdf"'})


@blp.route("/certificates/<serial>/verify", methods=["GET"])
@blp.response(200, verification_out)
@blp.doc(security=[])
@public
def verify_certificate(serial):
    """Anyone checks a serial: valid or revoked, the holder's name masked."""
    return certificates.verify(serial)


@blp.route("/certificates/<serial>/revoke", methods=["POST"])
@blp.arguments(revoke_in)
@blp.response(200, certificate_out)
def revoke_certificate(args, serial):
    """Staff in reach withdraw a certificate, with a reason; its check then says so."""
    return certificates.revoke(actor=actor(), serial=serial, reason=args["reason"])


@blp.route("/stars-due", methods=["GET"])
@blp.arguments(page_args, location="query")
@blp.response(200)
def stars_due(args):
    """Star levels reached in the staff member's reach that still wait for a certificate."""
    return paged(certificates.stars_due_query(actor()), args, star_due_out.dump)


# --- leaderboards ----------------------------------------------------------------------


@blp.route("/leaderboards", methods=["GET"])
@blp.arguments(board_query, location="query")
@blp.response(200, board_out)
def leaderboard(args):
    """The top members, grids or teams of a unit's subtree in a period; names masked."""
    scope_id = args["scope_id"]
    scope = org.get_unit(scope_id) if scope_id is not None else boards.default_scope(actor())
    return boards.leaderboard(scope=scope, period=args["period"], metric=args["metric"],
                              group=args["group"], limit=args["limit"], day=args["day"])


@blp.route("/users/me/boards", methods=["PUT"])
@blp.arguments(boards_choice_in)
@blp.response(200, boards_choice_out)
def choose_boards(args):
    """The caller's own choice to appear (masked) on public boards, or not."""
    user = actor()
    boards.set_on_boards(user, shown=args["on_boards"])
    return {"on_boards": user.is_on_boards}


# --- volunteer teams -------------------------------------------------------------------


@dataclass
class TeamView:
    """A team with its member count (and members), for the output schemas."""

    team: VolunteerTeam
    member_count: int
    members: list[TeamMembership] = field(default_factory=list)

    def __getattr__(self, name):
        if name == "team":  # not set yet (copying): no endless lookup
            raise AttributeError(name)
        return getattr(self.team, name)


def _detail(team: VolunteerTeam) -> TeamView:
    members = teams.members_of(team)
    return TeamView(team, len(members), members)


@blp.route("/teams", methods=["POST"])
@blp.arguments(team_in)
@blp.response(201, team_detail_out)
def create_team(args):
    """Staff form a team of a unit in their reach; a leader, if named, joins it."""
    return _detail(teams.create_team(actor=actor(), **args))


@blp.route("/teams", methods=["GET"])
@blp.arguments(team_query, location="query")
@blp.response(200)
def list_teams(args):
    """Staff see the teams of their reach, members the teams they are in."""
    query = teams.teams_query(actor(), org_unit_id=args["org_unit_id"])
    page = paged(query, args, lambda team: team)
    counts = teams.member_counts([team.id for team in page["items"]])
    page["items"] = [team_out.dump(TeamView(team, counts.get(team.id, 0)))
                     for team in page["items"]]
    return page


@blp.route("/teams/<int:team_id>", methods=["GET"])
@blp.response(200, team_detail_out)
def get_team(team_id):
    """A team with its members, for staff in reach and its own members."""
    return _detail(teams.visible_team(actor(), team_id))


@blp.route("/teams/<int:team_id>", methods=["PATCH"])
@blp.arguments(team_patch_in)
@blp.response(200, team_detail_out)
def update_team(args, team_id):
    """Staff in reach rename a team or change its description."""
    return _detail(teams.update_team(actor=actor(), team_id=team_id, **args))


@blp.route("/teams/<int:team_id>/members", methods=["POST"])
@blp.arguments(team_member_in)
@blp.response(201, team_member_out)
def add_team_member(args, team_id):
    """Staff in reach add a volunteer or gridworker of the team's community."""
    return teams.add_member(actor=actor(), team_id=team_id, member_id=args["member_id"])


@blp.route("/teams/<int:team_id>/members/<int:member_id>", methods=["DELETE"])
@blp.response(204)
def remove_team_member(team_id, member_id):
    """Staff in reach take a member off the team (and off its lead)."""
    teams.remove_member(actor=actor(), team_id=team_id, member_id=member_id)


@blp.route("/teams/<int:team_id>/leader", methods=["PUT"])
@blp.arguments(team_leader_in)
@blp.response(200, team_detail_out)
def set_team_leader(args, team_id):
    """Staff in reach name one of the team's members its leader (null: none)."""
    return _detail(teams.set_leader(actor=actor(), team_id=team_id,
                                    member_id=args["member_id"]))

"""Organised activities: sign-up with a waitlist, rotating check-in codes, closing into records."""

from __future__ import annotations

from timebank.api.base import Blueprint, actor, paged, paged_list, problem_response_name
from timebank.schemas import PageArgs
from timebank.schemas.activities import (
    ActivityIn,
    ActivityOut,
    ActivityQuery,
    AttendanceIn,
    CheckinCodeOut,
    CheckinIn,
    CloseOut,
    SignupIn,
    SignupOut,
)
from timebank.services import activities

blp = Blueprint("api_activities", __name__,
                description="Clean-ups, patrols, visits: sign-up, check-in, records")

activity_out = ActivityOut()
signup_out = SignupOut()


@blp.route("/activities", methods=["POST"])
@blp.arguments(ActivityIn)
@blp.response(201, ActivityOut)
def create_activity(args):
    """Staff open an activity in their reach (national record fields, capacity)."""
    return activities.create_activity(actor=actor(), **args)


@blp.route("/activities", methods=["GET"])
@blp.arguments(ActivityQuery, location="query")
@blp.response(200)
def list_activities(args):
    """Staff see their reach; members see their community's. `status` filters, `upcoming`
    leaves out those already over."""
    query = activities.activities_query(actor(), status=args.get("status"),
                                        upcoming_only=args["upcoming"])
    return paged(query, args, activity_out.dump)


@blp.route("/activities/<int:activity_id>", methods=["GET"])
@blp.response(200, ActivityOut)
def get_activity(activity_id):
    return activities.visible_activity(actor(), activity_id)


@blp.route("/activities/<int:activity_id>/signups", methods=["POST"])
@blp.arguments(SignupIn)
@blp.response(201, SignupOut)
def sign_up(args, activity_id):
    """A place if one is free, else the waitlist; staff may sign up a member in reach."""
    return activities.sign_up(activity_id, actor=actor(), member_id=args["member_id"])


@blp.route("/activities/<int:activity_id>/signups", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def list_signups(args, activity_id):
    """Staff see every sign-up with attendance; a member sees their own."""
    return paged_list(activities.visible_signups(actor(), activity_id), args, signup_out.dump)


@blp.route("/activities/<int:activity_id>/signups/<int:member_id>", methods=["DELETE"])
@blp.response(200, SignupOut)
def cancel_signup(activity_id, member_id):
    """Give up a place (the member, or staff for them); the first on the waitlist moves up."""
    return activities.cancel_signup(activity_id, actor=actor(), member_id=member_id)


@blp.route("/activities/<int:activity_id>/checkin-code", methods=["GET"])
@blp.response(200, CheckinCodeOut)
@blp.alt_response(409, response=problem_response_name(409))  # closed or cancelled
def checkin_code(activity_id):
    """The 6-digit code for the organiser's screen; it rotates every minute."""
    return activities.checkin_code(activity_id, actor=actor())


@blp.route("/activities/<int:activity_id>/check-in", methods=["POST"])
@blp.arguments(CheckinIn)
@blp.response(200, SignupOut)
def check_in(args, activity_id):
    """A registered member enters the code now on the organiser's screen."""
    return activities.check_in(activity_id, member=actor(), code=args["code"])


@blp.route("/activities/<int:activity_id>/check-out", methods=["POST"])
@blp.arguments(CheckinIn)
@blp.response(200, SignupOut)
def check_out(args, activity_id):
    return activities.check_out(activity_id, member=actor(), code=args["code"])


@blp.route("/activities/<int:activity_id>/attendance", methods=["POST"])
@blp.arguments(AttendanceIn)
@blp.response(200, SignupOut)
def mark_attendance(args, activity_id):
    """Staff record attendance for a member without a phone; the audit trail names both."""
    return activities.mark_attendance(activity_id, actor=actor(), **args)


@blp.route("/activities/<int:activity_id>/close", methods=["POST"])
@blp.response(200, CloseOut)
def close(activity_id):
    """Close once: a pending record per attendee present at least 60% of the planned time."""
    return activities.close_activity(activity_id, actor=actor())


@blp.route("/activities/<int:activity_id>/cancel", methods=["POST"])
@blp.response(200, ActivityOut)
def cancel(activity_id):
    """Call the activity off; nothing is credited."""
    return activities.cancel_activity(activity_id, actor=actor())


@blp.route("/activities/<int:activity_id>/pending-records", methods=["GET"])
@blp.response(200)
def pending_records(activity_id):
    """Ids of the closed activity's records still waiting, for one bulk approve."""
    activity = activities.managed_activity(actor(), activity_id)
    return {"ids": activities.pending_records_of(activity)}

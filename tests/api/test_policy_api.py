"""The points-policy API: versions, inheritance, and what a member has that will expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine

from timebank.extensions import db
from timebank.models import PointsPolicy


def _local_today():
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


@time_machine.travel(datetime(2026, 3, 10, 6, tzinfo=UTC), tick=False)  # 14:00 in Shanghai
def test_staff_set_a_version_members_below_see_it_in_force_and_the_giving_rule_follows(
        api, world):
    body = {"effective_from": "2026-03-10", "transfer_mode": "any",
            "per_transfer_limit": "5.00", "monthly_transfer_limit": "20.00",
            "expiry_mode": "rolling", "expiry_months": 12, "daily_hours_cap": "8.00",
            "rates": {"cleanup": "15.00"}, "note": "2027年度"}
    resp = api.post(f"/api/v1/org-units/{world.units['A']}/points-policy", world.staff_a,
                    json=body)
    assert resp.status_code == 201, resp.get_json()
    version = resp.get_json()["versions"][0]
    assert version["rates"] == [{"category": "cleanup", "points_per_hour": "15.00"}]
    assert (version["daily_hours_cap"], version["expiry_months"]) == ("8.00", 12)
    seen = api.get(f"/api/v1/org-units/{world.units['A1']}/points-policy", world.vol_a)
    assert seen.status_code == 200
    in_force = seen.get_json()["in_force"]
    assert (in_force["org_unit_id"], in_force["transfer_mode"], in_force["expiry_mode"]) == \
        (world.units["A"], "any", "rolling")
    assert seen.get_json()["versions"] == []  # the grid has none of its own
    transfer = api.get(f"/api/v1/org-units/{world.units['A1']}/transfer-policy", world.vol_a)
    assert transfer.get_json()["mode"] == "any"
    # Hours in community A now earn 15.00 an hour.
    api.earn(world.vol_a, world.staff_a, length=2)
    assert api.balance(world.vol_a) == "30.00"


def test_a_later_version_waits_and_the_default_is_shown_where_nothing_is_set(api, world):
    later = (_local_today() + timedelta(days=30)).isoformat()
    resp = api.post(f"/api/v1/org-units/{world.units['B']}/points-policy", world.staff_b,
                    json={"effective_from": later, "expiry_mode": "end_of_next_year"})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["in_force"]["expiry_mode"] == "never"
    assert body["in_force"]["org_unit_id"] is None
    assert [v["effective_from"] for v in body["versions"]] == [later]


def test_the_member_sees_what_will_expire_and_when(app, api, world):
    with app.app_context():
        db.session.add(PointsPolicy(org_unit_id=world.units["A"],
                                    effective_from=datetime(2024, 1, 1).date(),
                                    expiry_mode="end_of_next_year"))
        db.session.commit()
    with time_machine.travel(datetime(2025, 6, 1, 4, tzinfo=UTC), tick=False):
        api.earn(world.vol_a, world.staff_a, length=2)
        resp = api.get("/api/v1/users/me/expiring", world.vol_a)
    assert resp.status_code == 200
    assert resp.get_json() == {"balance": "20.00", "expiry_mode": "end_of_next_year",
                               "expiry_months": None,
                               "items": [{"last_day": "2026-12-31", "points": "20.00"}]}
    other = api.get("/api/v1/users/me/expiring", world.vol_b).get_json()
    assert other["items"] == [] and other["expiry_mode"] == "never"

"""The points-policy desk and what a member sees of expiring points."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from timebank.extensions import db
from timebank.models import PointsPolicy
from timebank.timeutil import today

BIG = "99999999999999999999999"


def _versions(app) -> list[PointsPolicy]:
    with app.app_context():
        return list(db.session.scalars(select(PointsPolicy).order_by(PointsPolicy.id)))


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(PointsPolicy.id)))


def _tomorrow(app) -> date:
    with app.app_context():
        return today() + timedelta(days=1)


def _form(app, **changes) -> dict:
    form = {"effective_from": _tomorrow(app).isoformat(), "transfer_mode": "family",
            "per_transfer_limit": "10.00", "monthly_transfer_limit": "30.00",
            "expiry_mode": "rolling", "expiry_months": "6", "daily_hours_cap": "8.00",
            "rate_cleanup": "15.00", "note": "居委会决议"}
    form.update(changes)
    return form


def test_staff_set_a_version_that_waits_for_its_day(app, web, world):
    web.login(world.staff_a)
    index = web.text(web.get("/policy/"))
    assert f'data-testid="unit-{world.units["A"]}"' in index
    assert f'data-testid="unit-{world.units["B"]}"' not in index  # out of reach
    resp = web.post(f"/policy/{world.units['A']}", _form(app))
    assert resp.status_code == 302, web.text(resp)[:2000]
    page = web.text(web.follow(resp))
    assert "upcoming" in page or "即将生效" in page
    [row] = _versions(app)
    assert (row.transfer_mode, row.expiry_mode, row.expiry_months,
            row.daily_hours_cap_minor) == ("family", "rolling", 6, 800)
    assert [r.points_per_hour_minor for r in row.rates] == [1500]
    assert row.effective_from == _tomorrow(app)


@pytest.mark.parametrize("changes, marker", [
    ({"effective_from": "2001-01-01"}, 'data-testid="error-effective_from"'),
    ({"effective_from": "not a day"}, 'data-testid="error-effective_from"'),
    ({"expiry_months": ""}, 'data-testid="error-expiry_months"'),
    ({"expiry_months": "999"}, 'data-testid="error-expiry_months"'),
    ({"daily_hours_cap": "30.00"}, 'data-testid="error-daily_hours_cap"'),
    ({"daily_hours_cap": "abc"}, 'data-testid="error-daily_hours_cap"'),
    ({"per_transfer_limit": "-5"}, 'data-testid="error-per_transfer_limit"'),
    ({"per_transfer_limit": "99.00"}, 'data-testid="error-per_transfer_limit"'),
    ({"transfer_mode": "everyone"}, 'data-testid="error-transfer_mode"'),
    ({"rate_cleanup": "abc"}, 'data-testid="rate-errors"'),
    ({"rate_cleanup": "-1.00"}, 'data-testid="rate-errors"'),
    ({"note": "长" * 501}, 'data-testid="error-note"'),
])
def test_a_bad_version_is_shown_with_its_reason_and_nothing_is_saved(app, web, world, changes,
                                                                     marker):
    web.login(world.staff_a)
    resp = web.post(f"/policy/{world.units['A']}", _form(app, **changes))
    assert resp.status_code == 422
    assert marker in web.text(resp)
    assert _count(app) == 0


def test_other_communities_grids_members_and_forgeries_are_refused(app, web, web_factory,
                                                                    world):
    web.login(world.staff_b)
    assert web.get(f"/policy/{world.units['A']}").status_code == 403
    refused = web.post(f"/policy/{world.units['A']}", _form(app))
    assert refused.status_code == 302  # told in a flash message, nothing saved
    staff = web_factory()
    staff.login(world.staff_a)
    assert staff.get(f"/policy/{world.units['A1']}").status_code == 404  # a grid
    assert staff.get("/policy/999999").status_code == 404
    assert staff.get(f"/policy/{BIG}").status_code == 404
    assert staff.post(f"/policy/{world.units['A']}", _form(app), csrf=False).status_code == 302
    member = web_factory()
    member.login(world.vol_a)
    assert member.get("/policy/").status_code == 403
    assert member.post(f"/policy/{world.units['A']}", _form(app)).status_code == 403
    assert _count(app) == 0


def test_a_member_sees_what_will_expire_on_their_page(app, web, world):
    with app.app_context():
        db.session.add(PointsPolicy(org_unit_id=world.units["A"], effective_from=date(2024, 1, 1),
                                    expiry_mode="end_of_next_year"))
        db.session.commit()
    with time_machine.travel(datetime(2025, 6, 1, 4, tzinfo=UTC), tick=False):
        from tests.factories import Api

        Api(app.test_client()).earn(world.vol_a, world.staff_a, length=2)
        web.login(world.vol_a)
        page = web.text(web.get("/me/"))
    assert 'data-testid="expiring"' in page
    assert "2026年12月31日" in page and "20.00" in page

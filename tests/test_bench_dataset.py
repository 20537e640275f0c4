"""The benchmark's dataset, built at its tiny scale: a ledger the app itself accepts."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bench import dataset
from timebank.extensions import db
from timebank.models import LedgerTransaction, Redemption, ServiceRecord, User
from timebank.services import ledger, records, stats, users

pytestmark = pytest.mark.postgresql_only


def test_the_bulk_loaded_dataset_verifies_and_serves_the_app(pg_cluster):
    url = pg_cluster.create_database("bench_dataset_test")
    try:
        scale = dataset.SCALES["tiny"]
        plan = dataset.build(url, scale)
        app = dataset.app_for(url)
        with app.app_context():
            # The hash chain, running and cached balances written by COPY pass `ledger verify`.
            report = ledger.verify()
            assert report.ok, report.problems[:5]
            assert report.transactions == scale.records + scale.redemptions
            # The aggregates made in SQL are what the app's own rebuild would make.
            drift = stats.check()
            assert drift.ok, drift.problems[:5]
            assert db.session.scalar(select(func.count(Redemption.id))) == scale.redemptions
            pending = db.session.scalar(select(func.count(ServiceRecord.id))
                                        .where(ServiceRecord.status == "pending"))
            assert pending == scale.pending + scale.bulk_batches * dataset.BULK_SIZE

            # The app keeps working on it: the driver's token signs in, a batch is approved
            # and the ledger is still clean, the sequences continue after the loaded ids.
            staff, _token = users.user_for_token(plan["staff_token"])
            result = records.bulk_approve(plan["bulk"][0], reviewer=staff)
            assert result.failed == []
            assert len(result.approved) == dataset.BULK_SIZE
            assert ledger.verify().ok
            assert db.session.scalar(select(func.max(LedgerTransaction.seq))) == (
                scale.records + scale.redemptions + dataset.BULK_SIZE)
            member = db.session.get(User, plan["members"][0]["id"])
            assert users.summary(member).balance >= 0
            db.session.remove()
            db.engine.dispose()
    finally:
        pg_cluster.drop_database("bench_dataset_test")

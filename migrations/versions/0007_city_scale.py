"""Indexes for a city: pending hours by member, the ledger by date.

Revision ID: 0007_city_scale
Revises: 0006_policy_reports
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_city_scale"
down_revision = "0006_policy_reports"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_service_record_member_pending", "service_record", ["member_id"],
                    unique=False, sqlite_where=sa.text("status = 'pending'"),
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index(op.f("ix_ledger_transaction_created_at"), "ledger_transaction",
                    ["created_at"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_ledger_transaction_created_at"), table_name="ledger_transaction")
    op.drop_index("ix_service_record_member_pending", table_name="service_record",
                  sqlite_where=sa.text("status = 'pending'"),
                  postgresql_where=sa.text("status = 'pending'"))

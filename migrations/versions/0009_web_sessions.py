"""Signed-in browser sessions are kept like API tokens, so signing out ends them for good.

Revision ID: 0009_web_sessions
Revises: 0008_deferred_transaction_refs
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_web_sessions"
down_revision = "0008_deferred_transaction_refs"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=8), server_default="api",
                                      nullable=False))
        batch_op.create_check_constraint(batch_op.f("ck_api_token_kind_known"), "kind IN ('api', 'web')")


def downgrade():
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_api_token_kind_known"), type_="check")
        batch_op.drop_column("kind")

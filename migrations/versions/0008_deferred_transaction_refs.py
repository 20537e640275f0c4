"""Postings and redemptions may be written before their ledger transaction in the same
database transaction: their reference to it is checked at commit.

Revision ID: 0008_deferred_transaction_refs
Revises: 0007_city_scale
"""

from alembic import op

revision = "0008_deferred_transaction_refs"
down_revision = "0007_city_scale"
branch_labels = None
depends_on = None

REFERENCES = (("posting", "fk_posting_transaction_id_ledger_transaction"),
              ("redemption", "fk_redemption_transaction_id_ledger_transaction"))


def _reference(deferred: bool) -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Changes the timing only: no table is rewritten and nothing is checked again.
        timing = "DEFERRABLE INITIALLY DEFERRED" if deferred else "NOT DEFERRABLE"
        for table, name in REFERENCES:
            op.execute(f"ALTER TABLE {table} ALTER CONSTRAINT {name} {timing}")
        return
    options = {"deferrable": True, "initially": "DEFERRED"} if deferred else {}
    for table, name in REFERENCES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(name, type_="foreignkey")
            batch_op.create_foreign_key(name, "ledger_transaction", ["transaction_id"], ["id"],
                                        **options)
    # Rebuilding a table on SQLite drops its triggers: the posting table's append-only guards
    # come back as they were made.
    for action in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS posting_no_{action.lower()}")
        op.execute(f"CREATE TRIGGER posting_no_{action.lower()} BEFORE {action} ON posting "
                   f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END")


def upgrade():
    _reference(deferred=True)


def downgrade():
    _reference(deferred=False)

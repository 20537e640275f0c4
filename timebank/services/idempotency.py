"""Client Idempotency-Keys: claimed with INSERT … ON CONFLICT DO NOTHING, replayed after."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from timebank.errors import IdempotencyConflict
from timebank.extensions import db
from timebank.models import IdempotentRequest
from timebank.services import tx


@dataclass(frozen=True)
class Claim:
    request_id: int | None
    replay_status: int | None = None
    replay_body: str | None = None


def claim(*, user_id: int, key: str, request_hash: str) -> Claim:
    """Claim the key inside the open write transaction, or return the stored answer.

    On PostgreSQL a concurrent claim of the same key waits here until the first request
    commits, then finds its stored answer.
    """
    dialect = postgresql if not tx.is_sqlite() else sqlite
    inserted = db.session.execute(
        dialect.insert(IdempotentRequest)
        .values(user_id=user_id, key=key, request_hash=request_hash)
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(IdempotentRequest.id)
    ).scalar()
    if inserted is not None:
        return Claim(request_id=inserted)
    stored = db.session.execute(
        select(IdempotentRequest).where(
            IdempotentRequest.user_id == user_id, IdempotentRequest.key == key
        ).execution_options(populate_existing=True)
    ).scalar_one()
    if stored.request_hash != request_hash or stored.status_code is None:
        raise IdempotencyConflict(
            _("This Idempotency-Key was already used for a different request.")
        )
    return Claim(request_id=None, replay_status=stored.status_code,
                 replay_body=stored.response_body)


def store(claimed: Claim, *, status_code: int, body: str) -> None:
    db.session.execute(
        update(IdempotentRequest)
        .where(IdempotentRequest.id == claimed.request_id)
        .values(status_code=status_code, response_body=body)
        .execution_options(synchronize_session=False)
    )

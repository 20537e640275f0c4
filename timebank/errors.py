"""Named domain errors. Each has a stable machine-readable `code` and an HTTP status."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l


class DomainError(Exception):
    """A rule of the domain was broken; nothing was changed."""

    code = "domain_error"
    status = 400
    title = _l("The request breaks a rule")

    def __init__(self, detail: str | None = None, *, errors: dict | None = None):
        super().__init__(detail or str(self.title))
        self.detail = detail or str(self.title)
        self.errors = errors


class ValidationFailed(DomainError):
    code = "validation_error"
    status = 422
    title = _l("The input is not valid")


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401
    title = _l("Please sign in")


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    title = _l("You are not allowed to do this")


class SelfApproval(Forbidden):
    code = "self_approval"
    title = _l("You cannot approve your own hours")


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = _l("Not found")


class AlreadyExists(DomainError):
    code = "already_exists"
    status = 409
    title = _l("It already exists")


class InvalidTransition(DomainError):
    code = "invalid_transition"
    status = 409
    title = _l("That change is not possible in the current state")


class OverlappingRecord(DomainError):
    code = "overlapping_record"
    status = 409
    title = _l("These hours overlap another record")


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"
    status = 409
    title = _l("This Idempotency-Key was used with a different request")


class InsufficientPoints(DomainError):
    code = "insufficient_points"
    status = 422
    title = _l("Not enough points")


class CodeNotFound(NotFound):
    code = "code_not_found"
    title = _l("No such redemption code")


class CodeAlreadyUsed(DomainError):
    code = "code_already_used"
    status = 409
    title = _l("This redemption code has already been used")


class CodeExpired(DomainError):
    code = "code_expired"
    status = 410
    title = _l("This redemption code has expired")


class LedgerIntegrityError(DomainError):
    code = "ledger_integrity"
    status = 409
    title = _l("The ledger refused an inconsistent change")


class CheckInRefused(DomainError):
    """A check-in or check-out code that is wrong, stale, or used outside the activity."""

    code = "checkin_refused"
    status = 422
    title = _l("This check-in was refused")


class TransferNotAllowed(Forbidden):
    code = "transfer_not_allowed"
    title = _l("Giving points is not allowed here")


class AlreadyClaimed(DomainError):
    code = "already_claimed"
    status = 409
    title = _l("Someone else has already taken this request")


class OutOfStock(DomainError):
    code = "out_of_stock"
    status = 409
    title = _l("Not enough left in stock")


class LimitReached(DomainError):
    code = "limit_reached"
    status = 422
    title = _l("The limit per member is reached")


class DailyCapReached(DomainError):
    code = "daily_cap_reached"
    status = 422
    title = _l("The community's daily limit of hours is reached")

"""A temporary lockout of one account from one client address after repeated wrong passwords.

Counted in the rate limiter's storage (`RATELIMIT_STORAGE_URI`: in memory by default, so per
process; a shared store such as Redis makes it hold across workers and hosts). The key is the
username *and* the client's address: someone guessing from one address is stopped, while the
member can still sign in from their own phone (they are not locked out by the guesser).
"""

from __future__ import annotations

import math
import time

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from limits import RateLimitItemPerMinute
from limits.storage import MovingWindowSupport
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter

from timebank.errors import DomainError
from timebank.extensions import limiter

NAMESPACE = "sign-in-failures"


class SignInLocked(DomainError):
    code = "rate_limited"
    status = 429
    title = _l("Too many wrong passwords")


def _rule() -> RateLimitItemPerMinute:
    cfg = current_app.config
    return RateLimitItemPerMinute(int(cfg["SIGN_IN_LOCKOUT_FAILURES"]),
                                  int(cfg["SIGN_IN_LOCKOUT_MINUTES"]), namespace=NAMESPACE)


def _counter() -> RateLimiter:
    storage = limiter.storage
    if isinstance(storage, MovingWindowSupport):
        return MovingWindowRateLimiter(storage)
    return FixedWindowRateLimiter(storage)


def _key(username: str, client: str) -> tuple[str, str]:
    return username.strip().lower()[:64], client or "-"


def check(username: str, client: str) -> None:
    """Raise SignInLocked while this account is locked for this address."""
    counter, rule = _counter(), _rule()
    if counter.test(rule, *_key(username, client)):
        return
    reset_at = counter.get_window_stats(rule, *_key(username, client)).reset_time
    minutes = max(1, math.ceil((reset_at - time.time()) / 60))
    raise SignInLocked(_("Too many wrong passwords for this account. "
                         "Please try again in %(n)d minutes.", n=minutes))


def failed(username: str, client: str) -> None:
    _counter().hit(_rule(), *_key(username, client))


def succeeded(username: str, client: str) -> None:
    _counter().clear(_rule(), *_key(username, client))

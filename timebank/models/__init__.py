"""All models, imported here so Alembic sees every table."""

from timebank.models.ledger import (
    Account,
    IdempotentRequest,
    LedgerHead,
    LedgerTransaction,
    Posting,
)
from timebank.models.merchant import Merchant, Offer, Redemption, RedemptionCode
from timebank.models.org import OrgUnit
from timebank.models.service import (
    CategoryRate,
    CorrectionRequest,
    ServiceCategory,
    ServiceRecord,
)
from timebank.models.user import ApiToken, User, UserRole

__all__ = [
    "Account",
    "ApiToken",
    "CategoryRate",
    "CorrectionRequest",
    "IdempotentRequest",
    "LedgerHead",
    "LedgerTransaction",
    "Merchant",
    "Offer",
    "OrgUnit",
    "Posting",
    "Redemption",
    "RedemptionCode",
    "ServiceCategory",
    "ServiceRecord",
    "User",
    "UserRole",
]

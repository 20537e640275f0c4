"""All models, imported here so Alembic sees every table."""

from timebank.models.activity import Activity, ActivitySignup
from timebank.models.audit import AuditEvent
from timebank.models.helping import FamilyLink, HelpRequest, Transfer
from timebank.models.ledger import (
    Account,
    IdempotentRequest,
    LedgerHead,
    LedgerTransaction,
    Posting,
)
from timebank.models.member_import import MemberImport
from timebank.models.merchant import (
    Merchant,
    MerchantSettlement,
    Offer,
    Redemption,
    RedemptionCode,
)
from timebank.models.org import OrgUnit
from timebank.models.policy import PointsPolicy, PolicyRate
from timebank.models.recognition import (
    Certificate,
    RedFlagAward,
    ServiceStat,
    StarAward,
    TeamMembership,
    VolunteerTeam,
)
from timebank.models.service import (
    CategoryRate,
    CorrectionRequest,
    ServiceCategory,
    ServiceRecord,
)
from timebank.models.shop import Reward, RewardOrder
from timebank.models.user import ApiToken, User, UserRole

__all__ = [
    "MemberImport",
    "MerchantSettlement",
    "PointsPolicy",
    "PolicyRate",
    "RewardOrder",
    "Reward",
    "VolunteerTeam",
    "TeamMembership",
    "StarAward",
    "ServiceStat",
    "RedFlagAward",
    "Certificate",
    "Account",
    "Activity",
    "ActivitySignup",
    "ApiToken",
    "AuditEvent",
    "CategoryRate",
    "CorrectionRequest",
    "FamilyLink",
    "HelpRequest",
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
    "Transfer",
    "User",
    "UserRole",
]

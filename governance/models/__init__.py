"""SQLModel tables. Importing this package registers every table on ``SQLModel.metadata``."""

from .audit import AuditEntry, TreeHead
from .ballots import Ballot, DecodedBallot, DecryptionShare, LegacyBallot, Mix, PollSecret, PollTrustee
from .documents import Amendment, Document, DocumentVersion, PendingChange
from .elections import Certification, EligibilityException, ReminderOptOut, ReminderRound
from .identity import (
    ForumObservation,
    ForumSyncPass,
    ForumWebhookDelivery,
    LoginNonce,
    LoginSession,
    Member,
    RateLimitCounter,
)
from .polls import (
    CharterVersion,
    ElectorateEntry,
    Nomination,
    Outbox,
    Participation,
    Poll,
    PollOption,
    TimingChange,
)

__all__ = [
    "Amendment",
    "AuditEntry",
    "Ballot",
    "Certification",
    "CharterVersion",
    "DecodedBallot",
    "DecryptionShare",
    "Document",
    "DocumentVersion",
    "ElectorateEntry",
    "EligibilityException",
    "ForumObservation",
    "ForumSyncPass",
    "ForumWebhookDelivery",
    "LegacyBallot",
    "LoginNonce",
    "LoginSession",
    "Member",
    "Mix",
    "Nomination",
    "Outbox",
    "Participation",
    "PendingChange",
    "Poll",
    "PollOption",
    "PollSecret",
    "PollTrustee",
    "RateLimitCounter",
    "ReminderOptOut",
    "ReminderRound",
    "TimingChange",
    "TreeHead",
]

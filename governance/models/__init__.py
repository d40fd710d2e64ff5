"""SQLModel tables. Importing this package registers every table on ``SQLModel.metadata``."""

from .audit import AuditEntry, TreeHead
from .documents import Amendment, Document, DocumentVersion
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
    Ballot,
    CharterVersion,
    ElectorateEntry,
    Nomination,
    Outbox,
    Participation,
    Poll,
    PollKey,
    PollOption,
)

__all__ = [
    "Amendment",
    "AuditEntry",
    "Ballot",
    "CharterVersion",
    "Document",
    "DocumentVersion",
    "ElectorateEntry",
    "ForumObservation",
    "ForumSyncPass",
    "ForumWebhookDelivery",
    "LoginNonce",
    "LoginSession",
    "Member",
    "Nomination",
    "Outbox",
    "Participation",
    "Poll",
    "PollKey",
    "PollOption",
    "RateLimitCounter",
    "TreeHead",
]

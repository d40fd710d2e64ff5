"""Domain errors raised by services; ``governance.web.errors`` maps each to an HTTP answer.

Boundary rule: no Flask or HTTP here. Services raise these; only ``web/`` turns them into
status codes, pages, ``abort()`` or ``flash()``.
"""

from __future__ import annotations

from .copy import N_


class GovernanceError(Exception):
    """Base class of every error a member or auditor can cause and be told about."""

    status = 400

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message or self.__class__.__doc__ or ""


class NotFound(GovernanceError):
    """The requested thing does not exist."""

    status = 404


class NotAllowed(GovernanceError):
    """You are not allowed to do this."""

    status = 403


class NotEligible(NotAllowed):
    """You may not take part in this poll."""

    def __init__(self, message: str = "", reasons: list[str] | None = None) -> None:
        super().__init__(message or N_("You may not vote in this poll."))
        self.reasons = list(reasons or [])


class Conflict(GovernanceError):
    """The request conflicts with the current state."""

    status = 409


class VotingClosed(Conflict):
    """Voting is not open."""


class InvalidInput(GovernanceError):
    """The submitted data is not valid; ``reasons`` lists (field, message) pairs."""

    status = 400

    def __init__(self, reasons: list[tuple[str, str]] | str) -> None:
        if isinstance(reasons, str):
            reasons = [("", reasons)]
        self.reasons = list(reasons)
        # One reason stays the object it is (a copy.Message keeps its msgid for the page's language).
        super().__init__(self.reasons[0][1] if len(self.reasons) == 1 else "; ".join(msg for _field, msg in self.reasons))


class ForumUnavailable(GovernanceError):
    """The forum could not be reached; nothing was changed."""

    status = 503


class RateLimited(GovernanceError):
    """Too many requests; try again later."""

    status = 429

    def __init__(self, message: str = "", retry_after: int = 60) -> None:
        super().__init__(message or N_("Too many requests; please wait a moment and try again."))
        self.retry_after = retry_after

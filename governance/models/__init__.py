"""SQLModel tables. Importing this package registers every table on ``SQLModel.metadata``."""

from .identity import LoginNonce, LoginSession, Member, RateLimitCounter

__all__ = ["LoginNonce", "LoginSession", "Member", "RateLimitCounter"]

"""Documents, versions and amendments (service layer)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ..models import Poll


def on_referendum_published(*, session: Session, poll: Poll, now: datetime) -> None:
    """Adopt or reject the amendment a referendum decided (called by the polls service at close)."""

"""Forum posts are claimed by one process at a time, amendment topics included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

from governance.models import Outbox
from governance.polls import outbox


def test_two_concurrent_claims_never_share_a_job(app):
    """The second claimer, racing the first's open transaction, gets only the jobs the first did not lock."""
    now = datetime.now(UTC)
    immediate = app.extensions["governance.engine_immediate"]
    with Session(app.extensions["governance.engine"]) as setup:
        for i in range(6):
            setup.add(Outbox(kind="head", payload={"head": i}, next_attempt_at=now - timedelta(seconds=1)))
        setup.commit()
    first = Session(immediate)
    mine = outbox.claim(first, now, limit=4)
    assert len(mine) == 4
    if app.extensions["governance.engine"].dialect.name == "sqlite":
        # One writer at a time: the second claim waits for the first to commit, then sees its leases.
        first.commit()
        with Session(immediate) as second:
            theirs = outbox.claim(second, now, limit=10)
            second.commit()
    else:
        with Session(immediate) as second:  # the first transaction is still open, its rows locked
            second.execute(text("SET LOCAL lock_timeout = '3s'"))  # waiting on them would be the bug
            theirs = outbox.claim(second, now, limit=10)
            second.commit()
        first.commit()
    first.close()
    assert len(theirs) == 2 and not set(mine) & set(theirs)

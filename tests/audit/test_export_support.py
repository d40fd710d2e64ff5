"""Helpers for the export, web and database-log tests: polls driven through their real lifecycle.

No tests here; ``test_export.py`` and ``test_web_audit.py`` import these helpers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from governance.models import Poll
from governance.polls import charter, service
from governance.polls.service import PollInput
from tests.conftest import CLOSING_STEPS, cast_ranking, sync_member
from tests.conftest import run_clock as _run_clock

NOW = datetime.now(UTC).replace(microsecond=0)
OPEN = NOW + timedelta(hours=2)
CLOSE = NOW + timedelta(days=3)

#: A group poll of sig-security (the electorate is frozen at opening, seven members).
GROUP_BALLOTS = {
    "vexillum": [["Ash"], ["Birch"]],
    "ysolde_k": [["Birch"], ["Ash"]],
    "cipher_wren": [["Ash", "Birch"], ["Cedar"]],
    "lockpick_lu": [["Cedar"], ["Ash"]],
    "nullroute": [["Ash"]],
}
#: A community-wide decision (the electorate is the rule).
COMMUNITY_BALLOTS = {
    "marlow_p": [["Birch"], ["Ash"]],
    "halvard": [["Ash"]],
    "inkwell": [["Cedar"], ["Birch"]],
    "rackham": [["Birch"]],
    "cadence": [["Ash"], ["Cedar"]],
}


@dataclass
class Driven:
    """A poll driven to its published results, with what each voter was told."""

    poll_id: int
    trackers: dict[str, str] = field(default_factory=dict)
    rankings: dict[str, list[list[str]]] = field(default_factory=dict)


def run_clock(app, forum, now):
    """Take every step the clock calls for at ``now``."""
    return _run_clock(app, now, forum)


def reload(app, poll_id: int) -> Poll:
    """The poll as stored now (a fresh session)."""
    with Session(app.extensions["governance.engine"]) as s:
        return s.get(Poll, poll_id)


def schedule_decision(session, forum, *, body: str, manager: str, method: str = "irv",
                      options=("Ash", "Birch", "Cedar")) -> int:
    """Create and schedule a decision; return its id (a SIG's manager is made one of its chairs first)."""
    if body.startswith("sig-") and manager != "tamsin_ward":
        if forum.data.find_group(f"{body}-chairs") is None:
            forum.data.create_group(f"{body}-chairs")
        forum.data.add_to_group(f"{body}-chairs", manager, owner=True)
    actor = sync_member(session, forum, manager)
    current = charter.current(session)
    data = PollInput(body=body, kind="decision", method=method, title=f"Pick a name ({body})",
                     description="Which name?", options=list(options), opens_at=OPEN, closes_at=CLOSE)
    poll = service.create(session=session, actor=actor, charter=current, data=data)
    service.schedule(session=session, actor=actor, charter=current, poll=poll, now=NOW)
    session.commit()
    return poll.id


def open_and_vote(app, forum, session, poll_id: int, ballots: dict[str, list[list[str]]]) -> Driven:
    """Open the poll with the clock and cast each ballot; the poll stays open."""
    assert run_clock(app, forum, OPEN) == [(poll_id, "open")]
    session.rollback()
    session.expire_all()
    driven = Driven(poll_id=poll_id)
    for name, ranking in ballots.items():
        member = sync_member(session, forum, name)
        receipt = cast_ranking(app, session, poll_id, member, ranking, OPEN + timedelta(minutes=5))
        session.commit()
        driven.trackers[name] = receipt.tracker
        driven.rankings[name] = ranking
    return driven


def close(app, forum, session, driven: Driven) -> Driven:
    """Close and count the poll with the clock."""
    assert run_clock(app, forum, CLOSE) == [(driven.poll_id, step) for step in CLOSING_STEPS]
    session.rollback()
    session.expire_all()
    return driven


def group_poll(app, forum, session, *, method: str = "schulze") -> Driven:
    """A sig-security decision, voted on and published."""
    poll_id = schedule_decision(session, forum, body="sig-security", manager="vexillum", method=method)
    return close(app, forum, session, open_and_vote(app, forum, session, poll_id, GROUP_BALLOTS))


def community_poll(app, forum, session, *, method: str = "irv") -> Driven:
    """A community-wide decision, voted on and published."""
    poll_id = schedule_decision(session, forum, body="community", manager="tamsin_ward", method=method)
    return close(app, forum, session, open_and_vote(app, forum, session, poll_id, COMMUNITY_BALLOTS))

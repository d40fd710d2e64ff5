"""Helpers for the secrecy and integrity attacks: a community poll, members who vote, the close.

No tests here. Everything goes through the real services and the clock; the attacks then read or
change the database directly, as someone holding the database files would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from governance.models import Poll, PollSecret
from governance.polls import charter, service, voting
from governance.polls.service import PollInput
from tests.conftest import CLOSING_STEPS, cast_ranking, make_member, run_clock

NOW = datetime.now(UTC).replace(microsecond=0)
OPEN = NOW + timedelta(hours=2)
CLOSE = NOW + timedelta(days=3)
OPTIONS = ["Ash", "Birch", "Cedar", "Dogwood"]


@dataclass
class Voted:
    """An open poll and what happened in it, as an attacker with the database would like to know it."""

    poll_id: int
    #: username -> the member's credential and the trackers of their ballots, in order
    credentials: dict[str, str] = field(default_factory=dict)
    trackers: dict[str, list[str]] = field(default_factory=dict)
    rankings: dict[str, list[list[str]]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # who voted first, second, ...
    salts: tuple[str, str] = ("", "")  # the link salt and key salt while the poll was open
    members: dict[str, object] = field(default_factory=dict)


def open_poll(app, session, *, method: str = "irv") -> int:
    """A community decision, scheduled and opened by the clock."""
    chair = make_member(session, username="chair", forum_user_id=1, groups=["steering-committee"])
    data = PollInput(body="community", kind="decision", method=method, title="Pick a tree",
                     options=list(OPTIONS), opens_at=OPEN, closes_at=CLOSE)
    poll = service.create(session=session, actor=chair, charter=charter.current(session), data=data)
    service.schedule(session=session, actor=chair, charter=charter.current(session), poll=poll, now=NOW)
    session.commit()
    assert run_clock(app, OPEN) == [(poll.id, "open")]
    return poll.id


def vote(app, session, poll_id: int, count: int = 12, *, seed: int = 7, members_first: bool = False) -> Voted:
    """``count`` members vote in a shuffled order (some twice); returns what was cast, by whom.

    With ``members_first`` every member exists before anyone votes (member ids then say nothing of
    the order of voting).
    """
    rng = random.Random(seed)
    voted = Voted(poll_id=poll_id)
    names = [f"voter{i:02d}" for i in range(count)]
    if members_first:
        for n, name in enumerate(names):
            voted.members[name] = make_member(session, username=name, forum_user_id=100 + n, trust_level=2)
    rng.shuffle(names)
    for n, name in enumerate(names):
        member = voted.members.get(name) or make_member(session, username=name, forum_user_id=100 + n,
                                                        trust_level=2)
        voted.members[name] = member
        ranking = [[o] for o in rng.sample(OPTIONS, rng.randint(1, len(OPTIONS)))]
        receipt = cast_ranking(app, session, poll_id, member, ranking, OPEN + timedelta(minutes=n))
        session.commit()
        box = voting.ballot_box(session, poll_id)
        voted.credentials[name] = voting.credential(box, member, secret=app.config["SECRET_KEY"])
        voted.trackers[name] = [receipt.tracker]
        voted.rankings[name] = ranking
        voted.order.append(name)
    for name in names[: count // 4]:  # some change their mind
        ranking = [[OPTIONS[0]]]
        receipt = cast_ranking(app, session, poll_id, voted.members[name], ranking, OPEN + timedelta(hours=5))
        session.commit()
        voted.trackers[name].append(receipt.tracker)
        voted.rankings[name] = ranking
    salts = session.get(PollSecret, poll_id)
    voted.salts = (salts.link_salt, salts.key_salt)
    session.rollback()
    return voted


def close(app, session, poll_id: int) -> Poll:
    """Close and count with the clock; the poll re-read."""
    assert run_clock(app, CLOSE) == [(poll_id, step) for step in CLOSING_STEPS]
    with Session(app.extensions["governance.engine"]) as fresh:
        return fresh.get(Poll, poll_id)

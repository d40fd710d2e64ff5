"""A community of 30,000 accounts: its community-wide poll opens on time without a single forum
call, and the evidence its audit bundle keeps is complete for everyone who took part.

A community-wide poll's electorate is its rule, frozen at the opening (no list to fetch); each
voter's standing is judged, and kept as evidence, when they vote (docs/identity.md). So the size
of the community costs the opening nothing: played here with 30,000 accounts the platform holds
(as ``flask forum sync`` leaves them: young and old accounts, every trust level, suspended,
silenced and staged ones) against the live stand-in forum, whose API log must stay empty.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlmodel import Session

from governance.audit import export
from governance.audit.verifier import verify_bundle
from governance.models import Member, Poll
from governance.polls import charter, service
from governance.polls.service import PollInput
from tests.conftest import CLOSING_STEPS, cast_ranking, make_member, run_clock

ACCOUNTS = 30_000
NOW = datetime.now(UTC).replace(microsecond=0)
OPEN = NOW + timedelta(hours=2)
CLOSE = NOW + timedelta(days=3)


def _community(session) -> None:
    rng = random.Random(30_000)
    rows = []
    for i in range(ACCOUNTS):
        kind = rng.random()
        rows.append({
            "forum_user_id": 10_000 + i, "username": f"member{i:05d}", "name": f"Member {i}",
            "forum_created_at": NOW - timedelta(days=rng.choice([0, 1, 3, 30, 400, 2000]), hours=rng.randint(0, 23)),
            "trust_level": rng.choice([0, 1, 1, 2, 2, 3, 4]), "groups": [],
            "suspended": kind < 0.01, "silenced": 0.01 <= kind < 0.02, "staged": 0.02 <= kind < 0.03,
            "active": True, "refreshed_at": NOW, "created_at": NOW,
        })
    for start in range(0, ACCOUNTS, 5_000):
        session.execute(insert(Member), rows[start:start + 5_000])
    session.commit()


def test_a_community_wide_poll_over_30000_accounts_opens_on_time_without_asking_the_forum(app, session, forum):
    _community(session)
    chair = make_member(session, username="chair", forum_user_id=1, groups=["steering-committee"])
    data = PollInput(body="community", kind="decision", method="irv", title="Pick the release name",
                     options=["Ash", "Birch", "Cedar"], opens_at=OPEN, closes_at=CLOSE)
    poll = service.create(session=session, actor=chair, charter=charter.current(session), data=data)
    service.schedule(session=session, actor=chair, charter=charter.current(session), poll=poll, now=NOW)
    session.commit()
    asked_before = len(forum.data.api_requests())

    # The clock's tick, with the forum at hand as `flask polls tick` has it: it opens the poll at
    # its time and asks the forum nothing, however many accounts there are.
    assert run_clock(app, OPEN, forum=forum) == [(poll.id, "open")]
    assert forum.data.api_requests()[asked_before:] == []
    with Session(app.extensions["governance.engine"]) as fresh:
        opened = fresh.get(Poll, poll.id)
        assert opened.status == "open" and opened.opened_at == OPEN
        assert opened.electorate_hash  # the rule, frozen

    # Voters are judged as they vote; the bundle keeps each participant's evidence, and the
    # verifier re-applies the frozen rule to every one of them.
    voters = [make_member(session, username=f"voter{i}", forum_user_id=90_000 + i, trust_level=2) for i in range(3)]
    for n, voter in enumerate(voters):
        cast_ranking(app, session, poll.id, voter, [["Birch"], ["Ash"]], OPEN + timedelta(minutes=n))
        session.commit()
    assert run_clock(app, CLOSE) == [(poll.id, step) for step in CLOSING_STEPS]
    with Session(app.extensions["governance.engine"]) as fresh:
        report = verify_bundle(export.poll_bundle(fresh, poll.id))
    assert report.ok, report.first_problem
    assert report.check("electorate").detail.startswith("community-wide rule frozen at opening; 3 took part, "
                                                        "each meets the rule")

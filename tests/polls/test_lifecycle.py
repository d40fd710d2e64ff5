"""Polls from draft to published results, through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from governance.audit import log
from governance.audit.chain import verify_chain
from governance.errors import Conflict, InvalidInput, NotAllowed, NotEligible, VotingClosed
from governance.models import Mix, Poll, PollSecret
from governance.polls import charter, clock, counting, nominations, service, voting
from governance.polls.service import PollInput
from tests.conftest import forum_adapter, sync_member

SECRET = "test-secret-key-" + "x" * 32  # tests.conftest.make_test_app's

NOW = datetime.now(UTC).replace(microsecond=0)
OPEN = NOW + timedelta(hours=2)
CLOSE = NOW + timedelta(days=3)


def decision_input(**changes) -> PollInput:
    data = dict(body="community", kind="decision", method="irv", title="Pick the release name",
                description="Which **name**?", options=["Ash", "Birch", "Cedar"], opens_at=OPEN, closes_at=CLOSE)
    data.update(changes)
    return PollInput(**data)


def run_clock(app, forum, now):
    return clock.run_due(engine=app.extensions["governance.engine"],
                         immediate=app.extensions["governance.engine_immediate"],
                         forum=forum_adapter(forum), now=now, secret=app.config["SECRET_KEY"])


def cast(session, poll, member, ranking, now, **kwargs):
    """A ballot as the plain form casts it: encrypted by the server on arrival, then recorded."""
    return voting.cast_ranking(session=session, poll_id=poll.id, member=member, ranking=ranking, now=now,
                               secret=SECRET, **kwargs)


def reload(app, poll_id):
    from sqlmodel import Session

    with Session(app.extensions["governance.engine"]) as s:
        return s.get(Poll, poll_id)


@pytest.fixture
def committee(session, forum):
    return sync_member(session, forum, "tamsin_ward")


def make_scheduled(session, committee, **changes) -> Poll:
    current = charter.current(session)
    poll = service.create(session=session, actor=committee, charter=current, data=decision_input(**changes))
    service.schedule(session=session, actor=committee, charter=current, poll=poll, now=NOW)
    session.commit()
    return poll


def test_decision_from_draft_to_published_results(forum_app, forum, session, committee):
    poll = make_scheduled(session, committee)
    assert poll.status == "scheduled"
    assert run_clock(forum_app, forum, NOW + timedelta(hours=1)) == []  # not yet
    assert run_clock(forum_app, forum, OPEN) == [(poll.id, "open")]
    session.rollback()
    session.expire_all()
    poll = session.get(Poll, poll.id)
    assert poll.status == "open" and len(poll.tie_seed) == 32 and poll.electorate_hash
    assert poll.key_mode == "platform" and len(poll.fingerprint) == 64
    assert poll.election_params["options"] == ["Ash", "Birch", "Cedar"]
    salts = session.get(PollSecret, poll.id)
    assert salts.link_salt and salts.key_salt

    voters = {name: sync_member(session, forum, name) for name in ("marlow_p", "halvard", "inkwell", "rackham")}
    ballots = {"marlow_p": [["Birch"], ["Ash"]], "halvard": [["Ash"]], "inkwell": [["Cedar"], ["Birch"]],
               "rackham": [["Birch"]]}
    receipts = {}
    for name, ranking in ballots.items():
        receipts[name] = cast(session, poll, voters[name], ranking, OPEN + timedelta(minutes=5), send_receipt=True)
        session.commit()
    # marlow changes their mind: the last ballot counts, the old one stays on the board, replaced
    again = cast(session, poll, voters["marlow_p"], [["Ash"]], OPEN + timedelta(minutes=9))
    session.commit()
    assert again.replaced and again.tracker != receipts["marlow_p"].tracker
    from governance.models import Outbox

    assert len(session.exec(select(Outbox).where(Outbox.kind == "receipt")).all()) == 4  # queued for the forum
    assert service.turnout(session, poll) == 4
    board = voting.board(session, poll)
    assert len(board) == 5 and [b.tracker for b in board if b.superseded] == [receipts["marlow_p"].tracker]
    box = voting.ballot_box(session, poll.id)
    assert voting.my_tracker(session, box, voters["marlow_p"], secret=SECRET) == again.tracker
    with pytest.raises(Conflict):
        counting.published_ballots(session, poll)  # nothing decrypted until the count
    session.rollback()

    assert run_clock(forum_app, forum, CLOSE) == [(poll.id, "close"), (poll.id, "mix"), (poll.id, "decrypt"),
                                                  (poll.id, "count")]
    session.rollback()
    session.expire_all()
    poll = session.get(Poll, poll.id)
    assert poll.status == "published"
    assert poll.result["method"] == "irv" and poll.result["elected"]
    published = counting.published_ballots(session, poll)
    assert sorted(str(b["ranking"]) for b in published) == sorted(
        str(r) for r in [[["Ash"]], [["Ash"]], [["Cedar"], ["Birch"]], [["Birch"]]])
    assert len(session.exec(select(Mix).where(Mix.poll_id == poll.id)).all()) == 1
    # Secrecy after the count: both salts gone (no credential, no platform key can be derived).
    assert session.get(PollSecret, poll.id) is None
    # Receipts the forum never took (nothing delivered them here) are dropped at the close, not kept as links.
    assert session.exec(select(Outbox).where(Outbox.kind == "receipt")).all() == []
    # The log is an unbroken chain with the whole story.
    entries = log.entries(session)
    verify_chain([log.as_entry(e) for e in entries])
    types = [e.type for e in entries if e.poll_id == poll.id]
    assert types[:3] == ["poll.created", "poll.scheduled", "poll.opened"]
    assert types.count("ballot.cast") == 4 and types.count("ballot.replaced") == 1
    assert types[-6:] == ["poll.closed", "mix.added", "decryption.share", "poll.decrypted", "poll.tallied",
                          "results.published"]
    for entry in entries:
        assert "marlow_p" not in str(entry.payload)
        if entry.type.startswith("ballot."):
            assert entry.created_at.endswith(":00:00Z")  # the hour only


def test_group_snapshot_at_open_ignores_a_later_join(forum_app, forum, session):
    vex = sync_member(session, forum, "tamsin_ward")  # the committee manages SIG polls with the SIG's chairs
    current = charter.current(session)
    poll = service.create(session=session, actor=vex, charter=current,
                          data=decision_input(body="sig-security", method="schulze"))
    service.schedule(session=session, actor=vex, charter=current, poll=poll, now=NOW)
    session.commit()
    assert run_clock(forum_app, forum, OPEN) == [(poll.id, "open")]
    sync_member(session, forum, "marlow_p")  # known here before the join
    forum.data.add_to_group("sig-security", "marlow_p")
    marlow = sync_member(session, forum, "marlow_p")
    assert "sig-security" in marlow.groups  # the forum says so now...
    changed = [e for e in log.entries(session) if e.type == "member.roles_changed"]
    assert changed[-1].payload["username"] == "marlow_p"
    assert changed[-1].payload["groups_added"] == ["sig-security"]
    poll = reload(forum_app, poll.id)
    with pytest.raises(NotEligible) as err:  # ...but not when the poll opened
        cast(session, poll, marlow, [["Ash"]], OPEN)
    assert "sig-security" in err.value.reasons[0]
    session.rollback()
    member = sync_member(session, forum, "cipher_wren")
    cast(session, poll, member, [["Ash", "Birch"], ["Cedar"]], OPEN)
    session.commit()
    assert poll.electorate_size == 7


def test_group_poll_stays_closed_when_forum_is_down(forum_app, forum, session):
    vex = sync_member(session, forum, "tamsin_ward")  # the committee manages SIG polls with the SIG's chairs
    current = charter.current(session)
    poll = service.create(session=session, actor=vex, charter=current, data=decision_input(body="sig-security"))
    service.schedule(session=session, actor=vex, charter=current, poll=poll, now=NOW)
    session.commit()
    forum.data.force_rate_limit(50, wait_seconds=60)
    assert run_clock(forum_app, forum, OPEN) == []
    assert reload(forum_app, poll.id).status == "scheduled"


def test_only_managers_create_and_only_drafts_change(session, forum, committee):
    marlow = sync_member(session, forum, "marlow_p")
    current = charter.current(session)
    with pytest.raises(NotAllowed):
        service.create(session=session, actor=marlow, charter=current, data=decision_input())
    poll = make_scheduled(session, committee)
    with pytest.raises(Conflict):
        service.update_draft(session=session, actor=committee, charter=current, poll=poll, data=decision_input())


@pytest.mark.parametrize("changes, field", [
    ({"title": ""}, "title"),
    ({"options": ["Only one"]}, "options"),
    ({"options": ["Ash", "ash"]}, "options"),
    ({"kind": "referendum", "method": "irv"}, "method"),
    ({"body": "sig-security", "kind": "election", "method": "meek"}, "kind"),
    ({"kind": "referendum", "method": "yesno", "threshold": "3/2"}, "threshold"),
    ({"kind": "referendum", "method": "yesno", "threshold": "1e-5000"}, "threshold"),  # Fraction() takes it
    ({"kind": "referendum", "method": "yesno", "threshold": "2:3"}, "threshold"),
])
def test_bad_poll_input_is_refused_and_nothing_is_stored(session, committee, changes, field):
    current = charter.current(session)
    if changes.get("body") == "sig-security":
        committee.groups = [*committee.groups, "sig-security"]
    with pytest.raises(InvalidInput) as err:
        service.create(session=session, actor=committee, charter=current, data=decision_input(**changes))
    assert field in [f for f, _ in err.value.reasons]
    session.rollback()
    session.expire_all()
    assert session.exec(select(Poll)).all() == []


def test_schedule_rejects_past_and_inverted_times(session, committee):
    current = charter.current(session)
    poll = service.create(session=session, actor=committee, charter=current,
                          data=decision_input(opens_at=NOW - timedelta(hours=1)))
    with pytest.raises(InvalidInput):
        service.schedule(session=session, actor=committee, charter=current, poll=poll, now=NOW)
    poll.opens_at, poll.closes_at = OPEN, OPEN - timedelta(minutes=1)
    with pytest.raises(InvalidInput):
        service.schedule(session=session, actor=committee, charter=current, poll=poll, now=NOW)


def test_voting_before_open_and_after_close_is_refused(forum_app, forum, session, committee):
    poll = make_scheduled(session, committee)
    voter = sync_member(session, forum, "marlow_p")
    with pytest.raises(VotingClosed):
        cast(session, poll, voter, [["Ash"]], NOW)
    session.rollback()  # as a failed request's teardown does: release the poll's row lock
    run_clock(forum_app, forum, OPEN)
    poll = reload(forum_app, poll.id)
    # The close is enforced inside the vote's own transaction, even before any request closed it.
    with pytest.raises(VotingClosed):
        cast(session, poll, voter, [["Ash"]], CLOSE)
    session.rollback()
    session.expire_all()
    assert service.turnout(session, poll) == 0


@pytest.mark.parametrize("username, fragment", [
    ("fresh_sprout", "trust level"),
    ("grumbleweed", "suspended"),
    ("shoutcaps", "silenced"),
])
def test_ineligible_members_get_their_reasons(forum_app, forum, session, committee, username, fragment):
    poll = make_scheduled(session, committee)
    run_clock(forum_app, forum, OPEN)
    poll = reload(forum_app, poll.id)
    member = sync_member(session, forum, username)
    with pytest.raises(NotEligible) as err:
        cast(session, poll, member, [["Ash"]], OPEN)
    assert any(fragment in reason for reason in err.value.reasons)


def test_account_created_after_opening_cannot_vote(forum_app, forum, session, committee):
    poll = make_scheduled(session, committee, opens_at=NOW + timedelta(hours=2))
    run_clock(forum_app, forum, OPEN)
    poll = reload(forum_app, poll.id)
    forum.data.add_user("latecomer", created_at=OPEN + timedelta(minutes=1), trust_level=2)
    member = sync_member(session, forum, "latecomer")
    with pytest.raises(NotEligible) as err:
        cast(session, poll, member, [["Ash"]], OPEN + timedelta(hours=1))
    assert "after this poll opened" in err.value.reasons[0]


def _election(session, forum, committee, seats):
    current = charter.current(session)
    data = decision_input(kind="election", method="meek", seats=seats, options=[], title="Committee 2027",
                          nominations_open_at=NOW - timedelta(minutes=1), nominations_close_at=NOW + timedelta(hours=1))
    poll = service.create(session=session, actor=committee, charter=current, data=data)
    service.schedule(session=session, actor=committee, charter=current, poll=poll, now=NOW)
    names = ["marlow_p", "halvard", "inkwell", "rackham"]
    members = {n: sync_member(session, forum, n) for n in names}
    for n in names[:3]:
        nominations.nominate(session=session, actor=members[n], poll=poll, nominee=members[n],
                         statement=f"I am {n}", conflicts="", now=NOW)
    # Nominated by someone else: counts only once the nominee accepts.
    nominations.nominate(session=session, actor=members["halvard"], poll=poll, nominee=members["rackham"],
                     statement="", conflicts="", now=NOW)
    nominations.withdraw_nomination(session=session, actor=members["inkwell"], poll=poll, now=NOW)
    session.commit()
    return poll, members


def test_election_candidates_come_from_accepted_nominations(forum_app, forum, session, committee):
    poll, members = _election(session, forum, committee, seats=2)
    fresh = sync_member(session, forum, "fresh_sprout")
    with pytest.raises(NotEligible):
        nominations.nominate(session=session, actor=fresh, poll=poll, nominee=fresh, statement="hi", conflicts="", now=NOW)
    session.rollback()
    with pytest.raises(InvalidInput):  # accepting needs a statement of one's own
        nominations.accept_nomination(session=session, actor=members["rackham"], poll=poll, statement=" ",
                                  conflicts="", now=NOW)
    nominations.accept_nomination(session=session, actor=members["rackham"], poll=poll, statement="Infra person",
                              conflicts="I work for a hosting sponsor.", now=NOW)
    session.commit()
    assert run_clock(forum_app, forum, OPEN) == [(poll.id, "close-nominations"), (poll.id, "open")]
    labels = [o.label for o in service.options(session, reload(forum_app, poll.id))]
    assert labels == ["halvard", "marlow_p", "rackham"]
    with pytest.raises(Conflict):  # too late to withdraw once voting is open
        nominations.withdraw_nomination(session=session, actor=members["halvard"], poll=reload(forum_app, poll.id),
                                    now=OPEN)


def test_election_without_enough_candidates_is_cancelled_with_a_reason(forum_app, forum, session, committee):
    poll, _ = _election(session, forum, committee, seats=2)  # rackham never accepts: 2 for 2 seats
    run_clock(forum_app, forum, OPEN)
    poll = reload(forum_app, poll.id)
    assert poll.status == "cancelled" and "2 accepted candidates for 2 seats" in poll.cancel_reason

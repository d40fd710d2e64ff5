"""The vote-time rule (issue 11): eligible as of the poll's opening and still eligible now, on a
forum record at most 15 minutes old (re-read within the page's deadline otherwise); when the
forum cannot answer in time, no ballot: a plain 503 reason, nothing written."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlmodel import select

from governance.errors import ForumUnavailable, NotEligible
from governance.identity import freshness
from governance.identity.eligibility import Rule, check
from governance.identity.forum import Forum
from governance.models import ForumObservation, Member
from governance.models.base import utcnow
from tests.conftest import forum_adapter, sync_member
from tests.identity.conftest import closed_port


def page_adapter(forum, url=None) -> Forum:
    """As a web page builds it: 1 s to connect, 2 s to answer, no sleeping through a 429."""
    return Forum(url=url or forum.url, api_key=forum.api_key, api_username=forum.api_username,
                 timeout=(1.0, 2.0), max_wait=0.0)


def calls(forum) -> int:
    return len(forum.data.api_requests())


def test_a_fresh_record_needs_no_call(db, forum):
    member = sync_member(db, forum, "marlow_p")
    before = calls(forum)
    evidence = freshness.fresh_evidence(db, member, forum=page_adapter(forum), now=utcnow())
    assert calls(forum) == before and evidence.username == "marlow_p" and not evidence.silenced


def test_a_record_older_than_the_bound_is_re_read_and_catches_a_silence(db, forum):
    """Silencing sends no webhook: the freshness bound is what catches it."""
    member = sync_member(db, forum, "marlow_p")
    forum.data.silence("marlow_p")
    later = utcnow() + freshness.FRESHNESS + timedelta(seconds=1)
    evidence = freshness.fresh_evidence(db, member, forum=page_adapter(forum), now=later)
    assert evidence.silenced
    assert not check(Rule(), evidence, opens_at=later).ok


def test_a_record_marked_stale_by_a_webhook_is_re_read_however_young(db, forum):
    member = sync_member(db, forum, "cipher_wren")
    forum.data.remove_from_group("sig-security", "cipher_wren")
    member.stale_since = utcnow()
    db.add(member)
    db.commit()
    before = calls(forum)
    evidence = freshness.fresh_evidence(db, member, forum=page_adapter(forum), now=utcnow())
    assert calls(forum) == before + 1 and "sig-security" not in evidence.groups
    assert member.stale_since is None


@pytest.mark.parametrize("trouble", ["down", "hanging", "rate limiting"])
def test_when_the_forum_cannot_answer_in_time_no_ballot_and_nothing_written(db, forum, trouble):
    member = sync_member(db, forum, "marlow_p")
    read_at = member.refreshed_at
    url = f"http://127.0.0.1:{closed_port()}" if trouble == "down" else None
    if trouble == "hanging":
        forum.data.set_delay(10)
    if trouble == "rate limiting":
        forum.data.force_rate_limit(5, wait_seconds=40)
    later = utcnow() + timedelta(minutes=20)
    started = time.monotonic()
    try:
        with pytest.raises(ForumUnavailable) as refused:
            freshness.fresh_evidence(db, member, forum=page_adapter(forum, url), now=later)
    finally:
        forum.data.set_delay(0)
    assert time.monotonic() - started < 3.5
    assert "Your ballot was not recorded" in refused.value.message
    assert "minutes old" in refused.value.message and "under 15 minutes" in refused.value.message
    db.rollback()
    assert db.get(Member, member.id).refreshed_at == read_at


def test_an_account_deleted_on_the_forum_may_not_vote(db, forum):
    member = sync_member(db, forum, "marlow_p")
    forum.data.delete_user("marlow_p")
    member.stale_since = utcnow()
    with pytest.raises(NotEligible):
        freshness.fresh_evidence(db, member, forum=page_adapter(forum), now=utcnow())
    assert not member.active


def _open_poll_then(db, forum, username):
    member = sync_member(db, forum, username)
    opened = utcnow()
    time.sleep(0.01)
    return member, opened


def test_nothing_gained_after_the_opening_counts(db, forum):
    member, opened = _open_poll_then(db, forum, "marlow_p")  # TL2, in no custom group
    forum.data.set_trust_level("marlow_p", 3)
    forum.data.add_to_group("sig-release", "marlow_p")
    member.stale_since = utcnow()
    evidence = freshness.fresh_evidence(db, member, forum=page_adapter(forum), now=utcnow(), opened_at=opened)
    assert evidence.trust_level == 2 and "sig-release" not in evidence.groups
    verdict = check(Rule(min_trust_level=3), evidence, opens_at=opened)
    assert verdict.reasons == ("this poll needs trust level 3; yours is 2",)


def test_anything_lost_after_the_opening_counts(db, forum):
    member, opened = _open_poll_then(db, forum, "ysolde_k")  # TL3, sig-security
    forum.data.set_trust_level("ysolde_k", 1)
    forum.data.remove_from_group("sig-security", "ysolde_k")
    forum.data.suspend("ysolde_k")
    member.stale_since = utcnow()
    evidence = freshness.fresh_evidence(db, member, forum=page_adapter(forum), now=utcnow(), opened_at=opened)
    assert evidence.trust_level == 1 and "sig-security" not in evidence.groups and evidence.suspended
    verdict = check(Rule(groups=("sig-security",)), evidence, opens_at=opened)
    assert "your forum account is suspended" in verdict.reasons


def test_the_facts_as_of_the_opening_are_the_newest_observation_before_it(db, forum):
    member = sync_member(db, forum, "marlow_p")
    first = db.exec(select(ForumObservation).where(ForumObservation.forum_user_id == member.forum_user_id)).all()
    assert len(first) == 1
    assert freshness.evidence_at(db, member.forum_user_id, first[0].observed_at - timedelta(seconds=1)) is None
    assert freshness.evidence_at(db, member.forum_user_id, utcnow()).trust_level == 2
    # An unchanged re-read adds no row: history grows with changes only.
    adapter = forum_adapter(forum)
    evidence, raw = adapter.evidence(member.forum_user_id)
    from governance.identity.service import upsert_member

    upsert_member(session=db, evidence=evidence, raw=raw)
    db.commit()
    assert len(db.exec(select(ForumObservation)).all()) == 1


def test_the_electorate_as_of_an_opening_is_every_accounts_newest_facts_before_it(forum_app, forum, db):
    """A community poll over every account: its evidence is complete at the opening once a sync
    pass has finished, and later changes do not rewrite it."""
    assert forum_app.test_cli_runner().invoke(args=["forum", "sync", "--quiet"]).exit_code == 0
    opened = utcnow()
    time.sleep(0.01)
    forum.data.set_trust_level("marlow_p", 4)
    assert forum_app.test_cli_runner().invoke(args=["forum", "sync", "--quiet"]).exit_code == 0
    db.rollback()
    electorate = freshness.electorate_at(db, opened)
    listed = sum(1 for u in forum.data.users.values() if u.human and u.active and not u.staged)
    assert len(electorate) == listed
    marlow = next(e for e in electorate if e.username == "marlow_p")
    assert marlow.trust_level == 2  # as of the opening
    assert freshness.evidence_at(db, marlow.forum_user_id, utcnow()).trust_level == 4

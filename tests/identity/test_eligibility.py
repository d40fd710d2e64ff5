"""Who may vote: every clause of the pure rule, its plain-words reasons, and the evidence behind them."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest

from governance.identity.eligibility import Evidence, Rule, check
from governance.identity.forum import evidence_from_admin
from tests.conftest import forum_adapter

OPENS = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
OLD = datetime(2019, 3, 4, tzinfo=UTC)


def person(**changes) -> Evidence:
    """A long-standing TL2 member in sig-docs, unless told otherwise."""
    data = dict(
        forum_user_id=42, username="kim", created_at=OLD, trust_level=2, groups=frozenset({"sig-docs"})
    )
    data.update(changes)
    return Evidence(**data)


def reasons(rule: Rule, evidence: Evidence, **kwargs) -> tuple[str, ...]:
    verdict = check(rule, evidence, opens_at=OPENS, **kwargs)
    assert verdict.ok is (not verdict.reasons)
    return verdict.reasons


def test_an_ordinary_member_may_vote():
    assert check(Rule(), person(), opens_at=OPENS).ok


def test_account_created_after_the_poll_opened_exact_sentence():
    evidence = person(created_at=datetime(2024, 5, 2, 9, 30, tzinfo=UTC))
    assert reasons(Rule(), evidence) == (
        "your forum account was created on 2 May 2024, after this poll opened on 1 May 2024",
    )


def test_account_created_at_the_opening_instant_is_too_late():
    assert "after this poll opened" in reasons(Rule(), person(created_at=OPENS))[0]
    assert reasons(Rule(), person(created_at=OPENS - timedelta(seconds=1))) == ()


def test_unknown_creation_date_is_a_reason():
    assert reasons(Rule(), person(created_at=None)) == (
        "the forum did not say when your account was created",
    )


def test_minimum_account_age():
    rule = Rule(min_account_age_days=30)
    assert reasons(rule, person(created_at=OPENS - timedelta(days=30))) == ()
    assert reasons(rule, person(created_at=datetime(2024, 4, 20, tzinfo=UTC))) == (
        "your forum account was created on 20 April 2024; this poll needs accounts created at least "
        "30 days before it opened on 1 May 2024",
    )


def test_minimum_trust_level():
    rule = Rule(min_trust_level=3)
    assert reasons(rule, person(trust_level=3)) == ()
    assert reasons(rule, person(trust_level=1)) == ("this poll needs trust level 3; yours is 1",)


def test_any_of_one_group():
    rule = Rule(groups=("sig-security",))
    assert reasons(rule, person()) == (
        "this poll is for members of sig-security, and you were not in it when it opened",
    )
    assert reasons(rule, person(groups=frozenset({"sig-security"}))) == ()


def test_any_of_several_groups():
    rule = Rule(groups=("sig-security", "sig-release"))
    assert reasons(rule, person(groups=frozenset({"sig-release"}))) == ()
    assert reasons(rule, person()) == (
        "this poll is for members of sig-security, sig-release, and you were not in any of them when it opened",
    )


def test_all_groups():
    rule = Rule(groups=("sig-security", "sig-release", "sig-docs"), groups_mode="all")
    assert reasons(rule, person(groups=frozenset({"sig-security", "sig-release", "sig-docs", "x"}))) == ()
    assert reasons(rule, person()) == (
        "this poll needs membership of every group listed; you were not in sig-release, sig-security when it opened",
    )


def test_the_frozen_group_snapshot_overrides_current_groups():
    rule = Rule(groups=("sig-security",))
    joined_later = person(groups=frozenset({"sig-security"}))
    assert "you were not in it" in reasons(rule, joined_later, groups=[])[0]
    assert reasons(rule, person(), groups=["sig-security"]) == ()


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"suspended": True}, "your forum account is suspended"),
        ({"silenced": True}, "your forum account is silenced"),
        ({"staged": True}, "staged forum accounts (created by email, never activated) cannot vote"),
        ({"active": False}, "your forum account is not activated"),
        ({"forum_user_id": -1, "username": "system"}, "system accounts cannot vote"),
        ({"forum_user_id": 0}, "system accounts cannot vote"),
    ],
)
def test_barred_accounts(changes, reason):
    assert reasons(Rule(), person(**changes)) == (reason,)


def test_every_failing_clause_is_reported_in_order():
    rule = Rule(groups=("sig-security",), min_trust_level=2)
    evidence = person(
        suspended=True, silenced=True, trust_level=0, created_at=datetime(2024, 6, 1, tzinfo=UTC)
    )
    assert reasons(rule, evidence) == (
        "your forum account is suspended",
        "your forum account is silenced",
        "your forum account was created on 1 June 2024, after this poll opened on 1 May 2024",
        "this poll needs trust level 2; yours is 0",
        "this poll is for members of sig-security, and you were not in it when it opened",
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"groups_mode": "most"}, "groups_mode"),
        ({"min_trust_level": 5}, "min_trust_level"),
        ({"min_trust_level": -1}, "min_trust_level"),
        ({"min_account_age_days": -3}, "min_account_age_days"),
    ],
)
def test_invalid_rules_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Rule(**kwargs)


def test_rule_round_trips_and_describes_itself():
    rule = Rule(
        groups=("sig-security", "sig-release"), groups_mode="all", min_trust_level=2, min_account_age_days=30
    )
    assert Rule.from_dict(rule.to_dict()) == rule
    assert rule.describe() == (
        "Forum members whose account was at least 30 days old when the poll opened with trust level 2 or higher "
        "in all of the groups sig-security, sig-release."
    )
    assert Rule().describe() == "Forum members whose account was created before the poll opened."


# === evidence from the forum's admin API ===


def test_expired_penalties_do_not_count():
    now = datetime.now(UTC)
    raw = {
        "id": 5,
        "username": "kim",
        "created_at": "2019-03-04T00:00:00.000Z",
        "trust_level": 2,
        "suspended_at": (now - timedelta(days=10)).isoformat(),
        "suspended_till": (now - timedelta(days=1)).isoformat(),
        "silenced_till": (now - timedelta(days=1)).isoformat(),
        "groups": [{"name": "sig-docs"}, {"id": 3}],
    }
    evidence = evidence_from_admin(raw)
    assert not evidence.suspended and not evidence.silenced
    assert evidence.groups == frozenset({"sig-docs"}) and evidence.created_at == datetime(
        2019, 3, 4, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "username, reason",
    [
        ("grumbleweed", "your forum account is suspended"),
        ("shoutcaps", "your forum account is silenced"),
        ("mailbox_guest", "staged forum accounts (created by email, never activated) cannot vote"),
        ("pending_pip", "your forum account is not activated"),
        ("system", "system accounts cannot vote"),
        ("fresh_sprout", "this poll needs trust level 1; yours is 0"),
    ],
)
def test_seeded_forum_accounts_get_their_reasons(forum, username, reason):
    evidence, _raw = forum_adapter(forum).evidence(forum.data.user(username).id)
    opens = datetime.now(UTC) + timedelta(hours=1)
    assert reason in check(Rule(min_trust_level=1), evidence, opens_at=opens).reasons


def test_a_brand_new_account_is_told_the_dates(forum):
    evidence, _raw = forum_adapter(forum).evidence(forum.data.user("justjoined").id)
    opened = datetime.now(UTC) - timedelta(days=2)
    [reason] = check(Rule(), evidence, opens_at=opened).reasons
    assert reason.startswith("your forum account was created on ") and reason.endswith(
        f"after this poll opened on {opened.day} {opened:%B %Y}"
    )


# === through the web: the ballot page says why ===


@pytest.mark.parametrize(
    "username, reason",
    [
        ("fresh_sprout", "this poll needs trust level 1; yours is 0"),
        ("shoutcaps", "your forum account is silenced"),
    ],
)
def test_an_ineligible_member_sees_why_on_the_ballot_page(browser, forum, db, username, reason):
    from governance.polls import charter, service
    from governance.polls.service import PollInput
    from tests.conftest import sync_member

    now = datetime.now(UTC).replace(microsecond=0)
    opens, closes = now + timedelta(hours=2), now + timedelta(days=3)
    committee = sync_member(db, forum, "tamsin_ward")
    current = charter.current(db)
    data = PollInput(
        body="community",
        kind="decision",
        method="irv",
        title="Pick the release name",
        description="Which name?",
        options=["Ash", "Birch"],
        opens_at=opens,
        closes_at=closes,
    )
    poll = service.create(session=db, actor=committee, charter=current, data=data)
    service.schedule(session=db, actor=committee, charter=current, poll=poll, now=now)
    db.commit()
    browser.app.config["FAKE_NOW"] = opens + timedelta(minutes=1)  # the poll pages open it on their clock

    browser.login(username)
    response = browser.client.get(f"/polls/{poll.id}/ballot")
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 403
    assert "You may not vote in this poll." in text and reason[:1].upper() + reason[1:] in text

"""``flask forum sync``: every known member refreshed from the stand-in forum, paced, all or nothing."""

from __future__ import annotations

import time

import pytest

from governance.errors import ForumUnavailable, NotFound
from governance.identity import sync
from tests.conftest import forum_adapter, login, make_member, sync_member
from tests.identity.conftest import closed_port, member_rows, session_rows, who

UNPACED = ["forum", "sync", "--per-minute", "0"]


def by_name(app) -> dict:
    return {m.username: m for m in member_rows(app)}


@pytest.fixture
def known(db, forum):
    """Three members the platform knows, as they were at their last login."""
    return {name: sync_member(db, forum, name) for name in ("marlow_p", "ysolde_k", "halvard")}


def test_sync_refreshes_members_and_ends_suspended_members_sessions(forum_app, forum, known):
    runner = forum_app.test_cli_runner()
    marlow, ysolde = forum_app.test_client(), forum_app.test_client()
    login(forum_app, marlow, known["marlow_p"])
    login(forum_app, forum_app.test_client(), known["marlow_p"])  # a second device
    login(forum_app, ysolde, known["ysolde_k"])
    assert who(marlow) == "marlow_p" and who(ysolde) == "ysolde_k"

    forum.data.suspend("marlow_p")
    forum.data.set_trust_level("ysolde_k", 4)
    forum.data.add_to_group("sig-release", "halvard")
    with forum.data.lock:
        forum.data.user("halvard").name = "Halvard the Elder"

    result = runner.invoke(args=UNPACED)
    assert result.exit_code == 0, result.output
    assert "Refreshed 3 member(s) from the forum" in result.output
    assert "changed: halvard, marlow_p, ysolde_k" in result.output
    assert "newly suspended: marlow_p" in result.output
    assert "login sessions ended: 2" in result.output
    assert (
        "group steering-committee: 6 member(s) on the forum, 2 known here (halvard, ysolde_k)"
        in result.output
    )

    members = by_name(forum_app)
    assert members["marlow_p"].suspended and not members["marlow_p"].is_active
    assert members["ysolde_k"].trust_level == 4 and "trust_level_4" in members["ysolde_k"].groups
    assert "sig-release" in members["halvard"].groups and members["halvard"].name == "Halvard the Elder"
    assert members["halvard"].avatar_url.startswith(forum.url + "/letter_avatar_proxy/")
    assert "{size}" not in members["halvard"].avatar_url
    # The suspended member's cookies no longer log in; the others' still do.
    assert who(marlow) is None and who(ysolde) == "ysolde_k"
    revoked = [r.member_id for r in session_rows(forum_app) if r.revoked_at is not None]
    assert revoked == [members["marlow_p"].id] * 2

    again = runner.invoke(args=UNPACED)
    assert again.exit_code == 0 and "changed: none" in again.output and "newly suspended" not in again.output


def test_sync_keeps_a_renamed_account_as_the_same_member(forum_app, forum, known):
    with forum.data.lock:
        forum.data.user("marlow_p").username = "marlow_penrose"
    result = forum_app.test_cli_runner().invoke(args=UNPACED)
    assert result.exit_code == 0, result.output
    members = by_name(forum_app)
    assert "marlow_p" not in members and members["marlow_penrose"].id == known["marlow_p"].id


def test_sync_marks_accounts_gone_from_the_forum(forum_app, forum, known, db):
    ghost = make_member(db, username="ghost", forum_user_id=987654)
    client = forum_app.test_client()
    login(forum_app, client, ghost)
    result = forum_app.test_cli_runner().invoke(args=UNPACED)
    assert result.exit_code == 0, result.output
    assert "no longer on the forum (marked inactive): ghost" in result.output
    assert not by_name(forum_app)["ghost"].active
    assert who(client) is None


def test_sync_with_the_forum_down_exits_non_zero_and_changes_nothing(forum_app, forum, known):
    client = forum_app.test_client()
    login(forum_app, client, known["marlow_p"])
    before = {m.username: m.model_dump() for m in member_rows(forum_app)}
    forum.data.suspend("marlow_p")
    forum_app.config["DISCOURSE_URL"] = f"http://127.0.0.1:{closed_port()}"

    result = forum_app.test_cli_runner().invoke(args=UNPACED)
    assert result.exit_code == 1
    assert "forum sync stopped and changed nothing: The forum could not be reached" in result.output
    assert {m.username: m.model_dump() for m in member_rows(forum_app)} == before
    assert who(client) == "marlow_p"


def test_sync_failing_half_way_changes_nothing(forum_app, forum, known):
    """Two members' records arrive, then the forum refuses: neither is written."""
    forum.data.set_trust_level("marlow_p", 4)
    forum.data.set_trust_level("ysolde_k", 1)
    forum.data.suspend("halvard")
    before = {m.username: m.model_dump() for m in member_rows(forum_app)}
    calls_before_users = 1 + 5  # /groups.json, then the five custom groups' first pages
    forum.data.set_rate_limit(calls_before_users + 2)

    result = forum_app.test_cli_runner().invoke(args=[*UNPACED, "--max-wait", "1"])
    assert result.exit_code == 1
    assert "changed nothing: The forum asked us to slow down" in result.output
    assert {m.username: m.model_dump() for m in member_rows(forum_app)} == before
    fetched = [p for _m, p, _u in forum.data.api_requests() if p.startswith("/admin/users/")]
    assert len(fetched) == 3 + 2  # three at setup, two before the refusal


def test_sync_waits_out_a_short_rate_limit(forum_app, forum, known):
    forum.data.set_trust_level("marlow_p", 4)
    forum.data.force_rate_limit(1, wait_seconds=1)
    started = time.monotonic()
    result = forum_app.test_cli_runner().invoke(args=UNPACED)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 2  # the forum's wait_seconds + 1, then a retry
    assert by_name(forum_app)["marlow_p"].trust_level == 4


def test_sync_gives_up_within_its_time_budget(forum_app, forum, known):
    started = time.monotonic()
    result = forum_app.test_cli_runner().invoke(
        args=["forum", "sync", "--per-minute", "120", "--max-time", "1.5"]
    )
    assert time.monotonic() - started < 3
    assert result.exit_code == 1
    assert "would take longer than its limit of 1.5 seconds" in result.output


def test_group_members_are_paged_through_meta_total(forum_app, forum, known):
    forum.data.create_group("big-team")
    for i in range(120):
        forum.data.add_user(f"member{i:03}", groups=["big-team"])
    forum.data.add_to_group("big-team", "ysolde_k")
    result = forum_app.test_cli_runner().invoke(args=UNPACED)
    assert result.exit_code == 0, result.output
    assert "group big-team: 121 member(s) on the forum, 1 known here (ysolde_k)" in result.output
    pages = [p for _m, p, _u in forum.data.api_requests() if p == "/groups/big-team/members.json"]
    assert len(pages) == 3  # 50 + 50 + 21


def test_every_group_is_listed_across_pages(forum):
    for i in range(40):
        forum.data.create_group(f"team-{i:02}")
    names = {g["name"] for g in forum_adapter(forum).groups()}
    assert {f"team-{i:02}" for i in range(40)} <= names and "steering-committee" in names
    assert len(names) > 36  # more than one page of /groups.json


def test_every_call_is_paced(db, forum, known):
    """At 60 a minute the sync sleeps a second between calls, and counts every call."""
    slept: list[float] = []
    pace = sync.Pacer(per_minute=60, max_seconds=600, clock=lambda: 0.0, sleep=slept.append)
    report = sync.sync_members(session=db, forum=forum_adapter(forum), pace=pace)
    assert report.refreshed == 3
    assert report.calls == 1 + 5 + 3  # groups list, five custom groups, three members
    assert slept == [1.0] * (report.calls - 1)


def test_pacer_budget():
    now = [0.0]
    pace = sync.Pacer(
        per_minute=60, max_seconds=2.5, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )
    pace(), pace(), pace()
    assert now[0] == 2.0
    with pytest.raises(ForumUnavailable, match="longer than its limit of 2.5 seconds"):
        pace()
    with pytest.raises(ValueError):
        sync.Pacer(per_minute=-1)


def test_sync_help_names_its_limits(forum_app):
    result = forum_app.test_cli_runner().invoke(args=["forum", "sync", "--help"])
    assert result.exit_code == 0
    assert "--per-minute" in result.output and "--max-wait" in result.output and "--max-time" in result.output


def test_a_group_deleted_during_the_sync_is_skipped(db, forum, known, monkeypatch):
    adapter = forum_adapter(forum)
    listed = adapter.group_members

    def group_members(name, **kwargs):
        if name == "sig-release":
            raise NotFound("The forum has no such group.")
        return listed(name, **kwargs)

    monkeypatch.setattr(adapter, "group_members", group_members)
    report = sync.sync_members(session=db, forum=adapter, pace=sync.Pacer(per_minute=0))
    assert report.refreshed == 3
    assert [name for name, _total, _known in report.groups] == [
        "sig-documentation",
        "sig-infrastructure",
        "sig-security",
        "steering-committee",
    ]


def test_a_key_the_forum_refuses_is_a_clear_error(forum_app, forum, known):
    forum_app.config["DISCOURSE_API_KEY"] = "wrong-key"
    result = forum_app.test_cli_runner().invoke(args=UNPACED)
    assert result.exit_code == 1
    assert "changed nothing: The forum refused the request for groups (HTTP 403)" in result.output

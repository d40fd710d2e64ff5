"""``flask forum sync``: every forum account read 100 a call within the API budget, resumable
(a run that stops or is killed continues where it stopped), incremental (only changed accounts
are written), reporting its progress."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from sqlmodel import select

from governance.forum_standin.seed import seed_forum
from governance.forum_standin.store import ForumData
from governance.forum_standin.testing import running_forum
from tests.conftest import login, sync_member
from tests.identity.conftest import member_rows, session_rows, who


def by_name(app) -> dict:
    return {m.username: m for m in member_rows(app)}


def list_pages(forum) -> list[int]:
    """The page numbers of every admin user list request the forum answered."""
    with forum.data.lock:
        pairs = list(zip(forum.data.api_requests(), forum.data.queries, strict=True))
    return [int(dict(parse_qsl(q)).get("page", 1)) for (_, path, _), q in pairs
            if path.startswith("/admin/users/list/")]


def listed(forum) -> int:
    """Accounts the admin list shows: active, not staged, not bots."""
    return sum(1 for u in forum.data.users.values() if u.human and u.active and not u.staged)


def sync(app, *args):
    result = app.test_cli_runner().invoke(args=["forum", "sync", *args])
    return result


def test_sync_reads_every_account_and_ends_suspended_members_sessions(forum_app, forum, db):
    marlow = sync_member(db, forum, "marlow_p")
    browser = forum_app.test_client()
    login(forum_app, browser, marlow)
    forum.data.suspend("marlow_p")
    forum.data.set_trust_level("ysolde_k", 4)
    forum.data.add_to_group("sig-release", "halvard")

    result = sync(forum_app)
    assert result.exit_code == 0, result.output
    members = by_name(forum_app)
    listed = [u for u in forum.data.users.values() if u.human and u.active and not u.staged]
    assert set(members) == {u.username for u in listed}  # every active account, not only known ones
    assert members["marlow_p"].suspended and who(browser) is None
    assert "newly suspended: marlow_p" in result.output and "login sessions ended: 1" in result.output
    assert members["ysolde_k"].trust_level == 4 and "trust_level_4" in members["ysolde_k"].groups
    assert "sig-release" in members["halvard"].groups and "moderators" in members["halvard"].groups
    assert members["shoutcaps"].silenced and members["grumbleweed"].suspended
    created = forum.data.user("fresh_sprout").created_at
    assert abs((members["fresh_sprout"].forum_created_at - created).total_seconds()) < 0.001  # to the ms
    assert "pass 1 finished" in result.output
    assert "group sig-security: 7 member(s) on the forum" in result.output


def test_a_second_pass_writes_only_what_changed(forum_app, forum, db):
    assert sync(forum_app).exit_code == 0
    from governance.models import ForumObservation

    rows = db.exec(select(ForumObservation)).all()
    first = len(rows)
    db.rollback()
    forum.data.set_trust_level("marlow_p", 3)
    result = sync(forum_app)
    assert result.exit_code == 0, result.output
    assert "changed: 1 (marlow_p)" in result.output and "pass 2 finished" in result.output
    db.rollback()  # end the read transaction, to see the sync's commits
    rows = db.exec(select(ForumObservation).order_by(ForumObservation.id)).all()
    assert len(rows) == first + 1 and rows[-1].evidence["trust_level"] == 3


def big_forum(accounts: int) -> ForumData:
    data = seed_forum()
    for n in range(accounts):
        data.add_user(f"member{n:04d}", trust_level=n % 5)
    return data


def test_a_stopped_run_continues_where_it_stopped(app):
    with running_forum(data=big_forum(250)) as forum:
        app.config["DISCOURSE_URL"] = forum.url
        first = sync(app, "--max-pages", "2")
        assert first.exit_code == 0, first.output
        assert "stopped at page 3" in first.output and "run again to continue" in first.output
        assert list_pages(forum) == [1, 2]
        assert len(member_rows(app)) == 200
        second = sync(app)
        assert second.exit_code == 0, second.output
        assert list_pages(forum) == [1, 2, 3, 4]  # pages 3 and 4 only: nothing read twice
        assert "pass 1 finished" in second.output
        assert len(member_rows(app)) == listed(forum)


def test_a_killed_run_keeps_its_pages_and_the_next_run_continues(app):
    """The forum fails on page 2 (as a kill would stop it): page 1 is kept, page 2 is read next."""
    with running_forum(data=big_forum(250)) as forum:
        app.config["DISCOURSE_URL"] = forum.url
        original = forum.data.check_rate_limit

        def fail_on_page_2(key):
            if len(list_pages(forum)) == 1:
                return 120  # a long back-off: the run gives up
            return original(key)

        forum.data.check_rate_limit = fail_on_page_2
        failed = sync(app, "--max-time", "5")
        assert failed.exit_code == 1
        assert "every page read so far is kept" in failed.output
        assert len(member_rows(app)) == 100
        forum.data.check_rate_limit = original
        again = sync(app)
        assert again.exit_code == 0, again.output
        assert list_pages(forum) == [1, 2, 3, 4]
        assert len(member_rows(app)) == listed(forum)


def test_progress_is_reported_per_page(app):
    with running_forum(data=big_forum(150)) as forum:
        app.config["DISCOURSE_URL"] = forum.url
        result = sync(app)
        assert result.exit_code == 0
        assert "page 1 read, 100 account(s) this run" in result.output
        assert "page 2 read, 200 account(s) this run" in result.output
        assert f"page 3 read, {listed(forum)} account(s) this run" in result.output


def test_an_account_deleted_on_the_forum_is_marked_and_its_sessions_end(forum_app, forum, db):
    assert sync(forum_app).exit_code == 0
    marlow = next(m for m in member_rows(forum_app) if m.username == "marlow_p")
    browser = forum_app.test_client()
    login(forum_app, browser, marlow)
    forum.data.delete_user("marlow_p")
    result = sync(forum_app)
    assert result.exit_code == 0, result.output
    assert "no longer on the forum or deactivated: marlow_p" in result.output
    assert not by_name(forum_app)["marlow_p"].active and who(browser) is None
    assert all(r.revoked_at is not None for r in session_rows(forum_app))


def test_a_renamed_account_stays_the_same_member(forum_app, forum):
    assert sync(forum_app).exit_code == 0
    before = by_name(forum_app)["marlow_p"].id
    forum.data.user("marlow_p").username = "marlow_penrose"
    assert sync(forum_app).exit_code == 0
    assert by_name(forum_app)["marlow_penrose"].id == before and "marlow_p" not in by_name(forum_app)


def test_a_key_the_forum_refuses_is_a_clear_error(forum_app, forum):
    forum_app.config["DISCOURSE_API_KEY"] = "wrong-key"
    result = sync(forum_app)
    assert result.exit_code == 1
    assert "HTTP 403" in result.output


def test_the_sync_stays_within_discourses_limit(app):
    """Against the forum's own 60-a-minute limit the sync gets no 429: it paces itself."""
    with running_forum(data=big_forum(100), discourse_limits=True) as forum:
        app.config["DISCOURSE_URL"] = forum.url
        app.config["DISCOURSE_API_LIMIT"] = 60
        assert sync(app).exit_code == 0
        assert forum.data.refusals == []


def test_help_names_the_options(forum_app):
    result = sync(forum_app, "--help")
    assert "--max-time" in result.output and "--max-pages" in result.output and "continues" in result.output


@pytest.fixture
def clock():
    now = [1_000_000.0]
    return now


def test_budget_keeps_a_reserve_for_pages_and_never_passes_the_limit(app, clock):
    from governance.identity.budget import Budget, per_window

    engine = app.extensions["governance.engine_counters"]
    app.config["DISCOURSE_API_LIMIT"] = 60
    background = Budget(engine, background=True, clock=lambda: clock[0])
    page = Budget(engine, clock=lambda: clock[0])
    assert per_window(60) * 7 <= 60  # no sliding minute can see more than the forum allows
    granted = sum(background.take() == 0.0 for _ in range(20))
    assert granted == per_window(60) - 2  # background work leaves two calls a window
    assert [page.take() == 0.0 for _ in range(3)] == [True, True, False]
    clock[0] += 10  # the next window
    assert background.take() == 0.0

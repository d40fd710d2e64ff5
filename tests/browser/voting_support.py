"""A live voting site for browser tests: the app on a real port, wired to the stand-in forum,
with one open decision poll that four other members have already voted in.

The app's clock is ``FAKE_NOW``: the poll opens at ``OPEN`` and closes at ``CLOSE``; a test moves
the clock with ``site.at(moment)`` and the next poll page request opens or closes the poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from governance.db import dispose as dispose_engines
from governance.polls import charter, service
from governance.polls.service import PollInput
from tests.conftest import LiveServer, cast_ranking, make_test_app, run_clock, sync_member

NOW = datetime.now(UTC).replace(microsecond=0)
OPEN = NOW + timedelta(hours=2)
CLOSE = NOW + timedelta(days=3)
OPTIONS = ["Ash", "Birch", "Cedar"]
# Cast before the browser votes. With the browser's final ballot Cedar > Ash > Birch the count
# takes two rounds and has no tie: Ash 2, Birch 2, Cedar 1; Cedar is excluded and its vote goes
# to Ash, who wins 3 to 2.
OTHER_BALLOTS = {"halvard": [["Ash"]], "quillon": [["Ash"]], "inkwell": [["Birch"]], "rackham": [["Birch"]]}


@dataclass
class Site:
    """The running app, its forum and the poll under test."""

    app: object
    url: str
    forum: object
    poll_id: int

    def at(self, moment: datetime) -> None:
        """Move the app's clock."""
        self.app.config["FAKE_NOW"] = moment

    def poll_url(self, suffix: str = "") -> str:
        """An absolute URL of a page of the poll, e.g. ``poll_url("/ballot")``."""
        return f"{self.url}/polls/{self.poll_id}{suffix}"


def _open_poll_with_other_voters(app, forum, method: str) -> int:
    from governance.db import get_session

    with app.app_context():
        db = get_session()
        committee = sync_member(db, forum, "tamsin_ward")
        current = charter.current(db)
        data = PollInput(body="community", kind="decision", method=method, title="Pick the release name",
                         description="Which **name** should the next release carry?", options=list(OPTIONS),
                         opens_at=OPEN, closes_at=CLOSE)
        poll = service.create(session=db, actor=committee, charter=current, data=data)
        service.schedule(session=db, actor=committee, charter=current, poll=poll, now=NOW)
        db.commit()
        poll_id = poll.id
        voters = {name: sync_member(db, forum, name) for name in OTHER_BALLOTS}
    assert run_clock(app, OPEN, forum) == [(poll_id, "open")]
    with app.app_context():
        db = get_session()
        for name, ranking in OTHER_BALLOTS.items():
            cast_ranking(app, db, poll_id, db.merge(voters[name]), ranking, OPEN + timedelta(minutes=5))
            db.commit()
    return poll_id


@pytest.fixture
def poll_method() -> str:
    """The counting method of the poll (a test may parametrize this to another decision method)."""
    return "irv"


@pytest.fixture
def site(database_url, forum, poll_method):
    """The app served on a free port (its BASE_URL is that port, so DiscourseConnect returns to it)."""
    app = make_test_app(database_url, DISCOURSE_URL=forum.url, DISCOURSE_CONNECT_SECRET=forum.sso_secret,
                        DISCOURSE_API_KEY=forum.api_key, DISCOURSE_API_USERNAME=forum.api_username,
                        FAKE_NOW=NOW)
    server = LiveServer(app)  # the socket is bound here, so the URL is known before serving
    app.config["BASE_URL"] = server.url
    poll_id = _open_poll_with_other_voters(app, forum, poll_method)
    app.config["FAKE_NOW"] = OPEN + timedelta(minutes=10)
    with server:
        yield Site(app=app, url=server.url, forum=forum, poll_id=poll_id)
    dispose_engines(app)


def log_in_through_forum(page, site: Site, username: str, next_path: str) -> None:
    """Log in as the forum's login page offers: follow the redirect there and pick the member."""
    page.goto(f"{site.url}/auth/login?next={next_path}")
    assert page.url.startswith(site.forum.url + "/login"), page.url
    page.get_by_role("button", name=f"Be {username}", exact=True).click()
    page.wait_for_url(site.url + next_path)
    assert "Welcome," in page.locator(".flashes").inner_text()
    assert page.locator(".nav-user .who").inner_text() == username


def track_error_sources(page) -> None:
    """Record where each console error of ``page.watch`` came from, in the same order."""
    page.error_sources = []
    page.on("console", lambda msg: msg.type == "error" and page.error_sources.append(msg.location.get("url", "")))
    page.on("pageerror", lambda exc: page.error_sources.append("pageerror"))


def errors_on_our_pages(page, site: Site) -> list[str]:
    """The page watcher's errors, less the stand-in forum's missing favicon (not this app's page)."""
    assert len(page.error_sources) == len(page.watch.errors)
    favicon = site.forum.url + "/favicon.ico"
    return [error for error, source in zip(page.watch.errors, page.error_sources, strict=True) if source != favicon]


def active(page) -> str:
    """The name of the focused element: its aria-label, its <label>, its text, else its tag."""
    return page.evaluate("""() => { const e = document.activeElement;
        return e.getAttribute('aria-label') || (e.labels && e.labels.length ? e.labels[0].textContent.trim() : '')
            || e.textContent.trim() || e.tagName.toLowerCase(); }""")


def tab_to(page, name: str, *, backwards: bool = False, limit: int = 40) -> None:
    """Press Tab (or Shift+Tab) until the control labelled ``name`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if active(page) == name:
            return
    raise AssertionError(f"{name!r} is not reachable with the Tab key")

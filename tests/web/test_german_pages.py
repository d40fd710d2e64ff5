"""A member reading German sees German: the main pages, rendered for a German browser, hold no
English sentence of the platform's own (names, titles, hashes and the charter's data stay as
written). The scan looks for English function words in every visible text, so it also finds a
string that nobody marked for translation, which the catalogue's own test cannot see."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from governance.models import AuditEntry, Member, Poll, PollOption
from governance.polls import charter, service
from tests.conftest import cast_ranking, csrf_token, login, sync_member
from tests.polls.test_lifecycle import CLOSE, OPEN, committee, make_scheduled  # noqa: F401  (a fixture)
from tests.proposals.test_service import import_roadmap
from tests.web.test_polls_web import at, open_poll, web  # noqa: F401  (a fixture)

#: Words that are English and not also German: one of them in a text the platform wrote is English
#: left behind ("in", "an", "was", "will", "so" are German words too and are not listed).
ENGLISH = frozenset("""the and of your you is are with for this that be has have by not to at on or it its
    their when who may can yes no from been which would should every only into than there these those
    ballot ballots vote voting voted poll polls results round rounds candidate candidates
    options closes opens none""".split())
SKIP_TAGS = {"script", "style", "code", "pre", "svg", "title"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Text(HTMLParser):
    """Visible text nodes and aria-labels, outside code, scripts, the chart, documents' own text and
    what the page declares English on purpose (``lang="en"``: the tally's round notes, the audit
    log's texts)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skipping = 0
        self.stack: list[bool] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        # lang="en" marks English on purpose; .document and .diff-* hold what members wrote.
        english = (tag != "html" and dict(attrs).get("lang") == "en") or any(
            c == "document" or c.startswith("diff-") for c in classes)
        if tag in SKIP_TAGS or english:
            self.skipping += 1
        if tag in VOID:
            if tag in SKIP_TAGS or english:
                self.skipping -= 1
        else:
            self.stack.append(tag in SKIP_TAGS or english)
        for name, value in attrs:
            if name == "aria-label" and value:
                self.texts.append(value)

    def handle_endtag(self, tag):
        if tag not in VOID and self.stack and self.stack.pop():
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping and data.strip():
            self.texts.append(" ".join(data.split()))


def english_left(html: str, data_strings: set[str]) -> list[str]:
    """The visible texts of ``html`` that read as English once the site's data is taken out."""
    parser = _Text()
    parser.feed(html)
    found = []
    for text in parser.texts:
        for value in sorted(data_strings, key=len, reverse=True):
            if value and value in text:
                text = text.replace(value, " ")
        words = set(re.findall(r"[a-z]+", text.lower().replace("’", "'")))
        if words & ENGLISH:
            found.append(text)
    return found


def _strings_in(value, out: set[str]) -> set[str]:
    if isinstance(value, str):
        out.add(value)
    elif isinstance(value, dict):
        for item in value.values():
            _strings_in(item, out)
    elif isinstance(value, list | tuple):
        for item in value:
            _strings_in(item, out)
    return out


def site_data(session) -> set[str]:
    """What members and the charter wrote (stays as written): titles, options, names, the charter's data."""
    out = _strings_in(charter.current(session).data, set())
    out |= {p.title for p in session.exec(select(Poll)).all()}
    out |= {o.label for o in session.exec(select(PollOption)).all()}
    out |= {m.username for m in session.exec(select(Member)).all()}
    out |= {m.name for m in session.exec(select(Member)).all() if m.name}
    out |= {row.type for row in session.exec(select(AuditEntry)).all()}  # event types are identifiers
    out |= {"Which", "name", "Roadmap"}  # the poll's Markdown description; the roadmap's title
    return out


@pytest.fixture
def german(forum_app, web, session, committee, forum):  # noqa: F811
    """A German member's browser, an open poll they may vote in and a published one."""
    import_roadmap(session)
    published = open_poll(forum_app, session, committee, title="Pick a logo")
    voters = [sync_member(session, forum, name) for name in ("halvard", "inkwell", "rackham")]
    labels = [o.label for o in service.options(session, published)]
    web.get(f"/polls/{published.id}")  # the clock opens it
    session.rollback()
    for i, voter in enumerate(voters):
        # Ash, Ash, Birch first: Ash wins in round 1, so the page's words do not hang on a random tie-break.
        cast_ranking(forum_app, session, published.id, voter, [[labels[min(i, 2) // 2]], [labels[2]]],
                     OPEN + timedelta(minutes=i))
        session.commit()
    at(forum_app, CLOSE)
    web.get(f"/polls/{published.id}/results")  # counted and published
    session.rollback()
    current = open_poll(forum_app, session, committee, title="Pick the release name",
                        opens_at=CLOSE + timedelta(hours=1),
                        closes_at=CLOSE + timedelta(days=3))
    at(forum_app, CLOSE + timedelta(hours=2))
    web.get(f"/polls/{current.id}")  # the clock opens it
    session.rollback()
    member = sync_member(session, forum, "marlow_p")
    receipt = cast_ranking(forum_app, session, current.id, member, [["Ash"], ["Birch"]],
                           CLOSE + timedelta(hours=2))
    session.commit()
    web.receipt_path = f"/polls/{current.id}/receipt/{receipt.tracker}"
    login(forum_app, web, member)
    web.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de-AT,de;q=0.9"
    return web, current, published


def pages(client, current, published):
    return ["/", "/polls/", f"/polls/{current.id}", f"/polls/{current.id}/ballot", f"/polls/{published.id}",
            f"/polls/{published.id}/results", f"/polls/{published.id}/board", f"/polls/{published.id}/ballots",
            client.receipt_path, f"/polls/{current.id}/board", "/polls/reminders", "/documents/", "/documents/roadmap",
            "/documents/roadmap/history", "/documents/roadmap/v1", "/documents/roadmap/diff?from=1&to=1", "/charter/", "/audit/", "/audit/head",
            "/audit/tracker", "/audit/entries/1"]


def test_the_main_pages_hold_no_english_for_a_german_reader(german, session):
    client, current, published = german
    data = site_data(session)
    left = {}
    for path in pages(client, current, published):
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert '<html lang="de">' in html, path
        if found := english_left(html, data):
            left[path] = found
    assert left == {}, "\n".join(f"{p}: {t}" for p, ts in left.items() for t in ts)


def test_german_pages_write_numbers_and_months_in_german(german, session):
    client, current, published = german
    from babel.dates import format_date

    page = client.get(f"/polls/{current.id}").get_data(as_text=True)
    reader = session.exec(select(Member).where(Member.username == "marlow_p")).one()
    closes = current.closes_at.astimezone(ZoneInfo(reader.timezone or "UTC"))  # the zone the page shows
    german, english = format_date(closes, "d. MMMM y", locale="de"), f"{closes.day} {closes:%B %Y}"
    assert german in page and english not in page  # "5. Dezember 2026", not "5 December 2026"
    results = client.get(f"/polls/{published.id}/results").get_data(as_text=True)
    assert "3 Wählende" in results and "3 Stimmzettel" in results


def test_the_scan_finds_a_string_nobody_marked(german, session, forum_app):
    """A template with one sentence left unmarked fails the scan; marked, it passes."""
    client, *_ = german
    data = site_data(session)
    template = ('{% extends "base.html" %}{% block content %}<p>{{ _("Your vote") }}</p>'
                "<p>MARK</p>{% endblock %}")
    with forum_app.test_request_context("/", headers={"Accept-Language": "de"}):
        from flask import render_template_string

        forgotten = render_template_string(template.replace("MARK", "Ballots are counted after the close."))
        marked = render_template_string(template.replace("MARK", '{{ _("Your ballot") }}'))
    assert english_left(forgotten, data) == ["Ballots are counted after the close."]
    assert english_left(marked, data) == []


def test_the_scan_finds_a_marked_string_whose_translation_is_missing(german, session, monkeypatch):
    """A German catalogue that lost one entry shows the English on the page, and the scan says so."""
    from flask_babel import get_translations

    client, current, _published = german
    data = site_data(session)
    client.get("/")  # the catalogue is loaded
    with client.application.test_request_context("/", headers={"Accept-Language": "de"}):
        catalogue = get_translations()
        monkeypatch.delitem(catalogue._catalog, "Your vote")
    page = client.get(f"/polls/{current.id}").get_data(as_text=True)
    assert "Your vote" in english_left(page, data)


@pytest.mark.parametrize(("path", "status"), [("/polls/99999", 404), ("/no/such/page", 404),
                                              ("/language?lang=xx", 400)])
def test_error_pages_speak_german(german, session, path, status):
    client, *_ = german
    response = client.get(path)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert '<html lang="de">' in html and "Zurück zur Startseite" in html
    assert english_left(html, site_data(session)) == []


def test_a_refused_form_says_why_in_german(german, session):
    client, current, _published = german
    response = client.post(f"/polls/{current.id}/ballot", data={"poll": str(current.id)})  # no CSRF token
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Das Formular konnte nicht angenommen werden (Das CSRF-Token fehlt.)" in html
    assert english_left(html, site_data(session)) == []


def test_a_german_voter_gets_the_receipt_message_in_german(german, session, forum, forum_app):
    from governance.models import Outbox
    from governance.polls import outbox
    from tests.conftest import csrf_token, sync_member

    client, current, _published = german
    voter = sync_member(session, forum, "halvard")  # has not voted in the open poll
    login(forum_app, client, voter)
    page = client.get(f"/polls/{current.id}/ballot").get_data(as_text=True)
    nonce = re.search(r'name="nonce" value="([0-9a-f]+)"', page).group(1)
    ids = {o.label: o.id for o in session.exec(select(PollOption).where(PollOption.poll_id == current.id))}
    cast = client.post(f"/polls/{current.id}/ballot", data={
        "csrf_token": csrf_token(client, f"/polls/{current.id}/ballot"), "poll": str(current.id), "nonce": nonce,
        f"rank-{ids['Birch']}": "1", "receipt": "on", "confirm": "yes"})
    assert cast.status_code in (302, 303), cast.get_data(as_text=True)[:300]
    session.rollback()
    [job] = session.exec(select(Outbox).where(Outbox.kind == "receipt")).all()
    assert job.payload["language"] == "de"
    message = outbox.prepare(session, job.id, "http://example.test", None)["kwargs"]
    assert message["title"] == "Quittung für deinen Stimmzettel: Pick the release name"
    assert "Dein verschlüsselter Stimmzettel in **Pick the release name** wurde erfasst." in message["raw"]


def test_the_clock_writes_in_english_without_a_language():
    from governance.catalogue import texts

    assert texts(None).gettext("Your ballot receipt: %(title)s", title="T") == "Your ballot receipt: T"
    assert texts("fr").gettext("Reminders") == "Reminders" and texts("de-AT").gettext("Reminders") == "Erinnerungen"


def test_the_chairs_controls_hold_no_english_for_a_german_manager(german, session, forum_app, forum, committee):  # noqa: F811
    """A German manager sees the times page of a scheduled poll and of an open one (with a request
    of a second manager waiting), a test poll's page, and the times page refusing a request."""
    from governance.polls import timing

    _voter, current, _published = german
    now = CLOSE + timedelta(hours=2)  # the fixture's clock
    later = CLOSE + timedelta(days=2)
    scheduled = make_scheduled(session, committee, title="Rename the channel", opens_at=later,
                               closes_at=later + timedelta(days=2))
    rehearsal = make_scheduled(session, committee, title="Ceremony rehearsal", opens_at=later,
                               closes_at=later + timedelta(days=2), is_test=True)
    manager = forum_app.test_client()
    login(forum_app, manager, committee)
    manager.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    data = site_data(session) | {"The forum was down."}
    left = {}

    def scan(path, german_text):
        response = manager.get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and '<html lang="de">' in html and german_text in html, path
        if found := english_left(html, data):
            left.setdefault(path, []).extend(found)

    scan(f"/polls/{scheduled.id}/timing", "Abstimmung jetzt öffnen")
    scan(f"/polls/{current.id}/timing", "Vorzeitiges Ende beantragen")  # the forms to extend and close early
    second = sync_member(session, forum, "halvard")
    timing.request(session=session, actor=second, charter=charter.current(session), poll=session.get(Poll, current.id),
                   kind="extend", reason="The forum was down.", closes_at=current.closes_at + timedelta(days=1),
                   now=now)
    session.commit()
    scan(f"/polls/{current.id}/timing", "Zustimmen: Abstimmung verlängern")  # the request waiting
    scan(f"/polls/{current.id}", "Vorzeitig beenden oder verlängern…")
    scan(f"/polls/{rehearsal.id}", "Testabstimmung – nicht Teil der öffentlichen Aufzeichnungen.")
    scan("/polls/", "Deine Testabstimmungen (nicht öffentlich)")
    token = csrf_token(manager, f"/polls/{scheduled.id}/timing")
    too_long = manager.post(f"/polls/{scheduled.id}/timing", data={"csrf_token": token, "kind": "open_now",
                                                                  "reason": "x" * 1001})
    too_soon = manager.post(f"/polls/{current.id}/timing", data={"csrf_token": token, "kind": "close_early",
                                                                "reason": "Enough."})
    closes = (current.closes_at + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M")
    waiting = manager.post(f"/polls/{current.id}/timing", data={"csrf_token": token, "kind": "extend",
                                                               "reason": "Enough.", "closes_at": closes})
    for response, german_text in ((too_long, "Die Begründung ist länger als 1000 Zeichen."),
                                  (too_soon, "Die Abstimmung kann nicht vor "),
                                  (waiting, "wartet bereits auf eine zweite verwaltende Person")):
        html = response.get_data(as_text=True)
        assert response.status_code in (400, 409) and german_text in html, html
        if found := english_left(html, data):
            left.setdefault(response.request.path, []).extend(found)
    assert left == {}, "\n".join(f"{p}: {t}" for p, ts in left.items() for t in ts)
    rules = manager.get(f"/polls/{current.id}/timing").get_data(as_text=True)
    latest = timing.latest_close(session, session.get(Poll, current.id))
    assert f"{latest:%d %B %Y %H:%M} UTC" not in rules  # the rule's time is written the German way

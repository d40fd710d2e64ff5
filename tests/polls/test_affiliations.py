"""Affiliation caps end to end through the platform, on SQLite and PostgreSQL: candidates declare an
affiliation, the count respects the charter's cap, the results page shows its effect round by
round, and the bundle's verifier re-counts it.

The case, counted by hand (Scottish STV, 2 seats, at most 1 seat per affiliation, 10 ballots):

    4 x halvard > quillon      halvard: Acme        Droop quota = floor(10 / 3) + 1 = 4
    3 x quillon                quillon: "  ACME "   (the same affiliation: case and spacing do not count)
    2 x ysolde_k               ysolde_k: Beta Labs
    1 x bartek_m               bartek_m: none declared

First stage: halvard 4, quillon 3, ysolde_k 2, bartek_m 1. halvard reaches the quota and is elected
(surplus 0); Acme now holds its one seat, so quillon is excluded in the same stage (the cap), and
quillon's 3 papers, naming nobody else, are exhausted. Two hopefuls remain for one seat: bartek_m
(1) is excluded next, and ysolde_k, the only hopeful left for the last seat, is elected.
Elected: halvard, ysolde_k. Without the cap: halvard, then bartek_m and ysolde_k are excluded in
turn (1, then 2 votes against quillon's 3), and quillon is elected: halvard, quillon.
"""

from __future__ import annotations

import html
import json
from datetime import timedelta

import pytest

from governance.audit import export
from governance.audit.verifier import verify_bundle
from governance.errors import InvalidInput
from governance.models import Poll
from governance.polls import charter, counting, nominations, service
from governance.polls.service import PollInput
from tests.audit.audit_support import read_zip, tamper
from tests.conftest import cast_ranking, csrf_token, login, run_clock
from tests.polls.officers_support import CLOSE, NOW, OPEN, close_and_count, members, with_body

CANDIDATES = {"halvard": "Acme", "quillon": "  ACME ", "ysolde_k": "Beta Labs", "bartek_m": ""}
VOTERS = ["marlow_p", "cipher_wren", "lockpick_lu", "nullroute", "tessellate", "pebble_dash", "kestrel_j", "umbra",
          "fennel_q", "larkspur"]
BALLOTS = [[["halvard"], ["quillon"]]] * 4 + [[["quillon"]]] * 3 + [[["ysolde_k"]]] * 2 + [[["bartek_m"]]]


@pytest.fixture
def people(session, forum):
    return members(session, forum, "tamsin_ward", *CANDIDATES, *VOTERS)


def _election(session, committee, *, title="Steering committee 2027", seats=2):
    current = charter.current(session)
    data = PollInput(body="community", kind="election", method="scottish", seats=seats, title=title,
                     nominations_open_at=NOW - timedelta(minutes=1), nominations_close_at=NOW + timedelta(hours=1),
                     opens_at=OPEN, closes_at=CLOSE)
    poll = service.create(session=session, actor=committee, charter=current, data=data, now=NOW)
    service.schedule(session=session, actor=committee, charter=current, poll=poll, now=NOW)
    session.commit()
    return poll


def _stand(session, poll, people, candidates=CANDIDATES):
    for name, affiliation in candidates.items():
        nominations.nominate(session=session, actor=people[name], poll=poll, nominee=people[name],
                         statement=f"I am {name}.", conflicts="", now=NOW, affiliation=affiliation)
    session.commit()


def _vote_and_count(app, session, poll, people):
    assert run_clock(app, OPEN) == [(poll.id, "close-nominations"), (poll.id, "open")]
    session.rollback()
    session.expire_all()
    for voter, ranking in zip(VOTERS, BALLOTS, strict=True):
        cast_ranking(app, session, poll.id, people[voter], ranking, OPEN + timedelta(minutes=5))
        session.commit()
    close_and_count(app, session, poll)
    return session.get(Poll, poll.id)


def test_the_cap_decides_the_second_seat_and_the_verifier_recounts_it(forum_app, forum, session, people):
    with_body(session, "community", max_seats_per_affiliation=1)
    poll = _election(session, people["tamsin_ward"])
    assert poll.rules["max_seats_per_affiliation"] == 1
    _stand(session, poll, people)
    poll = _vote_and_count(forum_app, session, poll, people)
    assert poll.status == "published"
    result = poll.result
    assert result["elected"] == ["halvard", "ysolde_k"]
    first = result["rounds"][0]
    assert first["elected"] == ["halvard"] and "quillon" in first["excluded"]
    assert "holds its maximum of 1 seat" in first["extra"]["constraint"]["quillon"]
    election = counting.election_dict(session, poll)
    assert election["options"] == {"max_per_affiliation": 1,
                                   "affiliations": {"halvard": "acme", "quillon": "acme", "ysolde_k": "beta labs"}}

    page = " ".join(html.unescape(forum_app.test_client().get(f"/polls/{poll.id}/results").get_data(as_text=True))
                    .split())
    assert 'id="affiliation-cap"' in page
    assert f"Round {first['round']}: quillon excluded: affiliation 'acme' holds its maximum of 1 seat." in page
    assert "<td>Beta Labs</td>" in page and "<td>none declared</td>" in page

    bundle = export.poll_bundle(session, poll.id)
    report = verify_bundle(bundle)
    assert report.ok, report.first_problem
    assert "at most 1 seat(s) per affiliation, 3 candidate(s) affiliated" in report.check("rules").detail
    assert "elected: halvard, ysolde_k" in report.check("recount").detail
    # Tampering with the cap's inputs in election.json is caught before the re-count even runs.
    data = json.loads(read_zip(bundle)["election.json"])
    moved = dict(data, options={**data["options"], "affiliations": {"halvard": "acme", "ysolde_k": "beta labs"}})
    report = verify_bundle(tamper(bundle, {"election.json": json.dumps(moved).encode()}))
    assert report.first_problem.name == "rules" and "affiliations" in report.first_problem.detail
    uncapped = dict(data, options={})
    report = verify_bundle(tamper(bundle, {"election.json": json.dumps(uncapped).encode()}))
    assert report.first_problem.name == "rules" and "cap of None" in report.first_problem.detail


def test_the_same_ballots_without_the_cap_elect_the_second_acme_candidate(forum_app, forum, session, people):
    poll = _election(session, people["tamsin_ward"])
    assert poll.rules["max_seats_per_affiliation"] is None
    _stand(session, poll, people)
    poll = _vote_and_count(forum_app, session, poll, people)
    assert poll.result["elected"] == ["halvard", "quillon"]
    assert counting.election_dict(session, poll)["options"] == {}
    assert verify_bundle(export.poll_bundle(session, poll.id)).ok


def test_candidates_must_declare_under_a_cap_and_an_unfillable_cap_cancels(forum_app, forum, session, people):
    with_body(session, "community", max_seats_per_affiliation=1)
    poll = _election(session, people["tamsin_ward"])
    halvard = people["halvard"]
    with pytest.raises(InvalidInput) as err:
        nominations.nominate(session=session, actor=halvard, poll=poll, nominee=halvard, statement="Me.",
                         conflicts="", now=NOW)
    assert err.value.reasons[0][0] == "affiliation"
    session.rollback()
    with pytest.raises(InvalidInput):
        nominations.nominate(session=session, actor=halvard, poll=poll, nominee=halvard, statement="Me.",
                         conflicts="", now=NOW, affiliation="x" * 101)
    session.rollback()
    # Nominated by someone else: the nominee declares when accepting.
    nominations.nominate(session=session, actor=halvard, poll=poll, nominee=people["quillon"], statement="",
                     conflicts="", now=NOW)
    session.commit()
    with pytest.raises(InvalidInput):
        nominations.accept_nomination(session=session, actor=people["quillon"], poll=poll, statement="Yes.",
                                  conflicts="", now=NOW)
    session.rollback()
    nominations.accept_nomination(session=session, actor=people["quillon"], poll=poll, statement="Yes.", conflicts="",
                              now=NOW, affiliation="Acme")
    _stand(session, poll, people, {"halvard": "acme", "bartek_m": "ACME"})
    # Three Acme candidates for two seats at most one per affiliation: the seats cannot be filled.
    assert run_clock(forum_app, OPEN) == [(poll.id, "close-nominations"), (poll.id, "cancelled")]
    session.rollback()
    session.expire_all()
    poll = session.get(Poll, poll.id)
    assert poll.status == "cancelled" and "only 1 of the 3 accepted candidates can be elected" in poll.cancel_reason


def test_the_nomination_form_takes_the_affiliation(forum_app, forum, session, people):
    with_body(session, "community", max_seats_per_affiliation=2)
    poll = _election(session, people["tamsin_ward"])
    forum_app.config["FAKE_NOW"] = NOW
    client = forum_app.test_client()
    login(forum_app, client, people["ysolde_k"])
    page = client.get(f"/polls/{poll.id}").get_data(as_text=True)
    assert 'name="affiliation"' in page and "at most 2 members of the same affiliation" in page
    token = csrf_token(client, f"/polls/{poll.id}")
    refused = client.post(f"/polls/{poll.id}/nominations", data={"csrf_token": token, "statement": "Hi."})
    assert refused.status_code == 400 and b"declare your affiliation" in refused.data
    ok = client.post(f"/polls/{poll.id}/nominations", data={"csrf_token": token, "statement": "Hi.",
                                                             "no_affiliation": "on"})
    assert ok.status_code == 302
    assert "Affiliation:</strong> none declared" in client.get(f"/polls/{poll.id}").get_data(as_text=True)

"""A poll whose title and options hold quotes, brackets, commas and the like is counted,
downloaded in every ballot format and audited like any other: every file reads back to the exact
names, and the bundle's manifest says where a file shows a name otherwise (ABIF cannot hold
some characters: it maps them and keeps the exact names in its metadata).
"""

from __future__ import annotations

import io
import json
import zipfile

from governance.audit import export
from governance.audit.verifier import verify_bundle
from governance.tally.abif import parse_abif
from governance.tally.blt import read_blt
from governance.tally.formats import parse_preflib
from tests.audit.audit_support import tamper
from tests.conftest import CLOSING_STEPS, cast_ranking, make_member, run_clock
from tests.secrecy.support import CLOSE, NOW, OPEN

TITLE = 'The "name" question: [draft], a,b #1'
OPTIONS = ['say "hi"', "[Chair]", "a,b", "back\\slash"]


def _closed_poll(app, session):
    from governance.polls import charter, service
    from governance.polls.service import PollInput

    chair = make_member(session, username="chair", forum_user_id=1, groups=["steering-committee"])
    data = PollInput(body="community", kind="decision", method="irv", title=TITLE, options=list(OPTIONS),
                     opens_at=OPEN, closes_at=CLOSE)
    poll = service.create(session=session, actor=chair, charter=charter.current(session), data=data)
    service.schedule(session=session, actor=chair, charter=charter.current(session), poll=poll, now=NOW)
    session.commit()
    assert run_clock(app, OPEN) == [(poll.id, "open")]
    for n, ranking in enumerate([[OPTIONS[0]], [OPTIONS[1], OPTIONS[0]], [OPTIONS[2]], [OPTIONS[1]], [OPTIONS[3]]]):
        voter = make_member(session, username=f"voter{n}", forum_user_id=100 + n)
        cast_ranking(app, session, poll.id, voter, [[o] for o in ranking], OPEN)
        session.commit()
    assert run_clock(app, CLOSE) == [(poll.id, step) for step in CLOSING_STEPS]
    return poll.id


def test_awkward_names_download_in_every_format_and_the_bundle_verifies(app, session, client):
    poll_id = _closed_poll(app, session)
    readers = {"blt": read_blt, "abif": parse_abif, "toi": lambda text: parse_preflib(text, kind="toi")}
    for fmt, read in readers.items():
        answer = client.get(f"/polls/{poll_id}/results.{fmt}")
        assert answer.status_code == 200, (fmt, answer.status_code)
        profile = read(answer.get_data(as_text=True))
        assert sorted(profile.candidates) == sorted(OPTIONS), fmt
    assert client.get(f"/polls/{poll_id}/results.txt").status_code == 200

    bundle = client.get(f"/audit/polls/{poll_id}/bundle.zip").get_data()
    report = verify_bundle(bundle)
    assert report.ok, report.first_problem
    assert "names shown otherwise are listed in manifest.json" in report.check("formats").detail
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(bundle)).read("manifest.json"))
    assert set(manifest["names"]) >= {"ballots.blt", "ballots.abif"}
    assert manifest["names"]["ballots.abif"]["[Chair]"] != "[Chair]"

    # The note is checked, not trusted: a manifest that hides a mapping fails.
    del manifest["names"]["ballots.abif"]
    forged = tamper(bundle, {"manifest.json": json.dumps(manifest).encode()}, manifest=False)
    problem = verify_bundle(forged).first_problem
    assert problem is not None and problem.name == "formats"
    assert "manifest.json's names" in problem.detail


def test_the_export_of_awkward_names_is_the_platforms_own(app, session):
    poll_id = _closed_poll(app, session)
    from sqlmodel import Session

    with Session(app.extensions["governance.engine"]) as s:
        assert verify_bundle(export.poll_bundle(s, poll_id)).ok

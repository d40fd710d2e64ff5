"""Every migration applies to a database with a poll open; 0007 carries polls over to encrypted ballots.

On SQLite and PostgreSQL, a database at the first revision holds a counted poll with plaintext ballots and an open poll with two
plaintext ballots; after the upgrade the counted poll keeps its ballots (legacy), and the open poll
goes on: its ballots are encrypted on the board, a voter who voted before replaces their ballot
(not a second one), a new voter votes, and the count and its audit bundle hold every ballot.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import MetaData, select, text
from sqlmodel import Session

from governance.audit.bundle import rule_electorate_hash
from governance.audit.chain import format_time, make_entry
from governance.audit.verifier import verify_bundle
from governance.db import dispose as dispose_engines
from governance.db import make_engine, upgrade
from governance.identity.eligibility import Evidence
from tests.conftest import BACKENDS, CLOSING_STEPS, _pg_admin, _pg_url, cast_ranking, make_test_app, run_clock

SECRET = "test-secret-key-" + "x" * 32
NOW = datetime.now(UTC).replace(microsecond=0)


def _poll_row(**fields):
    row = dict(body="community", kind="decision", method="irv", title="Old poll", description_md="",
               description_html="", seats=1, status="open", eligibility={}, quorum=0, threshold="1/2",
               threshold_strict=True, default_option=False, opens_at=NOW - timedelta(days=1),
               closes_at=NOW + timedelta(days=2), opened_at=NOW - timedelta(days=1), tie_seed="ab" * 16,
               electorate_hash=rule_electorate_hash({}, format_time(NOW - timedelta(days=1))), ballots_hash="", result_hash="", cancel_reason="",
               created_at=NOW - timedelta(days=2))
    row.update(fields)
    return row


def _old_database(url: str) -> dict:
    """A database at the first revision with an open poll (two plaintext ballots) and a counted one."""
    engine = make_engine(url)
    upgrade(engine, "0001")
    meta = MetaData()
    meta.reflect(engine)
    t = meta.tables
    ids = {}
    with engine.begin() as conn:
        for n, name in enumerate(["ada", "bo", "cy"], start=1):
            conn.execute(t["member"].insert().values(
                id=n, forum_user_id=100 + n, username=name, name=name, avatar_url="", trust_level=2, admin=False,
                moderator=False, suspended=False, silenced=False, staged=False, active=True, groups=[], timezone="",
                forum_created_at=NOW - timedelta(days=400), created_at=NOW - timedelta(days=3)))
        open_id = conn.execute(t["poll"].insert().values(**_poll_row())).inserted_primary_key[0]
        done_id = conn.execute(t["poll"].insert().values(**_poll_row(
            title="Counted poll", status="published", closed_at=NOW - timedelta(hours=1),
            published_at=NOW - timedelta(hours=1), result={"method": "irv", "elected": ["Ash"]}))).inserted_primary_key[0]
        for poll_id in (open_id, done_id):
            for position, label in enumerate(["Ash", "Birch", "Cedar"]):
                conn.execute(t["poll_option"].insert().values(poll_id=poll_id, position=position, label=label,
                                                               description="", is_default=False))
        key = secrets.token_hex(32)
        conn.execute(t["poll_key"].insert().values(poll_id=open_id, key=key))
        entry = make_entry(None, type="poll.opened", actor=None, payload={"poll": open_id},
                           created_at=NOW - timedelta(days=1))
        for poll_id, member_id, ranking in ((open_id, 1, [["Birch"]]), (open_id, 2, [["Cedar"], ["Ash"]]),
                                            (done_id, 1, [["Ash"]])):
            link = hmac.new(bytes.fromhex(key), f"{poll_id}:{member_id}".encode(), hashlib.sha256).hexdigest()
            evidence = Evidence(forum_user_id=100 + member_id, username=["ada", "bo", "cy"][member_id - 1],
                                created_at=NOW - timedelta(days=400), trust_level=2).to_dict()
            conn.execute(t["participation"].insert().values(id=secrets.token_hex(16), poll_id=poll_id,
                                                             member_id=member_id, evidence=evidence))
            conn.execute(t["ballot"].insert().values(id=secrets.token_hex(16), poll_id=poll_id,
                                                      tracker=secrets.token_hex(8), ranking=ranking,
                                                      voter_link=link if poll_id == open_id else None))
        conn.execute(t["audit_entry"].insert().values(seq=entry.seq, created_at=entry.created_at, type=entry.type,
                                                       actor=None, payload=entry.payload, prev_hash=entry.prev_hash,
                                                       hash=entry.hash, poll_id=open_id))
    ids.update(open=open_id, done=done_id)
    engine.dispose()
    return ids


@pytest.fixture(params=BACKENDS)
def empty_database_url(request, tmp_path):
    """A database with no schema at all (the suite's usual ones are migrated already)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"gov_m_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_open_and_counted_polls_survive_the_move_to_encrypted_ballots(empty_database_url, monkeypatch):
    database_url = empty_database_url
    from governance.audit.signing import generate_key
    from governance.models import Ballot, LegacyBallot, Member, Poll, PollSecret

    keys = generate_key()
    monkeypatch.setenv("GOVERNANCE_AUDIT_SIGNING_KEY", keys[0].decode("ascii"))

    ids = _old_database(database_url)
    app = make_test_app(database_url)
    try:
        runner = app.test_cli_runner()
        check = runner.invoke(args=["db", "check"])
        assert check.exit_code == 1 and "0001" in check.output
        # The operator's command, through every migration: the open poll's ballots are encrypted here.
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert runner.invoke(args=["db", "check"]).exit_code == 0
        with Session(app.extensions["governance.engine"], expire_on_commit=False) as session:
            legacy = session.scalars(select(LegacyBallot).where(LegacyBallot.poll_id == ids["done"])).all()
            assert [b.ranking for b in legacy] == [[["Ash"]]]
            poll = session.get(Poll, ids["open"])
            assert poll.key_mode == "platform" and len(poll.fingerprint) == 64
            assert session.get(PollSecret, poll.id).link_salt
            board = session.scalars(select(Ballot).where(Ballot.poll_id == poll.id)).all()
            assert len(board) == 2 and all(len(b.tracker) == 64 for b in board)
            # ada voted before: her new ballot replaces the migrated one; cy votes for the first time.
            ada, cy = session.get(Member, 1), session.get(Member, 3)
            again = cast_ranking(app, session, poll.id, ada, [["Ash"]], NOW)
            session.commit()
            assert again.replaced
            cast_ranking(app, session, poll.id, cy, [["Ash"], ["Birch"]], NOW)
            session.commit()
        assert run_clock(app, poll.closes_at) == [(poll.id, step) for step in CLOSING_STEPS]
        with Session(app.extensions["governance.engine"]) as session:
            poll = session.get(Poll, ids["open"])
            assert poll.status == "published" and poll.result["elected"] == ["Ash"]
            assert poll.result["ballots"] == 3  # bo's migrated ballot, ada's replacement, cy's
            from governance.audit import export

            report = verify_bundle(export.poll_bundle(session, poll.id), public_key=keys[1])
            assert report.ok, report.first_problem
        client = app.test_client()
        page = client.get(f"/polls/{ids['done']}/ballots")
        assert page.status_code == 200 and b"Published ballots" in page.data
    finally:
        dispose_engines(app)

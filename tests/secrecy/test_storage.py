"""After the close, nothing the platform stores links a member to a ballot (docs/secrecy.md §3).

Played as an attacker who copies the database files after the count: the SQLite file, its
write-ahead log and its free pages read as raw bytes; PostgreSQL's heap files of the tables that
held the secrets. The attacker knew, from watching the poll while it was open, the salts and the
counter keys, and looks for them; and tries to line members up with ballots by storage order.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session, select

from governance.models import Ballot, Participation, PollSecret, RateLimitCounter
from governance.polls import keys
from tests.secrecy.support import close, open_poll, vote


def _sqlite_files(database_url: str) -> dict[str, bytes]:
    path = Path(database_url.removeprefix("sqlite:///"))
    return {p.name: p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file()}


def _pg_heap(app, table: str) -> bytes:
    engine = app.extensions["governance.engine"]
    with engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))  # the heap files on disk hold what the tables hold
        data_dir = conn.execute(text("SHOW data_directory")).scalar()
        relative = conn.execute(text("SELECT pg_relation_filepath(:t)"), {"t": table}).scalar()
    path = Path(data_dir) / relative
    parts = [path, *sorted(path.parent.glob(path.name + ".*"))]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def test_no_salt_no_counter_and_no_order_survive_the_close(app, session, database_url, monkeypatch):
    app.config["RATELIMIT_ENABLED"] = True
    poll_id = open_poll(app, session)
    voted = vote(app, session, poll_id)
    link_salt, key_salt = voted.salts
    assert link_salt and key_salt
    # What the attacker saw while the poll was open: the salts, and the vote limit's counter keys.
    counter_keys = {keys.vote_limit_key(app.config["SECRET_KEY"], poll_id, m.id) for m in voted.members.values()}
    for key in list(counter_keys)[:3]:
        session.add(RateLimitCounter(key=key, window_start=1, count=1))
    session.commit()

    close(app, session, poll_id)
    session.rollback()
    assert session.get(PollSecret, poll_id) is None
    assert session.exec(select(RateLimitCounter).where(RateLimitCounter.key.startswith(f"vote:{poll_id}:"))).all() == []

    secrets_seen = [link_salt.encode(), key_salt.encode(), *(k.encode() for k in counter_keys)]
    if database_url.startswith("sqlite"):
        files = _sqlite_files(database_url)
        assert any(name.endswith(".db") for name in files)
        for name, data in files.items():
            for secret in secrets_seen:
                assert secret not in data, f"{secret[:16]!r}... is still in {name}"
        # The write-ahead log was checkpointed and emptied at the close.
        wal = [data for name, data in files.items() if name.endswith("-wal")]
        assert all(len(data) == 0 for data in wal)
    else:
        for table in ("poll_secret", "rate_limit_counter"):
            heap = _pg_heap(app, table)
            for secret in secrets_seen:
                assert secret not in heap, f"{secret[:16]!r}... is still in the heap of {table}"


def test_storage_order_tells_nothing_of_who_voted_when(app, session, database_url):
    """Participation and ballot rows: no time column, and (SQLite) the file's order is the random keys'."""
    poll_id = open_poll(app, session)
    voted = vote(app, session, poll_id, count=16, members_first=True)
    close(app, session, poll_id)
    with Session(app.extensions["governance.engine"]) as s:
        rows = s.exec(select(Participation.id, Participation.member_id)
                      .where(Participation.poll_id == poll_id)).all()
        by_member = {member_id: pid for pid, member_id in rows}
        ballot_ids = s.exec(select(Ballot.id, Ballot.seq).where(Ballot.poll_id == poll_id)).all()
    assert set(Participation.model_fields) == {"id", "poll_id", "member_id", "evidence"}
    vote_order = [by_member[voted.members[name].id] for name in voted.order]
    if database_url.startswith("sqlite"):
        data = b"".join(_sqlite_files(database_url).values())
        # Where each row sits in the file, as an attacker reading the bytes would find it: rows
        # are stored in the order of their random keys, not in the order members voted.
        offsets = {pid: data.find(pid.encode()) for pid in vote_order}
        assert all(o >= 0 for o in offsets.values())
        assert sorted(vote_order, key=offsets.get) != vote_order
        ballot_offsets = {bid: data.find(bid.encode()) for bid, _seq in ballot_ids}
        by_arrival = [bid for bid, _seq in sorted(ballot_ids, key=lambda r: r[1])]
        assert sorted(by_arrival, key=ballot_offsets.get) != by_arrival
        with app.extensions["governance.engine"].connect() as conn:  # no rowid to sort by either
            for table in ("participation", "ballot"):
                try:
                    conn.execute(text(f"SELECT rowid FROM {table}")).all()
                    raise AssertionError(f"{table} has a rowid")
                except Exception as exc:  # noqa: BLE001 - sqlite3.OperationalError through SQLAlchemy
                    assert "no such column" in str(exc)
    # The participation ids themselves carry nothing of the order (random, not sequential).
    assert sorted(vote_order) != vote_order


def test_receipts_by_forum_message_are_off_by_default_and_dropped_at_the_close(app, session):
    """An undelivered receipt names a member and a tracker: opt-in only, and it must not outlive the close."""
    import re

    from governance.models import Outbox
    from tests.conftest import cast_ranking, login, make_member
    from tests.secrecy.support import OPEN

    poll_id = open_poll(app, session)
    member = make_member(session, username="opted_in", forum_user_id=77, trust_level=2)
    client = app.test_client()
    login(app, client, member)
    app.config["FAKE_NOW"] = OPEN
    page = client.get(f"/polls/{poll_id}/ballot").get_data(as_text=True)
    checkbox = re.search(r'<input type="checkbox" id="receipt"[^>]*>', page).group(0)
    assert "checked" not in checkbox and "Forum administrators can read private messages" in page
    cast_ranking(app, session, poll_id, member, [["Ash"]], OPEN, send_receipt=True)
    session.commit()
    assert len(session.exec(select(Outbox).where(Outbox.kind == "receipt")).all()) == 1
    session.rollback()
    close(app, session, poll_id)
    assert session.exec(select(Outbox).where(Outbox.kind == "receipt")).all() == []

"""Someone with the database while the poll is open changes, deletes or stuffs ballots: the count
goes ahead on what the database then holds, and ``governance-audit verify`` fails, naming the ballot.

Played on SQLite and PostgreSQL by writing to the tables directly, as an attacker with the database
(but not the platform's audit signing key, which lives in the environment) would.
"""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import text, update
from sqlmodel import Session, select

from governance import crypto
from governance.audit import export
from governance.audit.chain import make_entry
from governance.audit.verifier import verify_bundle
from governance.models import AuditEntry, Ballot, Participation
from governance.polls import voting
from tests.conftest import make_member
from tests.secrecy.support import close, open_poll, vote


def _bundle_report(app, poll_id, keys):
    with Session(app.extensions["governance.engine"]) as s:
        return verify_bundle(export.poll_bundle(s, poll_id), public_key=keys[1])


def _change_a_ballot(app, session, poll_id, voted):
    """Swap two ciphertexts of a live ballot and fix up its tracker (the stored row only)."""
    victim = voted.trackers[voted.order[-1]][-1]
    row = session.exec(select(Ballot).where(Ballot.tracker == victim)).one()
    content = dict(row.content)
    cts = list(content["ciphertexts"])
    cts[0], cts[1] = cts[1], cts[0]
    content["ciphertexts"] = cts
    session.execute(update(Ballot).where(Ballot.id == row.id).values(content=content,
                                                                     tracker=crypto.tracker(content)))
    return victim


def _delete_a_ballot(app, session, poll_id, voted):
    victim = voted.trackers[voted.order[0]][-1]
    session.execute(Ballot.__table__.delete().where(Ballot.tracker == victim))
    return victim


def _stuff_a_ballot(app, session, poll_id, voted, *, with_log_entry=False):
    """A ballot for a member who did not vote: a valid encryption and proof, participation and all."""
    stranger = make_member(session, username="stranger", forum_user_id=9999, trust_level=2)
    box = voting.ballot_box(session, poll_id)
    credential = voting.credential(box, stranger, secret=app.config["SECRET_KEY"])
    ballot, _ = crypto.encrypt_ballot(box.params, [1, 0, 0, 0], credential)
    tracker = crypto.tracker(ballot)
    seq = session.execute(text("SELECT max(seq) FROM audit_entry")).scalar() + 1
    if with_log_entry:
        tip = session.get(AuditEntry, seq - 1)
        from governance.audit.log import as_entry

        entry = make_entry(as_entry(tip), type="ballot.cast", actor=None, created_at=tip.created_at,
                           payload={"poll": poll_id, "tracker": tracker, "credential": credential})
        session.add(AuditEntry(seq=entry.seq, created_at=entry.created_at, type=entry.type, actor=None,
                               payload=entry.payload, prev_hash=entry.prev_hash, hash=entry.hash, poll_id=poll_id,
                               signature="00" * 64))  # the attacker cannot sign
    session.add(Ballot(id=secrets.token_hex(16), poll_id=poll_id, tracker=tracker, credential=credential,
                       content=ballot, seq=seq, superseded=False))
    session.add(Participation(id=secrets.token_hex(16), poll_id=poll_id, member_id=stranger.id,
                              evidence={**voting._evidence(stranger)}))
    return tracker


def _resurrect_a_replaced_ballot(app, session, poll_id, voted):
    """Bring back a voter's first ballot in place of their replacement."""
    name = next(n for n in voted.order if len(voted.trackers[n]) > 1)
    first, last = voted.trackers[name][0], voted.trackers[name][-1]
    session.execute(update(Ballot).where(Ballot.tracker == first).values(superseded=False))
    session.execute(update(Ballot).where(Ballot.tracker == last).values(superseded=True))
    return first


ATTACKS = {
    "changed": (_change_a_ballot, "board", "the ballot was changed after it was cast"),
    "deleted": (_delete_a_ballot, "board", "is missing from the board"),
    "stuffed": (_stuff_a_ballot, "board", "no ballot entry"),
    "stuffed with a forged log entry": (lambda *a: _stuff_a_ballot(*a, with_log_entry=True), "entry_signatures",
                                        "signature does not verify"),
    "resurrected": (_resurrect_a_replaced_ballot, "mix_input", "not the mix input"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_ballot_tampered_with_in_the_database_while_open_fails_verification(app, session, keys, attack):
    change, check, words = ATTACKS[attack]
    poll_id = open_poll(app, session)
    voted = vote(app, session, poll_id, count=8)
    victim = change(app, session, poll_id, voted)
    session.commit()
    poll = close(app, session, poll_id)
    assert poll.status == "published"  # the platform counted what the database held...
    report = _bundle_report(app, poll_id, keys)
    problem = report.first_problem  # ...and the verifier says what is wrong, and where
    assert problem is not None and problem.name == check, (problem, report.to_dict())
    assert words in problem.detail
    if check == "board" and attack != "stuffed":
        assert victim[:16] in problem.detail


def test_an_untouched_poll_verifies_and_a_voter_receipt_is_found(app, session, keys, tmp_path):
    """The same poll without an attack passes, and a voter's downloaded receipt is found in it."""
    import json

    from governance.audit import cli as audit_cli

    poll_id = open_poll(app, session)
    voted = vote(app, session, poll_id, count=6)
    name = voted.order[0]
    client = app.test_client()
    receipt = client.get(f"/polls/{poll_id}/receipt/{voted.trackers[name][-1]}.json")
    assert receipt.status_code == 200 and receipt.json["signature"]
    session.rollback()
    close(app, session, poll_id)
    report = _bundle_report(app, poll_id, keys)
    assert report.ok, report.first_problem
    with Session(app.extensions["governance.engine"]) as s:
        bundle = export.poll_bundle(s, poll_id)
    (tmp_path / "poll.zip").write_bytes(bundle)
    (tmp_path / "receipt.json").write_text(json.dumps(receipt.json))
    (tmp_path / "server.pem").write_bytes(keys[1])
    args = ["verify", str(tmp_path / "poll.zip"), "--public-key", str(tmp_path / "server.pem")]
    assert audit_cli.main([*args, "--receipt", str(tmp_path / "receipt.json")]) == 0
    # A receipt of a ballot the platform accepted and then lost is caught, signature and all.
    lost = dict(receipt.json, tracker="ab" * 32)
    (tmp_path / "lost.json").write_text(json.dumps(lost))
    assert audit_cli.main([*args, "--receipt", str(tmp_path / "lost.json")]) == 1

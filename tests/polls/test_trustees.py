"""A poll decrypted by trustees, end to end over HTTP (SQLite and PostgreSQL): three trustees run the
key ceremony on "their own machines" (the crypto library, as ``governance-trustee`` runs it), upload
what it wrote, the poll opens with their key, members vote, two trustees mix, an officer ends the
mixing, two trustees decrypt, the count is published and its bundle verifies. A forged mix, a forged
decryption and a ceremony message from the wrong trustee are refused and change nothing.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from sqlmodel import select

from governance import crypto
from governance.audit import export
from governance.audit.verifier import verify_bundle
from governance.models import AuditEntry, Outbox, Poll
from governance.polls import charter, service
from governance.polls.service import PollInput
from tests.conftest import cast_ranking, csrf_token, login, make_member, run_clock
from tests.secrecy.support import CLOSE, NOW, OPEN

pytestmark = pytest.mark.trustee_charter

TRUSTEES = ["trustee_a", "trustee_b", "trustee_c"]


def _upload(client, poll_id: int, data, *, expect: int = 302):
    token = csrf_token(client, f"/polls/{poll_id}/trustee")
    response = client.post(f"/polls/{poll_id}/trustee", data={
        "csrf_token": token, "file": (io.BytesIO(json.dumps(data).encode()), "upload.json")},
        content_type="multipart/form-data")
    assert response.status_code == expect, response.get_data(as_text=True)[:800]
    return response


def _get_json(client, path: str):
    response = client.get(path)
    assert response.status_code == 200, path
    return json.loads(response.get_data())


@pytest.fixture
def trustee_poll(app, session, keys):
    chair = make_member(session, username="chair", forum_user_id=1, groups=["steering-committee"])
    members = [make_member(session, username=name, forum_user_id=10 + i, groups=["steering-committee"])
               for i, name in enumerate(TRUSTEES)]
    data = PollInput(body="community", kind="decision", method="schulze", title="Trusted tree",
                     options=["Ash", "Birch", "Cedar"], opens_at=OPEN, closes_at=CLOSE, trustees=TRUSTEES)
    poll = service.create(session=session, actor=chair, charter=charter.current(session), data=data)
    service.schedule(session=session, actor=chair, charter=charter.current(session), poll=poll, now=NOW)
    session.commit()
    clients = {}
    for member in members:
        client = app.test_client()
        login(app, client, member)
        clients[member.username] = client
    return poll.id, chair, clients


def test_a_trustee_poll_from_key_ceremony_to_verified_count(app, session, keys, trustee_poll):
    poll_id, chair, clients = trustee_poll
    app.config["FAKE_NOW"] = NOW
    assert session.exec(select(Outbox).where(Outbox.kind == "trustee")).all().__len__() == 3
    # The poll cannot open before the ceremony is complete.
    assert run_clock(app, OPEN) == []
    states = {}
    setup = _get_json(clients["trustee_a"], f"/polls/{poll_id}/ceremony/setup.json")
    assert setup["threshold"] == 2 and [t["name"] for t in setup["trustees"]] == TRUSTEES
    # Round 1 — and a certificate uploaded by the wrong trustee is refused.
    certificate_a, states["trustee_a"] = crypto.ceremony_init(setup, 1)
    _upload(clients["trustee_b"], poll_id, certificate_a, expect=400)
    for index, name in enumerate(TRUSTEES, start=1):
        certificate, state = crypto.ceremony_init(setup, index) if name != "trustee_a" else (certificate_a,
                                                                                            states[name])
        states[name] = state
        _upload(clients[name], poll_id, certificate)
    certificates = _get_json(clients["trustee_a"], f"/polls/{poll_id}/ceremony/certificates.json")
    for name in TRUSTEES:  # round 2
        message, states[name] = crypto.ceremony_share(setup, states[name], certificates)
        _upload(clients[name], poll_id, message)
    shares = _get_json(clients["trustee_a"], f"/polls/{poll_id}/ceremony/shares.json")
    for name in TRUSTEES:  # round 3
        message, states[name] = crypto.ceremony_finish(setup, states[name], certificates, shares)
        _upload(clients[name], poll_id, message)
    session.rollback()
    assert run_clock(app, OPEN) == [(poll_id, "open")]
    params = crypto.ElectionParams.from_dict(_get_json(clients["trustee_a"], f"/polls/{poll_id}/params.json"))
    assert params.threshold == 2 and [t.name for t in params.trustees] == TRUSTEES
    for name in TRUSTEES:  # what `governance-trustee check` verifies: my key is in the parameters
        assert states[name]["public_key"] == params.to_dict()["public_key"]

    voters = [make_member(session, username=f"voter{i}", forum_user_id=100 + i, trust_level=2) for i in range(5)]
    rankings = [[["Ash"], ["Birch"]], [["Birch"]], [["Ash"]], [["Cedar"], ["Ash"]], [["Ash", "Birch"]]]
    for voter, ranking in zip(voters, rankings, strict=True):
        cast_ranking(app, session, poll_id, voter, ranking, OPEN + timedelta(minutes=5))
        session.commit()
    # The close: nothing more happens until trustees mix.
    assert run_clock(app, CLOSE) == [(poll_id, "close")]
    assert run_clock(app, CLOSE) == []
    assert session.exec(select(Outbox).where(Outbox.kind == "trustee")).all().__len__() == 6  # "time to mix"
    app.config["FAKE_NOW"] = CLOSE
    ballots = _get_json(clients["trustee_a"], f"/polls/{poll_id}/mix/ballots.json")["ballots"]
    tuples = [crypto.ballot_ciphertexts(b) for b in ballots]

    def mix_file(mixer, output, proof):
        return {"format": "governance-mix/1", "mixer": mixer, "count": len(output), "width": 3, "proof": proof,
                "output": crypto.tuples_to_json(output)}

    # A forged mix (an output ciphertext swapped for a fresh encryption) is uploaded, then refused.
    out, proof = crypto.shuffle(params, tuples, mixer=1)
    forged = list(out)
    forged[0] = crypto.ballot_ciphertexts(crypto.encrypt_ballot(params, [1, 0, 0], "ab" * 16)[0])
    _upload(clients["trustee_a"], poll_id, mix_file(1, forged, proof))
    run_clock(app, CLOSE)
    session.rollback()
    rejected = session.exec(select(AuditEntry).where(AuditEntry.type == "mix.rejected")).all()
    assert len(rejected) == 1 and "shuffle" in rejected[0].payload["reason"]
    # The honest mixes of trustees 1 and 2.
    _upload(clients["trustee_a"], poll_id, mix_file(1, out, proof))
    run_clock(app, CLOSE)
    mix1 = _get_json(clients["trustee_b"], f"/polls/{poll_id}/mix/1.json")
    out2, proof2 = crypto.shuffle(params, crypto.as_tuples(mix1["output"], 3), mixer=2)
    _upload(clients["trustee_b"], poll_id, mix_file(2, out2, proof2))
    run_clock(app, CLOSE)
    # Trustee c has not mixed: an officer ends the mixing (2 mixes >= threshold 2).
    officer = app.test_client()
    login(app, officer, chair)
    token = csrf_token(officer, f"/polls/{poll_id}")
    assert officer.post(f"/polls/{poll_id}/end-mixing", data={"csrf_token": token}).status_code == 302
    final = crypto.as_tuples(_get_json(clients["trustee_a"], f"/polls/{poll_id}/mix/2.json")["output"], 3)

    def decryption(name, index):
        factors, proof = crypto.decryption_factors(params, states[name]["secret_share"], index, final)
        return {"format": "governance-decryption/1", "trustee": index, "count": len(factors), "width": 3,
                "factors": crypto.factors_to_json(factors), "proof": proof}

    # A decryption sent as another trustee is refused at once; an altered one after verification.
    _upload(clients["trustee_a"], poll_id, decryption("trustee_c", 3), expect=400)
    altered = decryption("trustee_a", 1)
    altered["factors"][0][0], altered["factors"][1][0] = altered["factors"][1][0], altered["factors"][0][0]
    _upload(clients["trustee_a"], poll_id, altered)
    run_clock(app, CLOSE)
    _upload(clients["trustee_a"], poll_id, decryption("trustee_a", 1))
    _upload(clients["trustee_c"], poll_id, decryption("trustee_c", 3))
    run_clock(app, CLOSE)  # (page views run the clock too: small steps may have been taken already)
    session.rollback()
    types = [e.type for e in session.exec(select(AuditEntry).where(AuditEntry.poll_id == poll_id)
                                          .order_by(AuditEntry.seq)).all()]
    assert types.count("decryption.share.rejected") == 1 and types.count("decryption.share") == 2
    assert types.count("mix.rejected") == 1 and types.count("mix.added") == 2
    poll = session.get(Poll, poll_id)
    assert poll.status == "published" and poll.result["elected"] == ["Ash"]
    report = verify_bundle(export.poll_bundle(session, poll_id), public_key=keys[1])
    assert report.ok, report.first_problem
    assert "trustee(s) 1, 3 decrypted" in report.check("decryption").detail
    assert "2 mixes by trustee(s) 1, 2" in report.check("mixes").detail

"""The key ceremony: it yields consistent parameters, and a cheating trustee or relay is caught and named."""

from __future__ import annotations

import copy

import pysodium
import pytest

from governance.crypto import (
    CryptoError,
    ElectionParams,
    ceremony_finish,
    ceremony_init,
    ceremony_share,
    platform_keypair,
    verify_ceremony,
    verify_key_proof,
)
from governance.crypto import group as g
from governance.crypto.ceremony import _share_plain, _sign, setup_digest

from .conftest import run_ceremony


def _setup(n=3, t=2):
    return {"election_id": "2" * 32, "poll": 3, "threshold": t,
            "trustees": [{"index": i, "name": f"t{i}"} for i in range(1, n + 1)]}


def _round1(setup):
    pairs = [ceremony_init(setup, i) for i in range(1, len(setup["trustees"]) + 1)]
    return [c for c, _ in pairs], [s for _, s in pairs]


@pytest.mark.parametrize("n, t", [(1, 1), (3, 2), (3, 3)])
def test_ceremony_gives_consistent_parameters(n, t):
    c = run_ceremony(n, t)
    params = ElectionParams(**c["fields"], options=["a"], max_value=1)
    assert params.threshold == t and len(params.trustees) == n
    for st in c["states"]:
        assert st["public_key"] == params.public_key.hex()
        assert g.smul_base(g.read_secret(st["secret_share"], "x")).hex() == st["verification_key"]
        assert "own_share" not in st


def test_a_share_that_does_not_match_its_commitments_names_the_culprit():
    setup = _setup()
    certs, states = _round1(setup)
    msgs = []
    for i, st in enumerate(states, start=1):
        msg, states[i - 1] = ceremony_share(setup, st, certs)
        msgs.append(msg)
    # Trustee 2 seals a wrong share to trustee 3 and signs the message as its own.
    sd = setup_digest(setup)
    body = {k: v for k, v in msgs[1].items() if k != "signature"}
    wrong = _share_plain(sd, 2, 3, g.Secret.random().public_bytes())
    body["shares"] = [s if s["to"] != 3 else {"to": 3, "ciphertext": pysodium.crypto_box_seal(
        wrong, bytes.fromhex(certs[2]["box_key"])).hex()} for s in body["shares"]]
    msgs[1] = dict(body, signature=_sign("governance/v1/dkg/shares", sd, body,
                                         bytes.fromhex(states[1]["signing_secret"])))
    with pytest.raises(CryptoError, match="trustee 2 sent trustee 3 a share that does not match its commitments"):
        ceremony_finish(setup, states[2], certs, msgs)
    ceremony_finish(setup, states[0], certs, msgs)  # trustee 1's shares are fine


def test_a_substituted_commitment_is_refused():
    setup = _setup()
    certs, states = _round1(setup)
    msgs = [ceremony_share(setup, st, certs)[0] for st in states]
    bad = copy.deepcopy(msgs)
    bad[0]["commitments"][1] = g.smul_base(5).hex()  # the relay swaps a commitment
    with pytest.raises(CryptoError, match="share message of trustee 1: the signature does not verify"):
        verify_ceremony(setup, certs, bad, [])


def test_a_rogue_commitment_without_proof_is_refused():
    # Trustee 3 re-signs a message whose constant term cancels the others' (rogue key): no proof of knowledge.
    setup = _setup()
    certs, states = _round1(setup)
    msgs = [ceremony_share(setup, st, certs)[0] for st in states]
    sd = setup_digest(setup)
    body = {k: v for k, v in msgs[2].items() if k != "signature"}
    others = g.add(g.read_point(msgs[0]["commitments"][0], "c"), g.read_point(msgs[1]["commitments"][0], "c"))
    body["commitments"][0] = g.sub(g.smul_base(1), others).hex()
    msgs[2] = dict(body, signature=_sign("governance/v1/dkg/shares", sd, body,
                                         bytes.fromhex(states[2]["signing_secret"])))
    with pytest.raises(CryptoError, match="share message of trustee 3: the proof of knowledge does not verify"):
        verify_ceremony(setup, certs, msgs, [])


def test_a_substituted_verification_key_is_refused():
    c = run_ceremony(3, 2)
    keys = copy.deepcopy(c["keys"])
    keys[1]["verification_key"] = g.smul_base(7).hex()
    with pytest.raises(CryptoError, match="key message of trustee 2: the signature does not verify"):
        verify_ceremony(c["setup"], c["certificates"], c["shares"], keys)


def test_a_forged_certificate_is_refused():
    setup = _setup()
    certs, _ = _round1(setup)
    certs[1] = dict(certs[1], box_key=certs[0]["box_key"])
    with pytest.raises(CryptoError, match="certificate of trustee 2: the signature does not verify"):
        ceremony_share(setup, ceremony_init(setup, 1)[1], certs)


def test_params_with_inconsistent_keys_are_refused():
    c = run_ceremony(3, 2)
    fields = copy.deepcopy(c["fields"])
    fields["trustees"][2]["verification_key"] = g.smul_base(11).hex()
    with pytest.raises(CryptoError, match="trustee 3's verification key is not consistent"):
        ElectionParams(**fields, options=["a"], max_value=1)
    fields = copy.deepcopy(c["fields"])
    fields["public_key"] = g.smul_base(11).hex()
    with pytest.raises(CryptoError, match="public key does not match"):
        ElectionParams(**fields, options=["a"], max_value=1)


def test_platform_key_is_deterministic_and_proved():
    a, b = platform_keypair(b"\x07" * 32), platform_keypair(b"\x07" * 32)
    assert a.public_key == b.public_key and a.secret == b.secret
    assert platform_keypair(b"\x08" * 32).public_key != a.public_key
    verify_key_proof(a.public_key, a.proof)
    with pytest.raises(CryptoError, match="does not verify"):
        verify_key_proof(platform_keypair(b"\x08" * 32).public_key, a.proof)
    k = platform_keypair(b"\x07" * 32, election_id="3" * 32, poll=4)
    verify_key_proof(k.public_key, k.proof, election_id="3" * 32, poll=4)
    with pytest.raises(CryptoError, match="does not verify"):
        verify_key_proof(k.public_key, k.proof, election_id="3" * 32, poll=5)
    assert "secret" not in repr(k).lower().replace("platformkey", "")
    with pytest.raises(CryptoError, match="32 bytes"):
        platform_keypair(b"short")

"""Ballots: round trips, the Benaloh audit, and every forgery refused with a clear message."""

from __future__ import annotations

import copy

import pytest

from governance.crypto import (
    CryptoError,
    audit_ballot,
    deterministic_rng,
    encrypt_ballot,
    tracker,
    verify_ballot,
)
from governance.crypto import group as g
from governance.crypto.ballot import BALLOT_TAG

from .conftest import credential, make_params

CRED = credential(1)


def test_round_trip_and_audit(params):
    ballot, secrets = encrypt_ballot(params, [3, 0, 1], CRED)
    verify_ballot(params, ballot, CRED)
    assert audit_ballot(params, ballot, secrets) == [3, 0, 1]
    assert len(tracker(ballot)) == 64
    assert set(ballot) == {"credential", "ciphertexts", "proof"}


def test_encryption_is_randomised_but_reproducible_with_a_seed(params):
    a, _ = encrypt_ballot(params, [1, 2, 3], CRED)
    b, _ = encrypt_ballot(params, [1, 2, 3], CRED)
    assert a != b and tracker(a) != tracker(b)
    c, _ = encrypt_ballot(params, [1, 2, 3], CRED, rng=deterministic_rng(b"seed"))
    d, _ = encrypt_ballot(params, [1, 2, 3], CRED, rng=deterministic_rng(b"seed"))
    assert c == d


@pytest.mark.parametrize("values, message", [([1, 2], "expected 3 values"), ([1, 2, 4], "value 2 must be"),
                                             ([1, -1, 0], "value 1 must be"), ([1, True, 0], "value 1 must be")])
def test_bad_values_are_refused(params, values, message):
    with pytest.raises(CryptoError, match=message):
        encrypt_ballot(params, values, CRED)


def test_altered_proof_is_refused(params):
    ballot, _ = encrypt_ballot(params, [1, 2, 3], CRED)
    bad = copy.deepcopy(ballot)
    bad["proof"]["responses"][1] = g.scalar_hex(g.read_scalar(bad["proof"]["responses"][1], "s") + 1)
    with pytest.raises(CryptoError, match="proof does not verify"):
        verify_ballot(params, bad, CRED)
    bad = copy.deepcopy(ballot)
    bad["proof"]["challenge"] = g.scalar_hex(g.read_scalar(bad["proof"]["challenge"], "c") + 1)
    with pytest.raises(CryptoError, match="proof does not verify"):
        verify_ballot(params, bad, CRED)


def test_altered_ciphertext_is_refused(params):
    ballot, _ = encrypt_ballot(params, [1, 2, 3], CRED)
    bad = copy.deepcopy(ballot)
    beta = g.read_point(bad["ciphertexts"][0]["beta"], "b")
    bad["ciphertexts"][0]["beta"] = g.add(beta, g.G).hex()  # the value 1 becomes 2
    with pytest.raises(CryptoError, match="proof does not verify"):
        verify_ballot(params, bad, CRED)


def test_ballot_copied_to_another_credential_is_refused(params):
    ballot, _ = encrypt_ballot(params, [1, 2, 3], CRED)
    with pytest.raises(CryptoError, match="another credential"):
        verify_ballot(params, ballot, credential(2))
    stolen = dict(ballot, credential=credential(2))  # the thief relabels it
    with pytest.raises(CryptoError, match="proof does not verify"):
        verify_ballot(params, stolen, credential(2))


def test_ballot_for_another_poll_is_refused(params, platform_key):
    ballot, _ = encrypt_ballot(params, [1, 2, 3], CRED)
    trustees = [{"index": 1, "name": "platform", "verification_key": platform_key.public_key}]
    other = make_params(platform_key.public_key, trustees, poll=2)
    assert other.fingerprint() != params.fingerprint()
    with pytest.raises(CryptoError, match="proof does not verify"):
        verify_ballot(other, ballot, CRED)


@pytest.mark.parametrize("where", ["alpha", "beta"])
@pytest.mark.parametrize("point, message", [
    ("0" * 64, "identity"),
    ("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "not a valid point"),
    ("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "not a valid point"),
    ("0100000000000000000000000000000000000000000000000000000000000000", "not a valid point"),
    ("E2F2AE0A6ABC4E71A884A961C500515F58E30B6AA582DD8DB6A65945E08D2D76", "64 lowercase hex"),
])
def test_invalid_point_encodings_in_a_ballot_are_refused(params, where, point, message):
    ballot, _ = encrypt_ballot(params, [1, 2, 3], CRED)
    ballot["ciphertexts"][2][where] = point
    with pytest.raises(CryptoError, match=f"ciphertext 2: {where}.*{message}|{message}"):
        verify_ballot(params, ballot, CRED)


def test_non_reduced_response_is_refused(params):
    ballot, _ = encrypt_ballot(params, [1, 2, 3], CRED)
    s = g.read_scalar(ballot["proof"]["responses"][0], "s")
    ballot["proof"]["responses"][0] = (s + g.L).to_bytes(32, "little").hex()
    with pytest.raises(CryptoError, match="not a reduced scalar"):
        verify_ballot(params, ballot, CRED)


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b["ciphertexts"].pop(), "expected 3 ciphertexts"),
    (lambda b: b["proof"]["responses"].pop(), "3 responses"),
    (lambda b: b.update(extra=1), "exactly the keys"),
    (lambda b: b["ciphertexts"][0].update(gamma="00"), "exactly alpha and beta"),
    (lambda b: b["proof"].pop("challenge"), "exactly challenge and responses"),
    (lambda b: b.__setitem__("ciphertexts", "nope"), "expected 3 ciphertexts"),
])
def test_bad_shapes_are_refused(params, mutate, message):
    ballot, _ = encrypt_ballot(params, [1, 2, 3], CRED)
    mutate(ballot)
    with pytest.raises(CryptoError, match=message):
        verify_ballot(params, ballot, CRED)


def test_audit_refuses_wrong_randomness(params):
    ballot, secrets = encrypt_ballot(params, [1, 2, 3], CRED)
    secrets["randomness"][0], secrets["randomness"][1] = secrets["randomness"][1], secrets["randomness"][0]
    with pytest.raises(CryptoError, match="ciphertext 0 was not made with the revealed randomness"):
        audit_ballot(params, ballot, secrets)


def test_verify_ballot_costs_about_one_exponentiation_pair_per_option(params):
    # Not a timing test (see bench/crypto.py): only that verification touches every option's proof.
    ballot, _ = encrypt_ballot(params, [1, 2, 3], CRED)
    for k in range(3):
        bad = copy.deepcopy(ballot)
        bad["proof"]["responses"][k] = g.scalar_hex(0)
        with pytest.raises(CryptoError, match="proof does not verify"):
            verify_ballot(params, bad, CRED)


def _weak_challenge(params, cred, commits):
    return g.challenge(BALLOT_TAG, params.fp, cred, b"".join(commits))


def _weak_verify(params, ballot, cred):
    """A ballot check whose challenge omits the statement (the ciphertexts): the [BPW12] mistake."""
    c = g.read_scalar(ballot["proof"]["challenge"], "c")
    commits = [g.sub(g.smul_base(g.read_scalar(s, "s")), g.smul(c, g.read_point(ct["alpha"], "a")))
               for s, ct in zip(ballot["proof"]["responses"], ballot["ciphertexts"], strict=True)]
    return _weak_challenge(params, cred, commits) == c


def test_weak_fiat_shamir_is_forgeable_ours_is_not(params):
    """An attacker turns a victim's ciphertext into one it cannot open but whose value reveals the victim's vote."""
    victim, _ = encrypt_ballot(params, [2, 0, 0], credential(9))
    a_star = g.read_point(victim["ciphertexts"][0]["alpha"], "a")
    b_star = g.read_point(victim["ciphertexts"][0]["beta"], "b")
    mine = credential(10)
    # The attacker's other two ciphertexts are honest; the first is the related one.
    honest, _ = encrypt_ballot(params, [0, 0, 0], mine)
    s = [g.read_scalar(x, "s") for x in (g.scalar_hex(12345), g.scalar_hex(6789), g.scalar_hex(42))]
    commits = [a_star] + [g.smul_base(5), g.smul_base(7)]
    c = _weak_challenge(params, mine, commits)
    c_inv = pow(c, -1, g.L)
    alpha0 = g.smul(c_inv, g.sub(g.smul_base(s[0]), a_star))
    beta0 = g.smul(c_inv, g.sub(g.smul(s[0], params.public_key), b_star))
    # For the honest slots, pick the ciphertext to fit: alpha = c^-1 (s·g − A).
    alphas = [alpha0] + [g.smul(c_inv, g.sub(g.smul_base(s[k]), commits[k])) for k in (1, 2)]
    betas = [beta0] + [g.read_point(honest["ciphertexts"][k]["beta"], "b") for k in (1, 2)]
    forged = {"credential": mine,
              "ciphertexts": [{"alpha": a.hex(), "beta": b.hex()} for a, b in zip(alphas, betas, strict=True)],
              "proof": {"challenge": g.scalar_hex(c), "responses": [g.scalar_hex(x) for x in s]}}
    assert _weak_verify(params, forged, mine)  # the weak check accepts it
    # ... and decrypting the forged ciphertext reveals the victim's value: plaintext = −c⁻¹·m*.
    x = g.Secret.from_digest(g.hash_frame("governance/v1/platform-key", bytes(range(32))))
    plain = g.sub(beta0, g.smul(x, alpha0))
    assert g.smul(-c % g.L, plain) == g.smul_base(2)
    with pytest.raises(CryptoError, match="proof does not verify"):
        verify_ballot(params, forged, mine)


def _forge(ballot):
    bad = copy.deepcopy(ballot)
    bad["proof"]["responses"][0] = g.scalar_hex(g.read_scalar(bad["proof"]["responses"][0], "s") + 1)
    return bad


@pytest.mark.parametrize("workers", [1, 2])
def test_verify_ballots_names_the_first_forged_ballot_in_or_out_of_worker_processes(params, workers):
    """The auditor's batch check: 1,100 ballots (3,300 ciphertexts, enough for the process pool),
    two of them forged and one made for another credential; every worker count names the lowest."""
    from governance.crypto import verify_ballots

    items = []
    for i in range(1100):
        cred = credential(i + 10)
        items.append((encrypt_ballot(params, [i % 4, 0, 1], cred)[0], cred))
    seen = []
    assert verify_ballots(params, items, workers=workers, progress=lambda d, t: seen.append((d, t))) is None
    assert seen and seen[-1] == (1100, 1100) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    items[900] = (_forge(items[900][0]), items[900][1])
    items[700] = (items[700][0], credential(5))  # a ballot checked against another voter's credential
    items[1000] = (_forge(items[1000][0]), items[1000][1])
    assert verify_ballots(params, items, workers=workers) == (700, "ballot: it was made for another credential")
    items[700] = (items[700][0], credential(710))
    index, reason = verify_ballots(params, items, workers=workers)
    assert index == 900 and "proof does not verify" in reason

"""The mix: a shuffle verifies, and every tampering with it is refused."""

from __future__ import annotations

import copy

import pytest

from governance.crypto import (
    CryptoError,
    _work,
    combine,
    decryption_factors,
    pack,
    shuffle,
    unpack,
    verify_shuffle,
)
from governance.crypto import group as g

from .conftest import ballots_for


@pytest.fixture(scope="module")
def mixed(params):
    values, _, tuples = ballots_for(params, 6, seed=1)
    out, proof = shuffle(params, tuples, mixer=1)
    return values, tuples, out, proof


def _reenc(params, ct, s):
    a, b = ct
    return g.add(a, g.smul_base(s)), g.add(b, g.smul(s, params.public_key))


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_shuffle_verifies_and_keeps_the_plaintexts(params, platform_key, n):
    values, _, tuples = ballots_for(params, n, seed=n)
    out, proof = shuffle(params, tuples, mixer="alice")
    verify_shuffle(params, tuples, out, proof, mixer="alice")
    assert proof["count"] == n
    if n == 0:
        assert proof == {"version": 1, "mixer": "alice", "count": 0, "width": 3}
        return
    assert {a for row in out for a, _ in row}.isdisjoint({a for row in tuples for a, _ in row})  # re-encrypted
    factors, _ = decryption_factors(params, platform_key.secret, 1, out)
    assert sorted(combine(params, out, {1: factors})) == sorted(values)


def test_pack_round_trip(mixed):
    _, tuples, _, _ = mixed
    data = pack(tuples)
    assert len(data) == 64 * 3 * len(tuples)
    assert unpack(data, 3) == tuples
    with pytest.raises(CryptoError, match="not a multiple"):
        unpack(data[:-1], 3)
    with pytest.raises(CryptoError, match="invalid point"):
        unpack(bytes(len(data)), 3)


def test_swapped_outputs_are_refused(params, mixed):
    _, tuples, out, proof = mixed
    bad = list(out)
    bad[0], bad[1] = bad[1], bad[0]
    with pytest.raises(CryptoError, match="shuffle proof"):
        verify_shuffle(params, tuples, bad, proof, mixer=1)


def test_swapped_components_inside_a_tuple_are_refused(params, mixed):
    _, tuples, out, proof = mixed
    bad = [list(r) for r in out]
    bad[2][0], bad[2][1] = bad[2][1], bad[2][0]
    with pytest.raises(CryptoError, match="shuffle proof: the .* check fails"):
        verify_shuffle(params, tuples, bad, proof, mixer=1)


def test_altered_ciphertext_is_refused(params, mixed):
    _, tuples, out, proof = mixed
    bad = [list(r) for r in out]
    a, b = bad[3][1]
    bad[3][1] = (a, g.add(b, g.G))  # one more rank point for that option
    with pytest.raises(CryptoError, match="shuffle proof: the .* check fails"):
        verify_shuffle(params, tuples, bad, proof, mixer=1)


def test_replaced_by_a_reencryption_of_another_input_is_refused(params, mixed):
    _, tuples, out, proof = mixed
    bad = [list(r) for r in out]
    bad[0] = [_reenc(params, ct, 99) for ct in tuples[0]]  # a valid re-encryption, but a duplicate
    bad[1] = [_reenc(params, ct, 98) for ct in tuples[0]]
    with pytest.raises(CryptoError, match="shuffle proof"):
        verify_shuffle(params, tuples, bad, proof, mixer=1)


def test_dropped_duplicated_or_added_tuples_are_refused(params, mixed):
    _, tuples, out, proof = mixed
    with pytest.raises(CryptoError, match="6 input tuples but 5 output"):
        verify_shuffle(params, tuples, out[:-1], proof, mixer=1)
    with pytest.raises(CryptoError, match="6 input tuples but 7 output"):
        verify_shuffle(params, tuples, out + [out[0]], proof, mixer=1)
    # A dishonest mixer drops one ballot and duplicates another, then proves a shuffle of 6 (fails):
    cheat = out[:-1] + [out[0]]
    with pytest.raises(CryptoError, match="shuffle proof"):
        verify_shuffle(params, tuples, cheat, proof, mixer=1)
    # ... or re-runs the prover on a doctored input and presents that proof for the real input.
    doctored = tuples[:-1] + [tuples[0]]
    out2, proof2 = shuffle(params, doctored, mixer=1)
    with pytest.raises(CryptoError, match="shuffle proof"):
        verify_shuffle(params, tuples, out2, proof2, mixer=1)


def test_proof_from_another_mixer_or_position_is_refused(params, mixed):
    _, tuples, out, proof = mixed
    with pytest.raises(CryptoError, match="made by mixer 1, not 2"):
        verify_shuffle(params, tuples, out, proof, mixer=2)
    relabelled = dict(proof, mixer=2)  # claim it for mixer 2: the challenges no longer match
    with pytest.raises(CryptoError, match="shuffle proof: the .* check fails"):
        verify_shuffle(params, tuples, out, relabelled, mixer=2)
    with pytest.raises(CryptoError, match="not '1'"):
        verify_shuffle(params, tuples, out, proof, mixer="1")


def test_proof_for_another_input_is_refused(params, mixed):
    _, tuples, out, proof = mixed
    _, _, others = ballots_for(params, 6, seed=77)
    with pytest.raises(CryptoError, match="shuffle proof"):
        verify_shuffle(params, others, out, proof, mixer=1)


@pytest.mark.parametrize("field", ["u", "B", "B_prime", "k_B", "k_E"])
def test_altered_proof_vectors_are_refused(params, mixed, field):
    _, tuples, out, proof = mixed
    bad = copy.deepcopy(proof)
    if field.startswith("k_"):
        bad[field][2] = g.scalar_hex(g.read_scalar(bad[field][2], "k") + 1)
    else:
        bad[field][2] = g.add(g.read_point(bad[field][2], "p"), g.G).hex()
    with pytest.raises(CryptoError, match="shuffle proof"):
        verify_shuffle(params, tuples, out, bad, mixer=1)


@pytest.mark.parametrize("field", ["A_prime", "C_prime", "D_prime", "k_A", "k_C", "k_D"])
def test_altered_proof_values_are_refused(params, mixed, field):
    _, tuples, out, proof = mixed
    bad = copy.deepcopy(proof)
    if field.startswith("k_"):
        bad[field] = g.scalar_hex(g.read_scalar(bad[field], "k") + 1)
    else:
        bad[field] = g.add(g.read_point(bad[field], "p"), g.G).hex()
    with pytest.raises(CryptoError, match="shuffle proof"):
        verify_shuffle(params, tuples, out, bad, mixer=1)


def test_identity_in_a_proof_is_refused(params, mixed):
    _, tuples, out, proof = mixed
    bad = dict(proof, C_prime="0" * 64)
    with pytest.raises(CryptoError, match="C_prime is the identity"):
        verify_shuffle(params, tuples, out, bad, mixer=1)


def test_two_workers_give_a_proof_that_verifies(params, monkeypatch):
    monkeypatch.setattr(_work, "POOL_MIN", 0)  # use the process pool even for a small mix
    _, _, tuples = ballots_for(params, 8, seed=3)
    out, proof = shuffle(params, tuples, mixer=5, workers=2)
    verify_shuffle(params, tuples, out, proof, mixer=5, workers=1)
    out1, proof1 = shuffle(params, tuples, mixer=5, workers=1)
    verify_shuffle(params, tuples, out1, proof1, mixer=5, workers=2)
    bad = list(out1)
    bad[0], bad[1] = bad[1], bad[0]
    with pytest.raises(CryptoError):
        verify_shuffle(params, tuples, bad, proof1, mixer=5, workers=2)

"""Threshold decryption: any t of n decrypt; altered factors and borrowed proofs are refused."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.crypto import (
    CryptoError,
    ElectionParams,
    _work,
    combine,
    decryption_factors,
    encrypt_ballot,
    shuffle,
    verify_decryption_factors,
)
from governance.crypto import group as g
from governance.crypto.ballot import ballot_ciphertexts

from .conftest import ballots_for, credential, run_ceremony


@pytest.fixture(scope="module")
def mixed(threshold_params):
    values, _, tuples = ballots_for(threshold_params, 5, seed=4)
    out, _ = shuffle(threshold_params, tuples, mixer=1)
    return values, out


def _factors(params, ceremony, out, indices):
    result = {}
    for j in indices:
        f, proof = decryption_factors(params, ceremony["states"][j - 1]["secret_share"], j, out)
        verify_decryption_factors(params, j, out, f, proof)
        result[j] = (f, proof)
    return result


def test_any_two_of_three_decrypt(threshold_params, ceremony, mixed):
    values, out = mixed
    all3 = _factors(threshold_params, ceremony, out, [1, 2, 3])
    for pair in itertools.combinations([1, 2, 3], 2):
        got = combine(threshold_params, out, {j: all3[j][0] for j in pair})
        assert sorted(got) == sorted(values)
    with pytest.raises(CryptoError, match="needs factors from 2 trustees, got 1"):
        combine(threshold_params, out, {2: all3[2][0]})


def test_altered_factor_is_refused(threshold_params, ceremony, mixed):
    _, out = mixed
    (f, proof), = _factors(threshold_params, ceremony, out, [2]).values()
    bad = [list(r) for r in f]
    bad[3][1] = g.add(bad[3][1], g.G)
    with pytest.raises(CryptoError, match="trustee 2: the decryption proof does not verify"):
        verify_decryption_factors(threshold_params, 2, out, bad, proof)
    swapped = [list(r) for r in f]
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(CryptoError, match="does not verify"):
        verify_decryption_factors(threshold_params, 2, out, swapped, proof)


def test_proof_from_another_trustee_is_refused(threshold_params, ceremony, mixed):
    _, out = mixed
    facts = _factors(threshold_params, ceremony, out, [1, 2])
    with pytest.raises(CryptoError, match="trustee 1: the decryption proof does not verify"):
        verify_decryption_factors(threshold_params, 1, out, facts[2][0], facts[2][1])
    with pytest.raises(CryptoError, match="trustee 3: the decryption proof does not verify"):
        verify_decryption_factors(threshold_params, 3, out, facts[1][0], facts[1][1])


def test_proof_for_other_ciphertexts_is_refused(threshold_params, ceremony, mixed):
    _, out = mixed
    facts = _factors(threshold_params, ceremony, out, [1])
    with pytest.raises(CryptoError, match="does not verify"):
        verify_decryption_factors(threshold_params, 1, out[::-1], facts[1][0][::-1], facts[1][1])


def test_a_share_must_match_its_trustee(threshold_params, ceremony, mixed):
    _, out = mixed
    with pytest.raises(CryptoError, match="does not belong to trustee 1"):
        decryption_factors(threshold_params, ceremony["states"][1]["secret_share"], 1, out)


def test_out_of_range_values_decode_to_none(params, platform_key):
    ballot, _ = encrypt_ballot(params, [0, 1, 3], credential(1))
    tuples = [ballot_ciphertexts(ballot)]
    a, b = tuples[0][2]
    tuples[0][2] = (a, g.add(b, g.G))  # value 4 > max_value 3, as a malformed ballot would hold
    f, proof = decryption_factors(params, platform_key.secret, 1, tuples)
    verify_decryption_factors(params, 1, tuples, f, proof)
    assert combine(params, tuples, {1: f}) == [[0, 1, None]]


def test_empty_decryption(params, platform_key):
    f, proof = decryption_factors(params, platform_key.secret, 1, [])
    assert (f, proof) == ([], {})
    verify_decryption_factors(params, 1, [], f, proof)
    assert combine(params, [], {1: f}) == []


def test_two_workers_match_one(threshold_params, ceremony, mixed, monkeypatch):
    _, out = mixed
    share = ceremony["states"][0]["secret_share"]
    f1, p1 = decryption_factors(threshold_params, share, 1, out)
    monkeypatch.setattr(_work, "POOL_MIN", 0)
    f2, p2 = decryption_factors(threshold_params, share, 1, out, workers=2)
    assert f1 == f2
    verify_decryption_factors(threshold_params, 1, out, f2, p2, workers=2)
    assert combine(threshold_params, out, {1: f1, 3: _factors(threshold_params, ceremony, out, [3])[3][0]},
                   workers=2) == combine(threshold_params, out, {1: f1, 3: _factors(threshold_params, ceremony,
                                                                                    out, [3])[3][0]})


_CEREMONIES: dict = {}


def _ceremony(n, t):
    if (n, t) not in _CEREMONIES:
        _CEREMONIES[n, t] = run_ceremony(n, t, election_id=f"{n:016x}{t:016x}")
    return _CEREMONIES[n, t]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([(1, 1), (2, 1), (2, 2), (3, 2), (3, 3), (4, 3)]), st.data())
def test_property_encrypt_shuffle_decrypt_with_any_t_of_n(nt, data):
    n, t = nt
    c = _ceremony(n, t)
    params = ElectionParams(**c["fields"], options=["x", "y"], max_value=2)
    values = data.draw(st.lists(st.lists(st.integers(0, 2), min_size=2, max_size=2), min_size=1, max_size=3))
    chosen = data.draw(st.permutations(range(1, n + 1)))[: data.draw(st.integers(t, n))]
    tuples = [ballot_ciphertexts(encrypt_ballot(params, v, credential(i))[0]) for i, v in enumerate(values)]
    out, proof = shuffle(params, tuples, mixer=random.randint(0, 9))
    verify_shuffle_ok = proof["count"] == len(values)
    facts = {}
    for j in chosen:
        f, pr = decryption_factors(params, c["states"][j - 1]["secret_share"], j, out)
        verify_decryption_factors(params, j, out, f, pr)
        facts[j] = f
    assert verify_shuffle_ok and sorted(combine(params, out, facts)) == sorted(values)

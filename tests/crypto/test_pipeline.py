"""verify_pipeline: the whole chain verifies, and the first failing step is named."""

from __future__ import annotations

import copy

import pytest

from governance.crypto import (
    CryptoError,
    decryption_factors,
    encrypt_ballot,
    shuffle,
    tracker,
    verify_pipeline,
)
from governance.crypto import group as g

from .conftest import ballots_for, credential


@pytest.fixture(scope="module")
def transcript(threshold_params, ceremony):
    params = threshold_params
    values, ballots, tuples = ballots_for(params, 5, seed=9)
    mixes, current = [], tuples
    for mixer in ("trustee1", "trustee2"):
        out, proof = shuffle(params, current, mixer=mixer)
        mixes.append({"mixer": mixer, "output": out, "proof": proof})
        current = out
    decryption = {}
    for j in (1, 3):
        f, proof = decryption_factors(params, ceremony["states"][j - 1]["secret_share"], j, current)
        decryption[j] = {"factors": f, "proof": proof}
    return params, values, ballots, mixes, decryption


def test_the_whole_chain_verifies(transcript):
    params, values, ballots, mixes, decryption = transcript
    lines = []
    got = verify_pipeline(params.to_dict(), ballots, mixes, decryption, progress=lines.append)
    assert sorted(got) == sorted(values)
    assert any("mix 2" in ln for ln in lines) and any("trustee 3" in ln for ln in lines)


def test_a_bad_ballot_is_named_by_its_tracker(transcript):
    params, _, ballots, mixes, decryption = transcript
    bad = copy.deepcopy(ballots)
    bad[2]["proof"]["challenge"] = g.scalar_hex(1)
    with pytest.raises(CryptoError, match=f"ballot 2 \\(tracker {tracker(bad[2])}\\): .*proof does not verify"):
        verify_pipeline(params, bad, mixes, decryption)


def test_a_second_ballot_for_one_credential_is_refused(transcript):
    params, _, ballots, mixes, decryption = transcript
    extra, _ = encrypt_ballot(params, [1, 1, 1], credential(0))
    with pytest.raises(CryptoError, match=f"credential {credential(0)} has already cast a ballot"):
        verify_pipeline(params, ballots + [extra], mixes, decryption)


def test_ballot_order_is_the_first_mixs_input(transcript):
    params, _, ballots, mixes, decryption = transcript
    with pytest.raises(CryptoError, match="mix 1 \\(mixer 'trustee1'\\): shuffle proof"):
        verify_pipeline(params, ballots[::-1], mixes, decryption)


def test_a_broken_mix_is_named(transcript):
    params, _, ballots, mixes, decryption = transcript
    bad = copy.deepcopy(mixes)
    bad[1]["output"][0], bad[1]["output"][1] = bad[1]["output"][1], bad[1]["output"][0]
    with pytest.raises(CryptoError, match="mix 2 \\(mixer 'trustee2'\\)"):
        verify_pipeline(params, ballots, bad, decryption)
    with pytest.raises(CryptoError, match="at least one mix"):
        verify_pipeline(params, ballots, [], decryption)
    with pytest.raises(CryptoError, match="mix 2"):
        verify_pipeline(params, ballots, [mixes[0], mixes[0]], decryption)


def test_a_bad_decryption_is_named_by_trustee(transcript):
    params, _, ballots, mixes, decryption = transcript
    bad = copy.deepcopy(decryption)
    bad[3]["factors"][0][0] = g.smul_base(3)
    with pytest.raises(CryptoError, match="decryption of trustee 3: .*does not verify"):
        verify_pipeline(params, ballots, mixes, bad)
    with pytest.raises(CryptoError, match="2 trustees are needed, 1 gave factors"):
        verify_pipeline(params, ballots, mixes, {1: decryption[1]})
    with pytest.raises(CryptoError, match="decryption of trustee 2: .*does not verify"):
        verify_pipeline(params, ballots, mixes, {1: decryption[1], 2: decryption[3]})

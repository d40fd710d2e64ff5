"""Fixtures for governance.crypto: small elections with the platform key and with 2-of-3 trustees."""

from __future__ import annotations

import random

import pytest

from governance.crypto import (
    ElectionParams,
    ballot_ciphertexts,
    ceremony_finish,
    ceremony_init,
    ceremony_share,
    encrypt_ballot,
    platform_keypair,
    verify_ceremony,
)


def make_params(public_key, trustees, threshold=1, width=3, poll=1, election_id="0" * 32, max_value=None):
    return ElectionParams(election_id=election_id, poll=poll, options=[f"option {i}" for i in range(width)],
                          max_value=width if max_value is None else max_value, public_key=public_key,
                          threshold=threshold, trustees=trustees)


def run_ceremony(n, t, election_id="1" * 32, poll=7):
    setup = {"election_id": election_id, "poll": poll, "threshold": t,
             "trustees": [{"index": i, "name": f"trustee{i}"} for i in range(1, n + 1)]}
    certs, states = [], []
    for i in range(1, n + 1):
        c, s = ceremony_init(setup, i)
        certs.append(c)
        states.append(s)
    round2 = [ceremony_share(setup, s, certs) for s in states]
    shares = [m for m, _ in round2]
    states = [s for _, s in round2]
    round3 = [ceremony_finish(setup, s, certs, shares) for s in states]
    keys = [m for m, _ in round3]
    states = [s for _, s in round3]
    return {"setup": setup, "certificates": certs, "shares": shares, "keys": keys, "states": states,
            "fields": verify_ceremony(setup, certs, shares, keys)}


@pytest.fixture(scope="session")
def platform_key():
    return platform_keypair(bytes(range(32)))


@pytest.fixture(scope="session")
def params(platform_key):
    return make_params(platform_key.public_key,
                       [{"index": 1, "name": "platform", "verification_key": platform_key.public_key}])


@pytest.fixture(scope="session")
def ceremony():
    return run_ceremony(3, 2)


@pytest.fixture(scope="session")
def threshold_params(ceremony):
    return ElectionParams(**ceremony["fields"], options=["a", "b", "c"], max_value=3)


def credential(i: int) -> str:
    return f"{i:032x}"


def ballots_for(params, count, seed=0):
    rnd = random.Random(seed)
    values = [[rnd.randint(0, params.max_value) for _ in range(params.width)] for _ in range(count)]
    ballots = [encrypt_ballot(params, v, credential(i))[0] for i, v in enumerate(values)]
    return values, ballots, [ballot_ciphertexts(b) for b in ballots]

"""Build the test vectors of docs/crypto.md §13 (fixed seeds): ``python -m tests.crypto.vectors``."""

from __future__ import annotations

import json

from governance.crypto import (
    ElectionParams,
    ballot_ciphertexts,
    decryption_factors,
    deterministic_rng,
    encrypt_ballot,
    factors_to_json,
    platform_keypair,
    shuffle,
    tracker,
    tuples_to_json,
)
from governance.crypto import group as g


def build() -> dict:
    key = platform_keypair(bytes([1]) * 32, rng=deterministic_rng(b"key proof"))
    params = ElectionParams(election_id="0123456789abcdef0123456789abcdef", poll=1, options=["yes", "no"],
                            max_value=2, public_key=key.public_key, threshold=1,
                            trustees=[{"index": 1, "name": "platform", "verification_key": key.public_key}])
    b1, s1 = encrypt_ballot(params, [1, 0], "00000000000000000000000000000001", rng=deterministic_rng(b"ballot 1"))
    b2, _ = encrypt_ballot(params, [0, 2], "00000000000000000000000000000002", rng=deterministic_rng(b"ballot 2"))
    tuples = [ballot_ciphertexts(b1), ballot_ciphertexts(b2)]
    out, proof = shuffle(params, tuples, mixer=1, rng=deterministic_rng(b"mix 1"))
    factors, dproof = decryption_factors(params, key.secret, 1, out, rng=deterministic_rng(b"decrypt 1"))
    return {
        "seed": "01" * 32, "platform_secret": key.secret.hex(), "platform_key_proof": key.proof,
        "params": params.to_dict(), "fingerprint": params.fingerprint(),
        "generators": [p.hex() for p in g.generators(params.fp, 2)],
        "prg": {"seed": "00" * 64, "values": [g.scalar_hex(v) for v in g.prg(bytes(64), 2)]},
        "ballot_1": {"values": [1, 0], "rng_seed": "ballot 1", "ballot": b1, "secrets": s1, "tracker": tracker(b1)},
        "ballot_2": {"values": [0, 2], "rng_seed": "ballot 2", "ballot": b2, "tracker": tracker(b2)},
        "mix_1": {"rng_seed": "mix 1", "output": tuples_to_json(out), "proof": proof},
        "decryption_1": {"rng_seed": "decrypt 1", "factors": factors_to_json(factors), "proof": dproof},
    }


if __name__ == "__main__":
    print(json.dumps(build(), indent=1, sort_keys=True))  # noqa: T201

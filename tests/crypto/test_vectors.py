"""The test vectors of docs/crypto.md §13 are reproduced, and they verify."""

from __future__ import annotations

import json
from pathlib import Path

from governance.crypto import ElectionParams, verify_pipeline

from .vectors import build

HERE = Path(__file__).parent


def test_vectors_are_reproduced():
    assert build() == json.loads((HERE / "vectors.json").read_text())


def test_vectors_verify_and_decode():
    v = json.loads((HERE / "vectors.json").read_text())
    params = ElectionParams.from_dict(v["params"])
    assert params.fingerprint() == v["fingerprint"]
    values = verify_pipeline(params, [v["ballot_1"]["ballot"], v["ballot_2"]["ballot"]],
                             [{"mixer": 1, "output": v["mix_1"]["output"], "proof": v["mix_1"]["proof"]}],
                             {1: v["decryption_1"]})
    assert sorted(values) == [[0, 2], [1, 0]]


def test_the_spec_quotes_the_vectors():
    v = json.loads((HERE / "vectors.json").read_text())
    spec = (HERE.parents[1] / "docs" / "crypto.md").read_text()
    for value in (v["fingerprint"], v["ballot_1"]["tracker"], v["ballot_1"]["ballot"]["proof"]["challenge"],
                  v["mix_1"]["proof"]["k_A"], v["decryption_1"]["proof"]["challenge"], v["generators"][0],
                  v["prg"]["values"][0], v["params"]["public_key"]):
        assert value in spec

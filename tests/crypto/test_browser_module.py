"""The browser module (static/vendor/governance-crypto.js, built by scripts/build-js) agrees with Python."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from governance.crypto import audit_ballot, deterministic_rng, encrypt_ballot, tracker, verify_ballot

from .conftest import credential

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "static" / "vendor" / "governance-crypto.js"
CRED = credential(5)


def node(jobs):
    if shutil.which("node") is None or not BUNDLE.exists():
        pytest.fail("the browser module is not built: run scripts/build-js (scripts/test does)")
    done = subprocess.run(["node", str(Path(__file__).with_name("js_check.mjs")), str(BUNDLE)],
                          input=json.dumps(jobs), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_same_randomness_gives_the_same_ballot_and_tracker(params):
    p = params.to_dict()
    (js,) = node([{"op": "encrypt", "params": p, "values": [2, 0, 3], "credential": CRED, "seed": "vector-1"}])
    py, secrets = encrypt_ballot(params, [2, 0, 3], CRED, rng=deterministic_rng(b"vector-1"))
    assert js["ballot"] == py
    assert js["tracker"] == tracker(py)
    assert js["secrets"] == secrets


def test_python_accepts_a_javascript_ballot_and_audits_it(params):
    (js,) = node([{"op": "encrypt", "params": params.to_dict(), "values": [1, 3, 0], "credential": CRED}])
    verify_ballot(params, js["ballot"], CRED)
    assert tracker(js["ballot"]) == js["tracker"]
    assert audit_ballot(params, js["ballot"], js["secrets"]) == [1, 3, 0]


def test_javascript_accepts_a_python_ballot_and_refuses_forgeries(params):
    p = params.to_dict()
    ballot, secrets = encrypt_ballot(params, [3, 3, 1], CRED)
    altered = copy.deepcopy(ballot)
    altered["ciphertexts"][0]["beta"], altered["ciphertexts"][1]["beta"] = (altered["ciphertexts"][1]["beta"],
                                                                            altered["ciphertexts"][0]["beta"])
    identity = copy.deepcopy(ballot)
    identity["ciphertexts"][1]["alpha"] = "0" * 64
    noncanonical = copy.deepcopy(ballot)
    noncanonical["ciphertexts"][2]["alpha"] = "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
    other_poll = dict(p, poll=p["poll"] + 1)
    answers = node([
        {"op": "verify", "params": p, "ballot": ballot, "credential": CRED},
        {"op": "audit", "params": p, "ballot": ballot, "secrets": secrets},
        {"op": "tracker", "params": p, "ballot": ballot},
        {"op": "verify", "params": p, "ballot": ballot, "credential": credential(6)},
        {"op": "verify", "params": p, "ballot": dict(ballot, credential=credential(6)), "credential": credential(6)},
        {"op": "verify", "params": p, "ballot": altered, "credential": CRED},
        {"op": "verify", "params": p, "ballot": identity, "credential": CRED},
        {"op": "verify", "params": p, "ballot": noncanonical, "credential": CRED},
        {"op": "verify", "params": other_poll, "ballot": ballot, "credential": CRED},
    ])
    assert answers[0] == {"ok": True}
    assert answers[1] == {"values": [3, 3, 1]}
    assert answers[2] == {"tracker": tracker(ballot), "fingerprint": params.fingerprint()}
    assert "another credential" in answers[3]["error"]
    for a in (answers[4], answers[5], answers[8]):
        assert "proof does not verify" in a["error"]
    assert "identity" in answers[6]["error"]
    assert "not a valid point" in answers[7]["error"]

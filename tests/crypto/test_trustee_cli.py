"""governance-trustee end to end in a temporary directory, as three trustees and an auditor would run it."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest

from governance.crypto import ElectionParams, encrypt_ballot, verify_ceremony
from governance.crypto.trustee_cli import main

from .conftest import credential, run_ceremony


def run(*args):
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def election(tmp_path_factory):
    d = tmp_path_factory.mktemp("trustees")
    setup = {"election_id": "4" * 32, "poll": 12, "threshold": 2,
             "trustees": [{"index": i, "name": f"trustee{i}"} for i in (1, 2, 3)]}
    (d / "setup.json").write_text(json.dumps(setup))
    for i in (1, 2, 3):
        assert run("init", "--setup", d / "setup.json", "--index", i, "--state", d / f"s{i}.json",
                   "--out", d / f"cert{i}.json") == 0
    certs = [d / f"cert{i}.json" for i in (1, 2, 3)]
    for i in (1, 2, 3):
        assert run("share", "--setup", d / "setup.json", "--state", d / f"s{i}.json", "--certificates", *certs,
                   "--out", d / f"shares{i}.json") == 0
    shares = [d / f"shares{i}.json" for i in (1, 2, 3)]
    for i in (1, 2, 3):
        assert run("finish", "--setup", d / "setup.json", "--state", d / f"s{i}.json", "--certificates", *certs,
                   "--shares", *shares, "--out", d / f"key{i}.json") == 0
    load = lambda p: json.loads(p.read_text())  # noqa: E731
    fields = verify_ceremony(setup, [load(p) for p in certs], [load(p) for p in shares],
                             [load(d / f"key{i}.json") for i in (1, 2, 3)])
    params = ElectionParams(**fields, options=["yes", "no"], max_value=2)
    (d / "params.json").write_text(json.dumps(params.to_dict()))
    ballots = [encrypt_ballot(params, v, credential(i))[0] for i, v in enumerate([[1, 0], [0, 1], [1, 0]])]
    (d / "ballots.jsonl").write_text("".join(json.dumps(b) + "\n" for b in ballots))
    return d, params


def test_state_files_are_private_and_hold_no_secret_elsewhere(election):
    d, _ = election
    for i in (1, 2, 3):
        assert stat.S_IMODE((d / f"s{i}.json").stat().st_mode) == 0o600
        secret = json.loads((d / f"s{i}.json").read_text())["secret_share"]
        for public in d.glob("*.json"):
            if public.name != f"s{i}.json":
                assert secret not in public.read_text(), public.name


def test_check_mix_decrypt_verify(election, capsys):
    d, _ = election
    for i in (1, 2, 3):
        assert run("check", "--state", d / f"s{i}.json", "--params", d / "params.json",
                   "--setup", d / "setup.json") == 0
    assert run("mix", "--params", d / "params.json", "--ballots", d / "ballots.jsonl", "--mixer", "1",
               "--out", d / "mix1.json", "--workers", "1") == 0
    assert run("mix", "--params", d / "params.json", "--ballots", d / "ballots.jsonl", "--mix", d / "mix1.json",
               "--mixer", "2", "--out", d / "mix2.json", "--packed", "--workers", "1") == 0
    assert (d / "mix2.json.bin").stat().st_size == 3 * 2 * 64
    mixes = ["--mix", d / "mix1.json", "--mix", d / "mix2.json"]
    for i in (1, 3):
        assert run("decrypt", "--params", d / "params.json", "--state", d / f"s{i}.json", "--ballots",
                   d / "ballots.jsonl", *mixes, "--out", d / f"dec{i}.json", "--workers", "1") == 0
    capsys.readouterr()
    assert run("verify", "--params", d / "params.json", "--ballots", d / "ballots.jsonl", *mixes,
               "--decryption", d / "dec1.json", "--decryption", d / "dec3.json", "--out", d / "values.json",
               "--quiet") == 0
    assert "3 valid and 0 invalid" in capsys.readouterr().out
    assert sorted(json.loads((d / "values.json").read_text())["values"]) == [[0, 1], [1, 0], [1, 0]]


def test_a_tampered_packed_mix_is_one_line_and_exit_2(election, capsys):
    d, _ = election
    if not (d / "mix2.json.bin").exists():
        pytest.skip("needs the mix of the previous test")
    raw = bytearray((d / "mix2.json.bin").read_bytes())
    raw[5] ^= 1
    (d / "bad.json.bin").write_bytes(raw)
    header = json.loads((d / "mix2.json").read_text())
    header["output"]["packed"] = "bad.json.bin"
    (d / "bad.json").write_text(json.dumps(header))
    capsys.readouterr()
    assert run("verify", "--params", d / "params.json", "--ballots", d / "ballots.jsonl", "--mix", d / "mix1.json",
               "--mix", d / "bad.json", "--decryption", d / "dec1.json", "--decryption", d / "dec3.json") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not match the header's sha256" in err[0]


@pytest.mark.parametrize("args, message", [
    (["check", "--state", "missing.json", "--params", "missing.json"], "No such file"),
    (["init", "--setup", "params.json", "--index", "1", "--state", "x.json", "--out", "y.json"], "setup: expected"),
    (["check", "--state", "s1.json", "--params", "setup.json"], "params: expected exactly the keys"),
    (["verify", "--params", "params.json", "--ballots", "setup.json"], "expected a JSON array"),
    (["check", "--state", "s2.json", "--params", "other.json"], "verification key is not the one I computed"),
])
def test_bad_input_is_one_line_and_exit_2(election, capsys, monkeypatch, args, message):
    d, params = election
    # Consistent parameters from another ceremony (say, a platform that ran its own): not mine.
    other = ElectionParams(**run_ceremony(3, 2, election_id="4" * 32, poll=12)["fields"], options=["yes", "no"],
                           max_value=2)
    (d / "other.json").write_text(json.dumps(other.to_dict()))
    monkeypatch.chdir(d)
    capsys.readouterr()
    code = run(*args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err


def test_help_says_the_state_never_leaves_the_machine():
    out = subprocess.run([sys.executable, "-m", "governance.crypto.trustee_cli", "decrypt", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "never" in out and "leaves your machine" in out.replace("\n", " ")

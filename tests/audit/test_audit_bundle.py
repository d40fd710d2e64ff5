"""The audit bundle: a genuine one passes, and every kind of tampering is caught at the right check.

Forgers here are careful: unless a test says otherwise they recompute manifest.json, so the check
that catches them is the one that does not depend on the forger's cooperation.
"""

import json

import pytest

from governance.audit import merkle
from governance.audit.bundle import (
    BUNDLE_FILES,
    ballots_jsonl,
    build_bundle,
    normalize_ballots,
    results_hash,
)
from governance.audit.canonical import AuditError, canonical_json
from governance.audit.report import ERROR, FAIL, NOT_RUN, OK, SKIP, WARN
from governance.audit.signing import generate_key, sign_head
from governance.audit.verifier import verify_bundle
from governance.tally.core import Profile
from tests.audit.audit_support import (
    TOY_CODECS,
    jsonl,
    make_ballots,
    make_poll,
    read_zip,
    resign,
    tamper,
    toy_irv,
    write_zip,
)


def verify(data, poll, **kwargs):
    """Verify with the test counter and codecs and, unless told otherwise, the server's key."""
    kwargs.setdefault("public_key", poll.public_pem)
    return verify_bundle(data, tallier=toy_irv, codecs=TOY_CODECS, **kwargs)


def first_problem(report):
    """(check name, status, detail) of the first problem."""
    problem = report.first_problem
    assert problem is not None, "the bundle was expected to fail"
    return problem.name, problem.status, problem.detail


def ballot_files(poll, ballots) -> dict[str, bytes]:
    """ballots.jsonl and the three ballot files, consistent with each other, for these ballots."""
    norm = normalize_ballots(ballots)
    profile = Profile.build(poll.election["candidates"], [b["ranking"] for b in norm], seats=1, title="")
    files = {"ballots.jsonl": ballots_jsonl(norm)}
    for name, codec in TOY_CODECS.items():
        files[name] = codec.write(profile).encode()
    return files


def electorate_file(poll, **changes) -> bytes:
    """electorate.json with some keys replaced."""
    data = {
        "eligible": sorted(poll.electorate["eligible"], key=lambda m: m["username"]),
        "participants": sorted(poll.electorate["participants"]),
    }
    data.update(changes)
    return json.dumps(data).encode()


def log_file(entries) -> bytes:
    """log.jsonl for these entries."""
    return jsonl([e.to_dict() for e in entries])


# === A genuine bundle ===========================================================================


def test_genuine_bundle_passes_every_check(poll, bundle):
    report = verify(bundle, poll)
    assert report.ok and not report.malformed
    assert {c.name: c.status for c in report.checks} == {
        "bundle": OK,
        "manifest": OK,
        "election": OK,
        "ballots": OK,
        "formats": OK,
        "electorate": OK,
        "chain": OK,
        "proofs": OK,
        "signature": OK,
        "published_head": SKIP,
        "commitments": OK,
        "rules": OK,  # a poll from before the charter's election rules: nothing frozen, nothing to check
        "recount": OK,
    }
    assert report.ballots == 41 and report.head == poll.head
    assert "elected: Cyd" in report.check("recount").detail


def test_published_head_root_is_compared(poll, bundle):
    assert (
        verify(bundle, poll, expected_head_root=poll.head["root_hash"].upper()).check("published_head").status
        == OK
    )
    report = verify(bundle, poll, expected_head_root="ab" * 32)
    assert first_problem(report)[:2] == ("published_head", FAIL)


def test_bundle_holds_the_specified_files(poll, bundle):
    files = read_zip(bundle)
    assert set(files) == {"manifest.json", *BUNDLE_FILES}
    manifest = json.loads(files["manifest.json"])
    assert manifest["format"] == "governance-audit-bundle" and manifest["version"] == 1
    assert set(manifest["files"]) == set(BUNDLE_FILES)
    ballots = [json.loads(line) for line in files["ballots.jsonl"].splitlines()]
    assert [b["tracker"] for b in ballots] == sorted(b["tracker"] for b in poll.ballots)
    assert all(set(b) == {"tracker", "ranking"} for b in ballots)
    assert files["results.json"] == canonical_json(json.loads(files["results.json"]))
    electorate = json.loads(files["electorate.json"])
    assert set(electorate) == {"eligible", "participants"}
    assert [json.loads(line)["seq"] for line in files["log.jsonl"].splitlines()] == [2, 5, 6]
    proofs = json.loads(files["proofs.json"])
    assert [p["leaf_index"] for p in proofs["entries"]] == [2, 5, 6]


def test_same_inputs_give_the_same_bytes(poll, bundle):
    assert poll.build() == bundle


def test_checks_after_the_first_problem_do_not_run(poll, bundle):
    report = verify(tamper(bundle, {"ballots.jsonl": b""}, manifest=False), poll)
    statuses = [c.status for c in report.checks]
    assert statuses[:2] == [OK, FAIL] and set(statuses[2:]) == {NOT_RUN}


# === Ballots ====================================================================================


def changed_ballots(poll):
    ballots = [dict(b) for b in poll.ballots]
    ballots[5] = {"tracker": ballots[5]["tracker"], "ranking": [["Dee"], ["Ada"]]}
    return ballots


def test_changed_ballot_without_new_manifest(poll, bundle):
    forged = tamper(
        bundle, {"ballots.jsonl": ballot_files(poll, changed_ballots(poll))["ballots.jsonl"]}, manifest=False
    )
    assert first_problem(verify(forged, poll)) == (
        "manifest",
        FAIL,
        "ballots.jsonl does not match its SHA-256 and size in the manifest: it was changed",
    )


def test_changed_ballot_with_new_manifest(poll, bundle):
    forged = tamper(bundle, {"ballots.jsonl": ballot_files(poll, changed_ballots(poll))["ballots.jsonl"]})
    name, status, detail = first_problem(verify(forged, poll))
    assert (name, status) == ("formats", FAIL)
    assert detail.startswith("ballots.blt holds different ballots from ballots.jsonl (1 ballot(s) missing")


def test_changed_ballot_with_every_ballot_file_redone(poll, bundle):
    forged = tamper(bundle, ballot_files(poll, changed_ballots(poll)))
    assert first_problem(verify(forged, poll)) == (
        "commitments",
        FAIL,
        "ballots.jsonl is not the ballot set the log entry 5 (poll.closed) committed to",
    )


def test_added_ballot(poll, bundle):
    extra = {"tracker": "f" * 32, "ranking": [["Ada"]]}
    files = ballot_files(poll, [*poll.ballots, extra])
    name, status, detail = first_problem(verify(tamper(bundle, files), poll))
    assert (name, status, detail) == ("electorate", FAIL, "41 members took part but there are 42 ballots")
    # Claiming one more participant does not help: the log committed to 41 ballots.
    files["electorate.json"] = electorate_file(
        poll, participants=[*poll.electorate["participants"], "member50"]
    )
    name, status, detail = first_problem(verify(tamper(bundle, files), poll))
    assert (name, status) == ("commitments", FAIL) and "ballot set" in detail


def test_removed_ballot(poll, bundle):
    files = ballot_files(poll, poll.ballots[1:])
    assert first_problem(verify(tamper(bundle, files), poll))[:2] == ("electorate", FAIL)
    files["electorate.json"] = electorate_file(poll, participants=poll.electorate["participants"][1:])
    assert first_problem(verify(tamper(bundle, files), poll))[:2] == ("commitments", FAIL)


def test_reordered_ballots(poll, bundle):
    lines = read_zip(bundle)["ballots.jsonl"].splitlines(keepends=True)
    lines[3], lines[4] = lines[4], lines[3]
    name, status, detail = first_problem(verify(tamper(bundle, {"ballots.jsonl": b"".join(lines)}), poll))
    assert (name, status) == ("ballots", FAIL)
    assert detail.startswith("ballots.jsonl line 5: tracker") and detail.endswith(
        "is out of order (ballots must be sorted by tracker)"
    )


def test_duplicated_ballot(poll, bundle):
    lines = read_zip(bundle)["ballots.jsonl"].splitlines(keepends=True)
    lines.insert(4, lines[3])
    name, status, detail = first_problem(verify(tamper(bundle, {"ballots.jsonl": b"".join(lines)}), poll))
    assert (name, status) == ("ballots", FAIL) and "appears twice" in detail


def test_ballot_for_an_unknown_candidate(poll, bundle):
    lines = read_zip(bundle)["ballots.jsonl"].splitlines(keepends=True)
    ballot = json.loads(lines[0])
    ballot["ranking"] = [["Eve"]]
    lines[0] = canonical_json(ballot) + b"\n"
    assert first_problem(verify(tamper(bundle, {"ballots.jsonl": b"".join(lines)}), poll)) == (
        "ballots",
        FAIL,
        "ballots.jsonl line 1: 'Eve' is not a candidate",
    )


def test_ballot_line_that_links_a_voter(poll, bundle):
    lines = read_zip(bundle)["ballots.jsonl"].splitlines(keepends=True)
    ballot = json.loads(lines[0]) | {"voter": "member01"}
    lines[0] = canonical_json(ballot) + b"\n"
    name, status, detail = first_problem(verify(tamper(bundle, {"ballots.jsonl": b"".join(lines)}), poll))
    assert (name, status) == ("ballots", ERROR) and "exactly tracker and ranking" in detail


# === Electorate =================================================================================


def test_swapped_electorate(poll, bundle):
    eligible = [dict(m) for m in poll.electorate["eligible"]]
    eligible[0] = {"username": "sockpuppet", "evidence": eligible[0]["evidence"]}
    forged = tamper(bundle, {"electorate.json": electorate_file(poll, eligible=eligible)})
    assert first_problem(verify(forged, poll)) == (
        "electorate",
        FAIL,
        "electorate.json does not hash to the electorate_hash frozen in election.json",
    )


def test_electorate_hash_rewritten_in_election_json(poll, bundle):
    from governance.audit.bundle import electorate_hash

    eligible = [*poll.electorate["eligible"], {"username": "sockpuppet", "evidence": {}}]
    election = dict(poll.election, electorate_hash=electorate_hash(eligible))
    forged = tamper(
        bundle,
        {
            "electorate.json": electorate_file(poll, eligible=eligible),
            "election.json": json.dumps(election).encode(),
        },
    )
    name, status, detail = first_problem(verify(forged, poll))
    assert (name, status) == ("commitments", FAIL)
    assert detail == "election.json electorate_hash is not the one log entry 2 (poll.opened) froze"


def test_participant_outside_the_electorate(poll, bundle):
    participants = [*poll.electorate["participants"][1:], "stranger"]
    forged = tamper(bundle, {"electorate.json": electorate_file(poll, participants=participants)})
    assert first_problem(verify(forged, poll)) == (
        "electorate",
        FAIL,
        "electorate.json: participant 'stranger' is not in the electorate",
    )


# === Event log ==================================================================================


def test_log_entry_edited_without_recomputing_its_hash(poll, bundle):
    closed = poll.entry("poll.closed")
    edited = closed.__class__(**(closed.to_dict() | {"payload": dict(closed.payload, ballots=40)}))
    entries = [poll.entry("poll.opened"), edited, poll.entry("poll.tallied")]
    assert first_problem(verify(tamper(bundle, {"log.jsonl": log_file(entries)}), poll)) == (
        "chain",
        FAIL,
        "log entry 5: wrong hash: the entry's contents were changed after it was hashed",
    )


def test_log_entry_edited_with_its_hash_recomputed(poll, bundle):
    forged_closed = resign(
        poll.entry("poll.closed"), payload=dict(poll.entry("poll.closed").payload, ballots=40)
    )
    entries = [poll.entry("poll.opened"), forged_closed, poll.entry("poll.tallied")]
    assert first_problem(verify(tamper(bundle, {"log.jsonl": log_file(entries)}), poll)) == (
        "chain",
        FAIL,
        "log entry 6: wrong prev_hash: it is not the hash of entry 5",
    )


def test_log_entry_rewritten_whole_chain_onwards(poll, bundle):
    # Re-hashing the following entries too leaves a chain that holds, but not the log the head covers.
    forged_closed = resign(
        poll.entry("poll.closed"), payload=dict(poll.entry("poll.closed").payload, ballots=40)
    )
    forged_tallied = resign(poll.entry("poll.tallied"), prev_hash=forged_closed.hash)
    entries = [poll.entry("poll.opened"), forged_closed, forged_tallied]
    assert first_problem(verify(tamper(bundle, {"log.jsonl": log_file(entries)}), poll)) == (
        "proofs",
        FAIL,
        "log entry 5 is not in the log under the tree head (inclusion proof fails)",
    )


def test_isolated_log_entry_edited_with_its_hash_recomputed(poll, bundle):
    opened = poll.entry("poll.opened")
    forged = resign(opened, payload=dict(opened.payload, tie_break_seed="0" * 64))
    entries = [forged, poll.entry("poll.closed"), poll.entry("poll.tallied")]
    assert first_problem(verify(tamper(bundle, {"log.jsonl": log_file(entries)}), poll)) == (
        "proofs",
        FAIL,
        "log entry 2 is not in the log under the tree head (inclusion proof fails)",
    )


def test_log_entries_reordered(poll, bundle):
    entries = [poll.entry("poll.closed"), poll.entry("poll.opened"), poll.entry("poll.tallied")]
    assert first_problem(verify(tamper(bundle, {"log.jsonl": log_file(entries)}), poll)) == (
        "chain",
        FAIL,
        "log entry 2: out of order: it comes after entry 5",
    )


def test_log_entry_dropped(poll, bundle):
    entries = [poll.entry("poll.opened"), poll.entry("poll.tallied")]
    name, status, detail = first_problem(verify(tamper(bundle, {"log.jsonl": log_file(entries)}), poll))
    assert (name, status, detail) == (
        "proofs",
        FAIL,
        "proofs.json does not hold exactly one proof per log entry",
    )


# === Results ====================================================================================


def test_results_changed_after_the_tally(poll, bundle):
    results = json.loads(read_zip(bundle)["results.json"])
    results["elected"] = ["Ada"]
    forged = tamper(bundle, {"results.json": canonical_json(results)})
    assert first_problem(verify(forged, poll)) == (
        "commitments",
        FAIL,
        "results.json is not the result the log entry 6 (poll.tallied) committed to",
    )


def _lying_poll(change):
    genuine = toy_irv(make_poll().election, normalize_ballots(make_ballots()))
    fake = genuine.to_dict()
    change(fake)
    # The server counts wrongly from the start: its log commits to the false result.
    return make_poll(results=fake, tallier=lambda election, ballots: fake)


def test_result_that_does_not_follow_from_the_ballots():
    def swap_winner(fake):
        fake["elected"] = ["Ada"]
        fake["rounds"][-1]["elected"] = ["Ada"]

    lying = _lying_poll(swap_winner)
    report = verify(lying.build(), lying)
    assert report.check("commitments").status == OK
    assert first_problem(report) == (
        "recount",
        FAIL,
        "published winners ['Ada'] but the re-count elects ['Cyd']",
    )


def test_result_with_a_wrong_round_but_the_right_winner():
    def shift_a_vote(fake):
        fake["rounds"][0]["votes"]["Ada"] = "15"
        fake["rounds"][0]["votes"]["Brook"] = "7"

    lying = _lying_poll(shift_a_vote)
    assert first_problem(verify(lying.build(), lying)) == (
        "recount",
        FAIL,
        "round 1 differs from the re-count (in votes)",
    )


def test_build_refuses_results_that_do_not_follow(poll):
    fake = toy_irv(poll.election, normalize_ballots(poll.ballots)).to_dict() | {"elected": ["Dee"]}
    with pytest.raises(AuditError, match=r"do not follow from the ballots: published winners \['Dee'\]"):
        poll.build(results=fake)


# === Head and signature =========================================================================


def test_head_replaced_by_an_older_genuine_head(poll, bundle):
    older_root = merkle.root([e.leaf for e in poll.log[:7]])
    older = sign_head(poll.private_pem, 7, older_root, "2026-03-08T10:00:05Z")
    files = read_zip(bundle)
    assert first_problem(verify(tamper(bundle, {"head.json": json.dumps(older).encode()}), poll)) == (
        "proofs",
        FAIL,
        "proofs.json was made for another tree head than head.json",
    )
    proofs = json.loads(files["proofs.json"]) | {"tree_size": 7, "root_hash": older_root.hex()}
    forged = tamper(
        bundle, {"head.json": json.dumps(older).encode(), "proofs.json": json.dumps(proofs).encode()}
    )
    assert first_problem(verify(forged, poll)) == (
        "proofs",
        FAIL,
        "log entry 2 is not in the log under the tree head (inclusion proof fails)",
    )


def test_whole_bundle_forged_under_another_key(poll):
    forger = make_poll(private_pem=generate_key()[0], ballots=make_ballots(seed=8))  # other ballots, new log
    forged = forger.build()
    name, status, detail = first_problem(verify(forged, poll))  # the auditor has the real key
    assert (name, status) == ("signature", FAIL)
    assert detail.startswith(f"the tree head was signed by key {forger.head['key_id']}, not by the given key")
    # Without the key, the independently published root gives it away.
    report = verify(forged, poll, public_key=None, expected_head_root=poll.head["root_hash"])
    assert report.check("signature").status == WARN
    assert first_problem(report)[:2] == ("published_head", FAIL)


def test_bad_signature(poll, bundle):
    head = dict(poll.head)
    head["signature"] = ("0" if head["signature"][0] != "0" else "1") + head["signature"][1:]
    forged = tamper(bundle, {"head.json": json.dumps(head).encode()})
    assert first_problem(verify(forged, poll)) == (
        "signature",
        FAIL,
        "the tree head signature does not verify: the head was altered",
    )


def test_head_with_a_moved_timestamp(poll, bundle):
    head = dict(poll.head, timestamp="2026-03-01T00:00:00Z")
    report = verify(tamper(bundle, {"head.json": json.dumps(head).encode()}), poll)
    assert first_problem(report)[:2] == ("signature", FAIL)


def test_key_shipped_in_the_bundle_is_used_with_a_warning(poll, bundle):
    report = verify(bundle, poll, public_key=None)
    assert report.ok
    check = report.check("signature")
    assert (
        check.status == WARN
        and "key shipped in the bundle" in check.detail
        and poll.head["key_id"] in check.detail
    )


def test_unsigned_head_is_reported_clearly():
    unsigned = make_poll(private_pem=None)
    data = unsigned.build()
    assert "public_key.pem" not in read_zip(data)
    report = verify(data, unsigned)
    assert report.ok and [c.name for c in report.warnings] == ["signature"]
    assert report.check("signature").detail.startswith("the tree head is UNSIGNED")


def test_unsigned_head_with_a_public_key_file(poll):
    unsigned = make_poll(private_pem=None)
    forged = tamper(unsigned.build(), {"public_key.pem": poll.public_pem})
    assert first_problem(verify(forged, unsigned)) == (
        "signature",
        FAIL,
        "the tree head is unsigned but the bundle ships a public key",
    )


# === Files ======================================================================================


@pytest.mark.parametrize("name", ["results.csv", "log.jsonl", "head.json", "ballots.toi"])
def test_missing_file(poll, bundle, name):
    report = verify(tamper(bundle, drop=(name,), manifest=False), poll)
    assert first_problem(report) == (
        "manifest",
        ERROR,
        f"{name} is listed in the manifest but missing from the bundle",
    )
    assert report.malformed
    report = verify(tamper(bundle, drop=(name,)), poll)
    assert first_problem(report) == ("manifest", ERROR, f"{name} is missing from the bundle")


def test_extra_file(poll, bundle):
    report = verify(tamper(bundle, {"notes.txt": b"hello"}, manifest=False), poll)
    assert first_problem(report) == (
        "manifest",
        FAIL,
        "notes.txt is in the bundle but not in the manifest (extra file)",
    )
    report = verify(tamper(bundle, {"notes.txt": b"hello"}), poll)
    assert first_problem(report) == (
        "manifest",
        FAIL,
        "notes.txt is not a file of the bundle format (extra file)",
    )
    assert not report.malformed


def test_not_a_zip(poll, tmp_path):
    assert first_problem(verify(b"PK\x03\x04 not really", poll))[:2] == ("bundle", ERROR)
    missing = tmp_path / "nothing.zip"
    name, status, detail = first_problem(verify(missing, poll))
    assert (name, status) == ("bundle", ERROR) and detail.startswith(f"cannot read {missing}")
    assert first_problem(verify(write_zip({"a.txt": b"x"}, manifest=False), poll)) == (
        "bundle",
        ERROR,
        "manifest.json is missing: this is not an audit bundle",
    )


def test_bundle_read_from_a_path(poll, bundle, tmp_path):
    path = tmp_path / "poll-7.zip"
    path.write_bytes(bundle)
    assert verify(path, poll).ok and verify(str(path), poll).ok


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("election.json", b"{not json", "election.json is not valid JSON"),
        ("election.json", b"[]", "election.json must be a JSON object"),
        ("head.json", b'{"tree_size": 1}', "head.json: tree head fields are wrong"),
        ("log.jsonl", b'{"seq": 0}\n', "log.jsonl line 1: log entry fields are wrong"),
        ("ballots.jsonl", b'{"tracker": "ab"', "ballots.jsonl does not end with a newline"),
        ("manifest.json", b"{}", "manifest.json does not describe a governance-audit-bundle"),
        ("proofs.json", b"NaN", "proofs.json is not valid JSON"),
    ],
)
def test_corrupt_files_are_malformed_input(poll, bundle, name, content, message):
    report = verify(tamper(bundle, {name: content}, manifest=name != "manifest.json"), poll)
    problem = report.first_problem
    assert problem.status == ERROR and problem.detail.startswith(message) and report.malformed


def test_newer_format_version_is_refused(poll, bundle):
    manifest = json.loads(read_zip(bundle)["manifest.json"]) | {"version": 3}
    report = verify(tamper(bundle, {"manifest.json": json.dumps(manifest).encode()}, manifest=False), poll)
    assert first_problem(report) == (
        "manifest",
        ERROR,
        "bundle format version 3 is not supported (this verifier reads versions 1 and 2)",
    )


# === Building ===================================================================================


def test_build_refuses_inconsistent_inputs(poll):
    with pytest.raises(AuditError, match="covers 8 entries but 7 hashes"):
        poll.build(all_entry_hashes=[e.hash for e in poll.log[:7]])
    with pytest.raises(AuditError, match="not the Merkle root"):
        poll.build(all_entry_hashes=[e.hash for e in reversed(poll.log)])
    with pytest.raises(AuditError, match="log entry 5 is not in the log"):
        poll.build(log_entries=[resign(poll.entry("poll.closed"), actor="x")])
    with pytest.raises(AuditError, match="needs the public key"):
        poll.build(public_key_pem=None)
    with pytest.raises(AuditError, match="'Eve' is not a candidate"):
        poll.build(ballots=[{"tracker": "a" * 32, "ranking": [["Eve"]]}])
    with pytest.raises(AuditError, match="used by more than one ballot"):
        poll.build(ballots=[poll.ballots[0], poll.ballots[0]])
    with pytest.raises(AuditError, match="seats"):
        poll.build(election=dict(poll.election, seats=0))
    with pytest.raises(AuditError, match="no writer for ballots.abif"):
        poll.build(codecs={"ballots.blt": TOY_CODECS["ballots.blt"]})


def test_build_fills_in_the_electorate_hash(poll):
    election = {k: v for k, v in poll.election.items() if k != "electorate_hash"}
    data = poll.build(election=election)
    assert json.loads(read_zip(data)["election.json"])["electorate_hash"] == poll.election["electorate_hash"]


def test_results_hash_is_the_hash_of_results_json(poll, bundle):
    from governance.audit.canonical import sha256_hex

    assert results_hash(poll.results) == sha256_hex(read_zip(bundle)["results.json"])
    assert poll.entry("poll.tallied").payload["results_hash"] == results_hash(poll.results.to_dict())


def test_build_bundle_is_keyword_only(poll):
    with pytest.raises(TypeError):
        build_bundle(poll.election)  # type: ignore[misc]

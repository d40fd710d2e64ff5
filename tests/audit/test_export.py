"""Audit bundles exported from the database, for polls driven through their real lifecycle.

Runs on SQLite and PostgreSQL. The bundle must pass ``verify_bundle`` and ``governance-audit
verify``; every kind of tampering must be caught; an independent tabulator (pref_voting) reading
the exported BLT must find the same winner.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from pref_voting.iterative_methods import instant_runoff_for_truncated_linear_orders
from pref_voting.margin_based_methods import beat_path
from pref_voting.profiles_with_ties import ProfileWithTies
from sqlmodel import select

from governance.audit import cli as audit_cli
from governance.audit import export
from governance.audit.canonical import canonical_json, sha256_hex
from governance.audit.chain import Entry
from governance.audit.verifier import verify_bundle
from governance.errors import Conflict, NotFound
from governance.models import Poll, TreeHead
from governance.polls import charter, service
from tests.audit.audit_support import jsonl, read_zip, resign, tamper
from tests.audit.test_export_support import (
    COMMUNITY_BALLOTS,
    GROUP_BALLOTS,
    community_poll,
    group_poll,
    open_and_vote,
    schedule_decision,
)
from tests.conftest import sync_member


def _counted_head(session, poll_id: int) -> TreeHead:
    """The head made when the poll was counted: the one its results post carries, its bundle's."""
    return session.exec(select(TreeHead).where(TreeHead.reason == f"poll {poll_id} counted")).one()


def _files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


# === A group poll: the whole bundle verifies ====================================================


def test_group_poll_bundle_verifies_with_the_servers_key(forum_app, forum, session, keys):
    driven = group_poll(forum_app, forum, session)
    data = export.poll_bundle(session, driven.poll_id)

    report = verify_bundle(data, public_key=keys[1])
    assert report.ok, report.first_problem
    assert report.check("signature").status == "OK"
    poll = session.get(Poll, driven.poll_id)
    head = _counted_head(session, driven.poll_id)
    assert verify_bundle(data, public_key=keys[1], expected_head_root=head.root_hash).ok
    files = _files(data)
    election = json.loads(files["election.json"])
    assert election["electorate_hash"] == poll.electorate_hash
    assert election["tie_break_seed"] == poll.tie_seed
    assert election["body"] == "sig-security" and election["kind"] == "decision"
    assert election["candidates"] == ["Ash", "Birch", "Cedar"]
    assert json.loads(files["results.json"]) == poll.result
    assert json.loads(files["head.json"])["key_id"] == head.key_id
    # The same poll always gives the same bytes.
    assert export.poll_bundle(session, driven.poll_id) == data


def test_bundle_never_links_a_voter_to_a_ballot(forum_app, forum, session, keys):
    driven = group_poll(forum_app, forum, session)
    files = _files(export.poll_bundle(session, driven.poll_id))
    electorate = json.loads(files["electorate.json"])
    assert electorate["participants"] == sorted(GROUP_BALLOTS)
    assert [m["username"] for m in electorate["eligible"]] == sorted(m["username"] for m in electorate["eligible"])
    assert len(electorate["eligible"]) == 7
    trackers = set(driven.trackers.values())
    assert not any(t.encode() in files["electorate.json"] for t in trackers)
    for name in ("ballots.jsonl", "ballots.blt", "ballots.abif", "ballots.toi", "results.json"):
        for username in GROUP_BALLOTS:
            assert username.encode() not in files[name], (name, username)
    ballot_entries = [json.loads(line) for line in files["log.jsonl"].splitlines()
                      if json.loads(line)["type"].startswith("ballot.")]
    assert len(ballot_entries) == len(GROUP_BALLOTS)
    for entry in ballot_entries:
        assert entry["actor"] is None
        assert not any(username in json.dumps(entry) for username in GROUP_BALLOTS)
    # The decrypted ballots carry no tracker: mixing broke every link to the encrypted ones.
    lines = [json.loads(line) for line in files["ballots.jsonl"].splitlines()]
    assert [b["position"] for b in lines] == list(range(len(GROUP_BALLOTS)))
    assert all(set(b) == {"position", "ranking"} for b in lines)
    assert not any(t.encode() in files["ballots.jsonl"] for t in trackers)
    # The board names trackers and credentials, never members.
    board = [json.loads(line) for line in files["board.jsonl"].splitlines()]
    assert {b["tracker"] for b in board} == trackers
    for username in GROUP_BALLOTS:
        assert username.encode() not in files["board.jsonl"]


def test_unsigned_head_bundle_verifies_with_a_warning(forum_app, forum, session, unsigned):
    driven = group_poll(forum_app, forum, session)
    data = export.poll_bundle(session, driven.poll_id)
    report = verify_bundle(data)
    assert report.ok, report.first_problem
    assert report.check("signature").status == "WARN"
    assert "public_key.pem" not in _files(data)


def test_bundle_uses_the_head_made_at_the_close_and_keeps_its_bytes(forum_app, forum, session, keys):
    from governance.audit import log

    first = group_poll(forum_app, forum, session)
    before = export.poll_bundle(session, first.poll_id)
    second = community_poll(forum_app, forum, session)
    assert session.get(TreeHead, 4).reason == f"poll {second.poll_id} counted"
    assert export.poll_bundle(session, first.poll_id) == before
    assert json.loads(_files(before)["head.json"])["root_hash"] == _counted_head(session, first.poll_id).root_hash

    # An entry about the poll that no head covers yet: no bundle until the next head.
    log.record(session=session, type="poll.note", actor=None, poll_id=first.poll_id, payload={"poll": first.poll_id})
    session.commit()
    with pytest.raises(Conflict, match="No tree head covers"):
        export.poll_bundle(session, first.poll_id)
    log.make_head(session=session, reason="test")
    session.commit()
    later = export.poll_bundle(session, first.poll_id)
    assert json.loads(_files(later)["head.json"])["root_hash"] == session.get(TreeHead, 5).root_hash
    assert verify_bundle(later, public_key=keys[1]).ok


def test_export_refuses_unknown_and_open_polls(forum_app, forum, session, keys):
    with pytest.raises(NotFound):
        export.poll_bundle(session, 999)
    poll_id = schedule_decision(session, forum, body="sig-security", manager="vexillum")
    with pytest.raises(Conflict, match="scheduled"):
        export.poll_bundle(session, poll_id)
    open_and_vote(forum_app, forum, session, poll_id, {"vexillum": [["Ash"]]})
    with pytest.raises(Conflict, match="open"):
        export.poll_bundle(session, poll_id)
    poll = session.get(Poll, poll_id)
    service.cancel(session=session, actor=sync_member(session, forum, "tamsin_ward"), charter=charter.current(session),
                   poll=poll, reason="Duplicate of another poll.")  # an open poll: the committee cancels it
    session.commit()
    with pytest.raises(Conflict, match="cancelled"):
        export.poll_bundle(session, poll_id)


def test_export_refuses_an_electorate_changed_after_opening(forum_app, forum, session, keys):
    from governance.models import ElectorateEntry

    driven = group_poll(forum_app, forum, session)
    entry = session.exec(select(ElectorateEntry).where(ElectorateEntry.poll_id == driven.poll_id)).first()
    entry.evidence = {**entry.evidence, "trust_level": 4}
    session.add(entry)
    session.commit()
    with pytest.raises(Conflict, match="no longer hashes"):
        export.poll_bundle(session, driven.poll_id)


# === The command line ===========================================================================


def test_cli_export_is_accepted_by_governance_audit_verify(forum_app, forum, session, keys, tmp_path, capsys):
    driven = group_poll(forum_app, forum, session)
    out = tmp_path / "poll.zip"
    result = forum_app.test_cli_runner().invoke(args=["audit", "export", str(driven.poll_id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert out.read_bytes() == export.poll_bundle(session, driven.poll_id)

    key_file = tmp_path / "server.pem"
    key_file.write_bytes(keys[1])
    root = _counted_head(session, driven.poll_id).root_hash
    assert audit_cli.main(["verify", str(out), "--public-key", str(key_file), "--head", root]) == 0
    assert "PASSED" in capsys.readouterr().out

    broken = tmp_path / "broken.zip"
    files = read_zip(out.read_bytes())
    ballots = [json.loads(line) for line in files["ballots.jsonl"].splitlines()]
    ballots[0]["ranking"] = [["Cedar"]]
    broken.write_bytes(tamper(out.read_bytes(), {"ballots.jsonl": jsonl(ballots)}))
    assert audit_cli.main(["verify", str(broken), "--public-key", str(key_file)]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_cli_export_of_an_open_poll_fails_with_a_reason(forum_app, forum, session, keys, tmp_path):
    poll_id = schedule_decision(session, forum, body="sig-security", manager="vexillum")
    runner = forum_app.test_cli_runner()
    result = runner.invoke(args=["audit", "export", str(poll_id), "--out", str(tmp_path / "x.zip")])
    assert result.exit_code == 1
    assert "once voting has closed" in result.output
    assert not (tmp_path / "x.zip").exists()
    result = runner.invoke(args=["audit", "export", "abc", "--out", str(tmp_path / "x.zip")])
    assert result.exit_code == 2


# === Tampering ==================================================================================


def _ballots(files):
    return [json.loads(line) for line in files["ballots.jsonl"].splitlines()]


def _board(files):
    return [json.loads(line) for line in files["board.jsonl"].splitlines()]


def _board_bytes(board):
    return b"".join(canonical_json(b) + b"\n" for b in board)


def _entries(files):
    return [Entry.from_dict(json.loads(line)) for line in files["log.jsonl"].splitlines()]


def _log(entries):
    return b"".join(canonical_json(e.to_dict()) + b"\n" for e in entries)


def _with_formats(files, ballots):
    """ballots.jsonl and the three ballot formats rewritten consistently (a careful forger)."""
    from governance.audit.bundle import default_codecs
    from governance.tally.core import Profile

    election = json.loads(files["election.json"])
    profile = Profile.build(election["candidates"], [b["ranking"] for b in ballots if "ranking" in b],
                            seats=election["seats"], title=election["title"])
    changes = {"ballots.jsonl": jsonl(ballots)}
    for name, codec in default_codecs().items():
        changes[name] = codec.write(profile).encode("utf-8")
    return changes


def _changed_ballot(files):
    ballots = _ballots(files)
    ballots[1]["ranking"] = [["Cedar"], ["Birch"]]
    return _with_formats(files, ballots)


def _added_ballot(files):
    ballots = _ballots(files)
    return _with_formats(files, ballots + [{"position": len(ballots), "ranking": [["Cedar"]]}])


def _removed_ballot(files):
    return _with_formats(files, _ballots(files)[:-1])


def _edited_middle_entry(files):
    entries = _entries(files)
    middle = len(entries) // 2
    payload = dict(entries[middle].payload)
    payload["edited"] = True
    entries[middle] = resign(entries[middle], payload=payload)
    return {"log.jsonl": _log(entries)}


def _result_that_does_not_follow(files):
    results = json.loads(files["results.json"])
    results["elected"] = ["Cedar"]
    return {"results.json": canonical_json(results)}


def _swapped_electorate(files):
    electorate = json.loads(files["electorate.json"])
    electorate["eligible"][0] = {**electorate["eligible"][0], "username": "mallory"}
    return {"electorate.json": json.dumps(electorate, indent=2).encode()}


def _altered_board_ciphertext(files):
    board = _board(files)
    cts = board[0]["ballot"]["ciphertexts"]
    cts[0], cts[1] = cts[1], cts[0]
    return {"board.jsonl": _board_bytes(board)}


def _altered_board_ballot_with_its_tracker(files):
    from governance import crypto

    board = _board(files)
    cts = board[0]["ballot"]["ciphertexts"]
    cts[0], cts[1] = cts[1], cts[0]
    board[0]["tracker"] = crypto.tracker(board[0]["ballot"])
    return {"board.jsonl": _board_bytes(board)}


def _deleted_board_ballot(files):
    return {"board.jsonl": _board_bytes(_board(files)[1:])}


def _stuffed_board_ballot(files):
    board = _board(files)
    extra = dict(board[0], seq=board[-1]["seq"] + 1)
    return {"board.jsonl": _board_bytes([*board, extra])}


def _swapped_mix_output(files):
    data = bytearray(files["mix-1.bin"])
    row = 64 * len(json.loads(files["election.json"])["candidates"])
    data[:row], data[row:2 * row] = data[row:2 * row], data[:row]
    return {"mix-1.bin": bytes(data)}


def _altered_share(files):
    data = bytearray(files["shares-1.bin"])
    data[:32], data[32:64] = data[32:64], data[:32]
    return {"shares-1.bin": bytes(data)}


def _recommitted_ballots(files):
    """A forger who changes a decrypted ballot and rewrites the poll.decrypted entry to match."""
    ballots = _ballots(files)
    ballots[0]["ranking"] = [["Cedar"]]
    changes = _with_formats(files, ballots)
    entries = _entries(files)
    at = next(i for i, e in enumerate(entries) if e.type == "poll.decrypted")
    entries[at] = resign(entries[at], payload={**entries[at].payload,
                                               "decoded_sha256": sha256_hex(changes["ballots.jsonl"])})
    return {**changes, "log.jsonl": _log(entries)}


TAMPERINGS = [
    (_changed_ballot, "decoding"),
    (_added_ballot, "decoding"),
    (_removed_ballot, "decoding"),
    (_edited_middle_entry, "chain"),
    (_result_that_does_not_follow, "commitments"),
    (_swapped_electorate, "electorate"),
    (_altered_board_ciphertext, "board"),
    (_altered_board_ballot_with_its_tracker, "board"),
    (_deleted_board_ballot, "board"),
    (_stuffed_board_ballot, "board"),
    (_swapped_mix_output, "mixes"),
    (_altered_share, "decryption"),
    (_recommitted_ballots, "chain"),
]


def test_every_tampering_of_an_exported_bundle_is_caught(forum_app, forum, session, keys):
    driven = group_poll(forum_app, forum, session)
    data = export.poll_bundle(session, driven.poll_id)
    files = read_zip(data)
    assert verify_bundle(data, public_key=keys[1]).ok
    caught = {}
    for change, _expected in TAMPERINGS:
        # The manifest is rewritten too (a careful forger), so a deeper check must catch it.
        report = verify_bundle(tamper(data, change(files)), public_key=keys[1])
        caught[change.__name__] = report.first_problem.name if report.first_problem else None
    assert caught == {change.__name__: expected for change, expected in TAMPERINGS}
    # A naive edit that leaves the manifest alone is caught at the manifest.
    naive = verify_bundle(tamper(data, _changed_ballot(files), manifest=False), public_key=keys[1])
    assert naive.first_problem.name == "manifest"


def test_a_result_recounted_differently_is_caught_even_when_the_log_agrees(forum_app, forum, session, keys):
    """A server that logged a wrong result from the start is caught by the re-count."""
    from governance.audit.bundle import results_hash

    driven = group_poll(forum_app, forum, session)
    data = export.poll_bundle(session, driven.poll_id)
    files = read_zip(data)
    results = json.loads(files["results.json"])
    results["elected"] = ["Birch"]
    entries = _entries(files)
    tallied = next(i for i, e in enumerate(entries) if e.type == "poll.tallied")
    entries[tallied] = resign(entries[tallied], payload={**entries[tallied].payload,
                                                         "results_hash": results_hash(results)})
    # The forged entry no longer matches the Merkle tree under the signed head.
    report = verify_bundle(tamper(data, {"results.json": canonical_json(results), "log.jsonl": _log(entries)}),
                           public_key=keys[1])
    assert report.first_problem.name in ("chain", "proofs")


# === An independent re-count ====================================================================


def _read_blt(text: str) -> tuple[list[str], list[tuple[int, list[list[str]]]]]:
    """A small BLT reader written for this test, independent of governance.tally."""
    tokens = [line.strip() for line in text.splitlines() if line.strip()]
    count, _seats = map(int, tokens[0].split())
    position = 1
    if tokens[position].startswith("-"):
        position += 1
    ballots = []
    while tokens[position] != "0":
        parts = tokens[position].split()
        weight, prefs = int(parts[0]), parts[1:-1]
        assert parts[-1] == "0"
        ballots.append((weight, [[int(k) for k in group.split("=")] for group in prefs]))
        position += 1
    names = [json.loads(t) for t in tokens[position + 1: position + 1 + count]]
    return names, [(w, [[names[k - 1] for k in group] for group in r]) for w, r in ballots]


def _pref_voting_profile(names, ballots) -> ProfileWithTies:
    rankings = []
    for weight, ranking in ballots:
        as_dict = {name: rank for rank, group in enumerate(ranking, start=1) for name in group}
        rankings += [as_dict] * weight
    return ProfileWithTies(rankings, candidates=names)


def test_pref_voting_recount_of_the_exported_blt_elects_the_same_winner(forum_app, forum, session, keys):
    irv = community_poll(forum_app, forum, session, method="irv")
    schulze = group_poll(forum_app, forum, session, method="schulze")
    for driven, count in ((irv, "irv"), (schulze, "schulze")):
        files = _files(export.poll_bundle(session, driven.poll_id))
        names, ballots = _read_blt(files["ballots.blt"].decode("utf-8"))
        assert sum(w for w, _ in ballots) == len(driven.trackers)  # every decrypted ballot, none lost
        profile = _pref_voting_profile(names, ballots)
        if count == "irv":
            winners = instant_runoff_for_truncated_linear_orders(profile)
        else:
            profile.use_extended_strict_preference()
            winners = beat_path(profile)
        assert winners == session.get(Poll, driven.poll_id).result["elected"]
    assert session.get(Poll, irv.poll_id).result["elected"] == ["Birch"]
    assert session.get(Poll, schulze.poll_id).result["elected"] == ["Ash"]


# === Community-wide polls =======================================================================


def test_community_poll_bundle_lists_who_took_part_with_evidence(forum_app, forum, session, keys):
    driven = community_poll(forum_app, forum, session)
    poll = session.get(Poll, driven.poll_id)
    files = _files(export.poll_bundle(session, driven.poll_id))
    electorate = json.loads(files["electorate.json"])
    election = json.loads(files["election.json"])
    assert electorate == {"eligible": [], "participants": sorted(COMMUNITY_BALLOTS)}
    assert election["electorate_basis"] == "rule"
    assert election["electorate_rule"] == {"rule": poll.eligibility, "opens_at": election["opens_at"]}
    assert [m["username"] for m in election["participants_evidence"]] == sorted(COMMUNITY_BALLOTS)
    assert all(m["evidence"]["username"] == m["username"] for m in election["participants_evidence"])
    assert export.rule_hash(poll) == poll.electorate_hash == election["electorate_hash"]


def test_community_poll_bundle_verifies(forum_app, forum, session, keys):
    driven = community_poll(forum_app, forum, session)
    data = export.poll_bundle(session, driven.poll_id)
    report = verify_bundle(data, public_key=keys[1])
    assert report.ok, report.first_problem
    assert "each meets the rule" in report.check("electorate").detail


def test_community_poll_with_an_ineligible_participant_is_caught(forum_app, forum, session, keys):
    """A forged participant whose account is younger than the poll fails the rule check."""
    import json

    from tests.audit.audit_support import read_zip, write_zip

    driven = community_poll(forum_app, forum, session)
    files = read_zip(export.poll_bundle(session, driven.poll_id))
    election = json.loads(files["election.json"])
    election["participants_evidence"][0]["evidence"]["created_at"] = "2099-01-01T00:00:00+00:00"
    files["election.json"] = json.dumps(election).encode()
    report = verify_bundle(write_zip(files), public_key=keys[1])
    assert not report.ok and report.first_problem.name in ("election", "electorate")


@pytest.mark.parametrize("evidence", [[5], [{"username": "x", "evidence": 5}], "nobody"])
def test_a_bundle_with_malformed_participant_evidence_is_reported_not_crashed(forum_app, forum, session, keys,
                                                                              evidence):
    import json

    from tests.audit.audit_support import read_zip, write_zip

    driven = community_poll(forum_app, forum, session)
    files = read_zip(export.poll_bundle(session, driven.poll_id))
    election = json.loads(files["election.json"])
    election["participants_evidence"] = evidence
    files["election.json"] = json.dumps(election).encode()
    report = verify_bundle(write_zip(files), public_key=keys[1])
    assert not report.ok and report.first_problem.name == "electorate"
    assert report.first_problem.status in ("ERROR", "FAIL")

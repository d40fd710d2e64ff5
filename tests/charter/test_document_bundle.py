"""``governance-audit verify`` on document bundles: a real history verifies, and each tampering an
operator or a server could try is caught (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest

from governance.audit import cli, export, log
from governance.audit.canonical import sha256_hex
from governance.audit.documents import verify_document_bundle
from governance.models import DocumentVersion
from governance.polls import approvals, charter
from governance.proposals import service as documents
from governance.proposals.render import render
from governance.proposals.render import sha256_hex as text_sha256
from tests.charter.charter_support import COMMITTEE, deliver, lowered, with_sig
from tests.proposals.roadmap_support import V1, V2
from tests.proposals.test_service import NOW, committee_publish, decide, import_roadmap, member, put_to_vote

DETAIL = V1.rstrip("\n") + "\n\nA closing note.\n"


@pytest.fixture
def keys(monkeypatch):
    from governance.audit.signing import generate_key

    private_pem, public_pem = generate_key()
    monkeypatch.setenv("GOVERNANCE_AUDIT_SIGNING_KEY", private_pem.decode("ascii"))
    monkeypatch.delenv("GOVERNANCE_AUDIT_SIGNING_KEY_FILE", raising=False)
    return private_pem, public_pem


@pytest.fixture
def history(app, session, keys):
    """v1 imported; v2 detail by the two-person rule; the charter gains a SIG the same way; v3 a
    revision adopted by referendum at the bar in force. Returns (bundle bytes, public key)."""
    app.config["FAKE_NOW"] = NOW
    import_roadmap(session)
    chair = member(session, "chair", groups=[COMMITTEE])
    second = member(session, "second", groups=[COMMITTEE])
    committee_publish(session, chair, source=DETAIL, base_number=1, second=second)
    change = approvals.request_charter(session=session, actor=chair, charter=charter.current(session),
                                       committee_group=COMMITTEE, data=with_sig(charter.current(session).data),
                                       note="Release SIG", now=NOW)
    approvals.approve(session=session, actor=second, charter=charter.current(session), change=change,
                      committee_group=COMMITTEE, now=NOW)
    session.commit()
    deliver(app, NOW)
    session.rollback()
    amendment = documents.propose(session=session, actor=member(session, "marlow"), charter=charter.current(session),
                                  slug="roadmap", base_number=2, title="Rewrite", source=V2, now=NOW)
    session.commit()
    decide(app, session, put_to_vote(session, chair, amendment), yes=10, no=2)
    session.rollback()
    return export.document_bundle(session, "roadmap"), keys[1]


def files_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rebuilt(files: dict[str, bytes]) -> bytes:
    """The bundle with its manifest recomputed, as someone rewriting it would."""
    files = dict(files)
    manifest = json.loads(files.pop("manifest.json"))
    manifest["files"] = {n: {"sha256": sha256_hex(d), "size": len(d)} for n, d in sorted(files.items())}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        for name, data in sorted(files.items()):
            zf.writestr(name, data)
    return buffer.getvalue()


def edit_json(files, name, change):
    data = json.loads(files[name])
    change(data)
    files[name] = json.dumps(data).encode()


def log_lines(files):
    return [json.loads(line) for line in files["log.jsonl"].splitlines()]


def problem(report):
    return report.first_problem.name, report.first_problem.detail


def test_a_real_history_verifies(history, tmp_path, capsys):
    bundle, public_key = history
    report = verify_document_bundle(bundle, public_key=public_key)
    assert report.ok, report.first_problem
    assert report.check("signature").status == "OK"
    assert "1 direct publication(s) of detail with the two-person rule, 1 by referendum" in \
        report.check("adoption").detail
    files = files_of(bundle)
    assert {"charters.json", "changes.json"} <= set(files)
    assert [c["number"] for c in json.loads(files["charters.json"])["versions"]] == [1, 2]
    path = tmp_path / "roadmap.zip"
    path.write_bytes(bundle)
    key = tmp_path / "key.pem"
    key.write_bytes(public_key)
    assert cli.main(["verify", str(path), "--public-key", str(key)]) == 0
    out = capsys.readouterr().out
    assert "adoption" in out and "PASSED" in out


def test_the_charters_own_bundle_verifies(history, session, keys):
    report = verify_document_bundle(export.document_bundle(session, "charter"), public_key=keys[1])
    assert report.ok, report.first_problem
    assert "1 direct publication(s)" in report.check("adoption").detail


def test_a_changed_version_text_is_caught(history):
    bundle, key = history
    files = files_of(bundle)
    files["version-0002.md"] = DETAIL.replace("closing", "opening").encode()
    assert problem(verify_document_bundle(rebuilt(files), public_key=key)) == (
        "texts", "version 2: version-0002.md does not hash to the SHA-256 document.json lists")
    edit_json(files, "document.json", lambda d: d["versions"][1].update(
        sha256=text_sha256(DETAIL.replace("closing", "opening"))))
    assert problem(verify_document_bundle(rebuilt(files), public_key=key)) == (
        "texts", "version 2's text is not the one the log recorded (SHA-256 differs)")
    # Untouched, but the zip's own manifest no longer matches: caught first.
    files = files_of(bundle)
    files["version-0003.md"] = b"# Other\n"
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        manifest = zf.read("manifest.json")
    files["manifest.json"] = manifest
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    assert problem(verify_document_bundle(raw.getvalue(), public_key=key))[0] == "manifest"


def test_a_changed_classification_is_caught(history):
    bundle, key = history
    files = files_of(bundle)
    edit_json(files, "document.json", lambda d: d["versions"][2]["classification"].update(kind="detail"))
    assert problem(verify_document_bundle(rebuilt(files), public_key=key)) == (
        "adoption", "version 3 is listed as detail, but it is a revision of version 2")


def test_a_dropped_approval_is_caught(history):
    bundle, key = history
    files = files_of(bundle)
    lines = log_lines(files)
    approved = next(e for e in lines if e["type"] == "change.approved" and e["payload"]["change"] == 1)
    files["log.jsonl"] = b"".join(json.dumps(e).encode() + b"\n" for e in lines if e is not approved)
    edit_json(files, "proofs.json", lambda p: p.update(entries=[x for x in p["entries"]
                                                                  if x["seq"] != approved["seq"]]))
    name, detail = problem(verify_document_bundle(rebuilt(files), public_key=key))
    assert name == "adoption" and "no second member approved request 1" in detail


def test_a_swapped_charter_version_is_caught(history):
    bundle, key = history
    files = files_of(bundle)

    def swap(data):
        first = data["versions"][0]
        first["data"] = lowered(first["data"])
        first["sha256"] = charter.sha(first["data"])

    edit_json(files, "charters.json", swap)
    assert problem(verify_document_bundle(rebuilt(files), public_key=key)) == (
        "charters", "charter version 1 is not the one the log recorded")
    # Dropping the newer charter version from the file is caught as well.
    files = files_of(bundle)
    edit_json(files, "charters.json", lambda d: d["versions"].pop())
    assert problem(verify_document_bundle(rebuilt(files), public_key=key))[0] == "charters"


def test_an_altered_referendum_result_is_caught(history):
    bundle, key = history
    files = files_of(bundle)
    edit_json(files, "document.json", lambda d: d["versions"][2].update(result_hash="0" * 64))
    assert problem(verify_document_bundle(rebuilt(files), public_key=key)) == (
        "adoption", "version 3: the result hash differs from the one the log recorded for referendum 1")
    # Rewriting the recorded figures breaks the entry's hash (and, re-hashed, the chain and the head).
    files = files_of(bundle)
    lines = log_lines(files)
    for entry in lines:
        if entry["type"] == "amendment.adopted":
            entry["payload"]["yes"], entry["payload"]["no"] = 2, 10
    files["log.jsonl"] = b"".join(json.dumps(e).encode() + b"\n" for e in lines)
    name, detail = problem(verify_document_bundle(rebuilt(files), public_key=key))
    assert name == "chain" and "wrong hash" in detail


def test_a_version_written_straight_into_the_database_is_caught(app, session, keys):
    """An operator with database access writes a committee 'version' and its log entry directly,
    skipping the two-person rule: the log verifies, the adoption rule does not."""
    app.config["FAKE_NOW"] = NOW
    import_roadmap(session)
    document = documents.get_document(session, "roadmap")
    session.add(DocumentVersion(document_id=document.id, number=2, source_md=DETAIL, html=render(DETAIL),
                                sha256=text_sha256(DETAIL), adopted_by="committee",
                                classification={"kind": "detail"}))
    document.current_version = 2
    session.add(document)
    log.record(session=session, type="document.version_published", actor="chair", document="roadmap",
               payload={"document": "roadmap", "version": 2, "sha256": text_sha256(DETAIL), "adopted_by": "committee"})
    log.make_head(session=session, reason="test", now=NOW + timedelta(minutes=1))
    session.commit()
    report = verify_document_bundle(export.document_bundle(session, "roadmap"), public_key=keys[1])
    assert problem(report) == ("adoption", "version 2 was published directly with no second approver or waiting "
                                           "period on record")


def test_a_revision_passed_below_the_bar_in_force_is_caught(app, session, keys):
    """A referendum whose bar was not the one the charter in force set (written around the service)."""
    app.config["FAKE_NOW"] = NOW
    import_roadmap(session)
    amendment = documents.propose(session=session, actor=member(session, "marlow"), charter=charter.current(session),
                                  slug="roadmap", base_number=1, title="Rewrite", source=V2, now=NOW)
    session.commit()
    chair = member(session, "chair", groups=[COMMITTEE])
    poll = put_to_vote(session, chair, amendment)
    poll.threshold, poll.quorum = "1/2", 1  # the operator lowers the poll's bar in the database
    session.add(poll)
    session.commit()
    decide(app, session, poll, yes=3, no=2)
    session.rollback()
    report = verify_document_bundle(export.document_bundle(session, "roadmap"), public_key=keys[1])
    # The poll counted 3 of 5 against its lowered bar and the text was adopted; the log recorded the
    # charter's bar (2/3, quorum 10) when the vote was put, and the figures do not pass it.
    assert documents.current_version(session, documents.get_document(session, "roadmap")).number == 2
    assert problem(report) == ("adoption", "version 2: referendum 1 did not pass the bar of charter version 1: "
                                           "5 ballots, below the quorum of 10")


def test_unreadable_input_is_bad_input(tmp_path):
    path = tmp_path / "bad.zip"
    path.write_bytes(b"not a zip")
    assert cli.main(["verify", str(path)]) == 2


def test_the_document_verifier_runs_without_the_server():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, governance.audit.cli, governance.audit.documents, governance.proposals.charter_rules; "
            "bad = [m for m in ('flask', 'sqlalchemy', 'sqlmodel', 'governance.web', 'governance.models') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])

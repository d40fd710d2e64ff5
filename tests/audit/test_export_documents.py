"""Document bundles and referendum polls exported from the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from governance.audit import export, merkle
from governance.audit.bundle import default_tallier, normalize_results
from governance.audit.canonical import sha256_hex
from governance.audit.chain import Entry, verify_segment
from governance.audit.signing import verify_head
from governance.errors import NotFound
from governance.models import Poll
from governance.polls import charter, counting
from governance.proposals import service
from governance.proposals.render import sha256_hex as text_sha256
from tests.proposals.roadmap_support import V1, V2
from tests.proposals.test_service import NOW, decide, import_roadmap, member, put_to_vote

COMMITTEE = "steering-committee"



def _files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert all("/" not in name for name in zf.namelist())
        return {name: zf.read(name) for name in zf.namelist()}


def _adopted_revision(app, session) -> Poll:
    """The roadmap imported (v1), then rewritten (v2) by a referendum."""
    import_roadmap(session)
    chair = member(session, "chair", groups=[COMMITTEE])
    proposer = member(session, "marlow")
    amendment = service.propose(session=session, actor=proposer, charter=charter.current(session), slug="roadmap",
                                base_number=1, title="Rewrite", source=V2, now=NOW)
    session.commit()
    poll = put_to_vote(session, chair, amendment)
    return decide(app, session, poll, yes=10, no=2)


def test_document_bundle_holds_every_version_amendment_and_proof(app, session, keys):
    poll = _adopted_revision(app, session)
    data = export.document_bundle(session, "roadmap")
    assert export.document_bundle(session, "roadmap") == data  # deterministic
    files = _files(data)

    manifest = json.loads(files.pop("manifest.json"))
    assert manifest["format"] == "governance-document-bundle" and manifest["version"] == 1
    assert manifest["files"] == {n: {"sha256": sha256_hex(d), "size": len(d)} for n, d in files.items()}

    document = json.loads(files["document.json"])
    assert document["slug"] == "roadmap" and document["current_version"] == 2
    versions = document["versions"]
    assert [v["number"] for v in versions] == [1, 2]
    assert files["version-0001.md"].decode() == V1 and files["version-0002.md"].decode() == V2
    for v in versions:
        assert sha256_hex(files[v["file"]]) == v["sha256"]
    assert (versions[1]["adopted_by"], versions[1]["poll"], versions[1]["result_hash"]) == \
        ("poll", poll.id, poll.result_hash)
    [amendment] = document["amendments"]
    assert amendment["status"] == "adopted" and amendment["kind"] == "revision"
    assert amendment["classification"]["kind"] == "revision"
    assert amendment["poll"] == poll.id and amendment["proposer"] == "marlow"
    assert files[amendment["file"]].decode() == V2 and document["referendums"] == [poll.id]

    entries = [Entry.from_dict(json.loads(line)) for line in files["log.jsonl"].splitlines()]
    types = [e.type for e in entries if e.payload.get("document") == "roadmap"]  # (the charter's are there too)
    assert types[0] == "document.version_published" and types[-1] == "document.version_published"
    assert "amendment.proposed" in types and "amendment.classified" in types and "amendment.adopted" in types
    verify_segment(entries)
    head = json.loads(files["head.json"])
    verify_head(head, files["public_key.pem"])
    proofs = json.loads(files["proofs.json"])
    assert proofs["not_yet_covered"] == [] and len(proofs["entries"]) == len(entries)
    by_seq = {p["seq"]: [bytes.fromhex(h) for h in p["proof"]] for p in proofs["entries"]}
    for entry in entries:
        assert merkle.verify_inclusion(merkle.leaf_hash(entry.leaf), entry.seq, head["tree_size"],
                                       by_seq[entry.seq], bytes.fromhex(head["root_hash"]))


def test_document_bundle_lists_entries_newer_than_the_head(app, session, keys):
    _adopted_revision(app, session)
    service.propose(session=session, actor=member(session, "late"), charter=charter.current(session),
                    slug="roadmap", base_number=2, title="Later", source=V2 + "\n\nOne more paragraph.\n",
                    now=NOW)
    session.commit()
    files = _files(export.document_bundle(session, "roadmap"))
    proofs = json.loads(files["proofs.json"])
    entries = [json.loads(line) for line in files["log.jsonl"].splitlines()]
    assert proofs["not_yet_covered"] == [e["seq"] for e in entries if e["seq"] >= proofs["tree_size"]] != []


def test_document_bundle_refuses_unknown_documents_and_publication_makes_a_head(session):
    with pytest.raises(NotFound):
        export.document_bundle(session, "nothing-here")
    import_roadmap(session)
    session.commit()
    # Every publication makes a signed tree head at once, so the first version's entry is covered.
    files = _files(export.document_bundle(session, "roadmap"))
    proofs = json.loads(files["proofs.json"])
    assert not proofs.get("not_yet_covered")


def test_referendum_bundle_names_the_text_voted_on_and_recounts(app, session, keys):
    poll = _adopted_revision(app, session)
    files = _files(export.poll_bundle(session, poll.id))
    election = json.loads(files["election.json"])
    assert election["kind"] == "referendum" and election["method"] == "yesno"
    assert election["document_version"] == {
        "amendment": poll.amendment_id, "document": "roadmap", "base_version": 1,
        "base_sha256": text_sha256(V1), "amended_sha256": text_sha256(V2), "kind": "revision"}
    assert election["thresholds"]["threshold"] == poll.threshold
    ballots = [json.loads(line) for line in files["ballots.jsonl"].splitlines()]
    # The auditor's re-count (the verifier's default tallier) agrees with the published result.
    assert normalize_results(default_tallier(election, ballots)) == json.loads(files["results.json"])
    assert normalize_results(counting.tally(election, ballots)) == json.loads(files["results.json"])


def test_cli_and_web_export_documents(app, session, keys, tmp_path):
    _adopted_revision(app, session)
    out = tmp_path / "roadmap.zip"
    result = app.test_cli_runner().invoke(args=["audit", "export-document", "roadmap", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == export.document_bundle(session, "roadmap")
    missing = app.test_cli_runner().invoke(args=["audit", "export-document", "nope", "--out", str(out)])
    assert missing.exit_code == 1 and "no document 'nope'" in missing.output

    client = app.test_client()
    response = client.get("/audit/documents/roadmap/bundle.zip")
    assert response.status_code == 200 and response.get_data() == out.read_bytes()
    assert "document-roadmap-audit.zip" in response.headers["Content-Disposition"]
    assert client.get("/audit/documents/nope/bundle.zip").status_code == 404
    assert client.get("/audit/documents/" + "x" * 300 + "/bundle.zip").status_code == 404

    page = client.get("/audit/?document=roadmap").get_data(as_text=True)
    assert "amendment.adopted" in page and "poll.opened" not in page
    assert "/audit/documents/roadmap/bundle.zip" in page
    assert client.get("/audit/?document=%3Cscript%3E").status_code == 400

"""``governance-audit verify``: output, exit status, published heads, bad input without tracebacks."""

import json

import pytest

from governance.audit import verifier as verifier_module
from governance.audit.cli import head_from_post, main
from tests.audit.audit_support import TOY_CODECS, tamper, toy_irv


@pytest.fixture(autouse=True)
def toy_engine(monkeypatch):
    """Count with the test counter and codecs, as the other bundle tests do."""
    monkeypatch.setattr(verifier_module, "default_tallier", toy_irv)
    monkeypatch.setattr(verifier_module, "default_codecs", lambda: dict(TOY_CODECS))


@pytest.fixture
def bundle_path(bundle, tmp_path):
    """The standard bundle on disk."""
    path = tmp_path / "poll-7.zip"
    path.write_bytes(bundle)
    return path


@pytest.fixture
def key_path(poll, tmp_path):
    """The server's public key on disk, as the auditor got it from the forum."""
    path = tmp_path / "server.pem"
    path.write_bytes(poll.public_pem)
    return path


def post_url(tmp_path, raw: str) -> str:
    """A file:// URL serving a Discourse post JSON with this raw text."""
    path = tmp_path / "post.json"
    path.write_text(json.dumps({"id": 41, "topic_id": 9, "raw": raw, "cooked": "<p>...</p>"}))
    return path.as_uri()


def announcement(head: dict) -> str:
    """The raw Markdown of a forum post announcing a tree head."""
    return (
        "The audit log head after the stewards election:\n\n```json\n"
        + json.dumps(head, indent=2)
        + "\n```\n"
    )


def test_genuine_bundle_exits_0_and_lists_every_check(bundle_path, key_path, poll, capsys):
    code = main(["verify", str(bundle_path), "--public-key", str(key_path), "--head", poll.head["root_hash"]])
    out = capsys.readouterr().out
    assert code == 0
    for name in ("bundle", "manifest", "ballots", "formats", "electorate", "chain", "proofs", "signature"):
        assert any(line.split()[:2] == ["OK", name] for line in out.splitlines()), name
    assert out.splitlines()[-1] == "PASSED: 13 checks OK"


def test_without_independent_sources_it_passes_but_says_what_is_unproven(bundle_path, capsys):
    assert main(["verify", str(bundle_path)]) == 0
    out = capsys.readouterr().out
    assert "WARN    signature" in out and "SKIP    published_head" in out
    assert out.splitlines()[-1] == "PASSED: 11 checks OK; not proven: signature, published_head (see above)"


def test_tampered_bundle_exits_1_naming_the_first_problem(bundle, tmp_path, capsys):
    path = tmp_path / "forged.zip"
    path.write_bytes(tamper(bundle, {"results.json": b'{"elected":["Ada"]}'}))
    assert main(["verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL    commitments" in out and "NOT RUN recount" in out
    assert out.splitlines()[-1] == (
        "FAILED: first problem in 'commitments': "
        "results.json is not the result the log entry 6 (poll.tallied) committed to"
    )


def test_wrong_published_root_exits_1(bundle_path, capsys):
    assert main(["verify", str(bundle_path), "--head", "AB" * 32]) == 1
    assert "FAILED: first problem in 'published_head'" in capsys.readouterr().out


def test_head_url_reads_the_fenced_head_from_the_post(bundle_path, key_path, poll, tmp_path, capsys):
    url = post_url(tmp_path, announcement(poll.head))
    assert main(["verify", str(bundle_path), "--head-url", url, "--public-key", str(key_path)]) == 0
    assert "OK      published_head" in capsys.readouterr().out


def test_head_url_with_another_head_exits_1(bundle_path, poll, tmp_path, capsys):
    url = post_url(tmp_path, announcement(dict(poll.head, root_hash="cd" * 32)))
    assert main(["verify", str(bundle_path), "--head-url", url]) == 1
    assert "published root " + "cd" * 32 in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--head", "xyz"], "--head must be the 64 hex digits"),
        (["--public-key", "/nonexistent/key.pem"], "cannot read the public key /nonexistent/key.pem"),
        (["--head-url", "file:///nonexistent/post.json"], "cannot fetch file:///nonexistent/post.json"),
    ],
)
def test_bad_options_exit_2_without_traceback(bundle_path, capsys, args, message):
    assert main(["verify", str(bundle_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("governance-audit: error: ") and message in err and "Traceback" not in err


def test_post_without_a_head_exits_2(bundle_path, tmp_path, capsys):
    url = post_url(tmp_path, "Results are in! No head here.\n\n```\nnot json\n```\n")
    assert main(["verify", str(bundle_path), "--head-url", url]) == 2
    assert "no fenced JSON block with a root_hash" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a zip", "not a readable zip file"),
        (None, "cannot read"),
    ],
)
def test_unreadable_bundle_exits_2(tmp_path, capsys, content, message):
    path = tmp_path / "bundle.zip"
    if content is not None:
        path.write_bytes(content)
    assert main(["verify", str(path)]) == 2
    out = capsys.readouterr().out
    assert "ERROR   bundle" in out and message in out and "Traceback" not in out
    assert out.splitlines()[-1].startswith("MALFORMED: first problem in 'bundle'")


def test_missing_file_and_corrupt_json_exit_2(bundle, tmp_path, capsys):
    missing = tmp_path / "missing.zip"
    missing.write_bytes(tamper(bundle, drop=("log.jsonl",)))
    assert main(["verify", str(missing)]) == 2
    assert (
        "MALFORMED: first problem in 'manifest': log.jsonl is missing from the bundle"
        in capsys.readouterr().out
    )
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(tamper(bundle, {"election.json": b"{oops"}))
    assert main(["verify", str(corrupt)]) == 2
    assert "election.json is not valid JSON" in capsys.readouterr().out


def test_json_output(bundle_path, capsys):
    assert main(["verify", str(bundle_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["first_problem"] is None
    assert [c["name"] for c in report["checks"]][:3] == ["bundle", "manifest", "election"]


def test_help_describes_the_options(capsys):
    with pytest.raises(SystemExit) as info:
        main(["verify", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("BUNDLE", "--head ROOT_HEX", "--head-url URL", "--public-key FILE", "Exit status"):
        assert option in out


def test_head_and_head_url_are_exclusive(bundle_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["verify", str(bundle_path), "--head", "ab" * 32, "--head-url", "file:///x"])
    assert info.value.code == 2


def test_head_from_post_accepts_a_bare_head():
    head = {"tree_size": 1, "root_hash": "ab" * 32, "timestamp": "2026-03-09T10:00:05Z"}
    assert head_from_post(head) == head
    assert head_from_post({"raw": "~~~json\n" + json.dumps(head) + "\n~~~\n"}) == head

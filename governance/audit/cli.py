"""``governance-audit``: verify a poll's or a document's audit bundle without trusting the server.

Boundary rule: standard library plus ``governance.audit`` and ``governance.tally``; no Flask,
SQLModel or database. Network access happens only for ``--head-url``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .report import ERROR, NOT_RUN, OK, SKIP, WARN
from .verifier import verify_bundle

__all__ = ["fetch_published_head", "head_from_post", "main"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

_FENCE = re.compile(r"^(`{3,}|~{3,})[ \t]*([\w+-]*)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class InputError(Exception):
    """Input the command cannot use (unreadable file, bad URL, no head in the post)."""


def head_from_post(post: Any) -> dict[str, Any]:
    """Extract the tree head from a Discourse post (``GET /posts/{id}.json``).

    The post's ``raw`` Markdown must hold the head as a fenced JSON block (```json ... ```); the
    first fenced block that parses to an object with a ``root_hash`` is taken. A bare head object
    is accepted as well.

    >>> head_from_post({"raw": "Head:\\n```json\\n{\\"tree_size\\": 3, \\"root_hash\\": \\"ab\\"}\\n```\\n"})
    {'tree_size': 3, 'root_hash': 'ab'}
    """
    if isinstance(post, dict) and "root_hash" in post and "raw" not in post:
        return post
    raw = post.get("raw") if isinstance(post, dict) else None
    if not isinstance(raw, str):
        raise InputError("the post JSON has no 'raw' text (is this a Discourse /posts/{id}.json URL?)")
    for match in _FENCE.finditer(raw):
        try:
            block = json.loads(match.group(3))
        except ValueError:
            continue
        if isinstance(block, dict) and "root_hash" in block:
            return block
    raise InputError("the post holds no fenced JSON block with a root_hash")


def fetch_published_head(url: str, *, timeout: float = 20.0) -> dict[str, Any]:
    """Fetch a Discourse post's JSON from ``url`` and return the tree head it publishes."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(5 * 1024 * 1024)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise InputError(f"cannot fetch {url}: {reason}") from None
    try:
        post = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InputError(f"{url} did not return JSON") from None
    return head_from_post(post)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="governance-audit",
        description="Check a poll's audit bundle (the published results follow from the cast ballots) or "
        "a document's (every version adopted by a rule the charter in force allowed), and that nothing "
        "was changed after the event log recorded it.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verify = commands.add_parser(
        "verify",
        help="verify an audit bundle (.zip)",
        description="Run every check on an audit bundle, in order, printing OK/FAIL for each and "
        "stopping at the first problem. Exit status: 0 all checks passed (warnings say what "
        "could not be proven), 1 a check failed, 2 the input is unreadable or malformed.",
        epilog="Give --head or --head-url, and --public-key, from a source other than the bundle "
        "(the forum post announcing the result): without them the bundle is only shown to be "
        "consistent with itself. See docs/audit.md.",
    )
    verify.add_argument("bundle", metavar="BUNDLE", help="path of the audit bundle zip file")
    published = verify.add_mutually_exclusive_group()
    published.add_argument(
        "--head", metavar="ROOT_HEX", help="the published tree head root hash (64 hex digits) to compare with"
    )
    published.add_argument(
        "--head-url",
        metavar="URL",
        help="URL of the Discourse post JSON (https://forum.example/posts/ID.json) whose text holds "
        "the published tree head as a fenced JSON block",
    )
    verify.add_argument(
        "--public-key",
        metavar="FILE",
        help="the server's Ed25519 public key (PEM) to check the head signature with, "
        "instead of the copy in the bundle",
    )
    verify.add_argument("--receipt", metavar="FILE", action="append", default=[],
                        help="a voter's receipt (the JSON file the receipt page offers) to find in the bundle; "
                        "repeat for several")
    verify.add_argument("--workers", type=int, default=2, metavar="N",
                        help="processes for the ballot proofs, the proofs of shuffle and the decryption proofs (default 2)")
    verify.add_argument("--quiet", action="store_true", help="no progress lines on long runs")
    verify.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    check = commands.add_parser(
        "check-ballot",
        help="check a ballot you audited instead of casting (Benaloh challenge)",
        description="Read the file the ballot page offers after \"Check the encryption instead of casting\" "
        "and recompute, from the revealed randomness, what the encrypted ballot holds. Exit status 0 when it "
        "holds the choices the file names, 1 when it does not, 2 for an unreadable file.",
    )
    check.add_argument("file", metavar="FILE", help="the downloaded ballot-check file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 passed, 1 failed, 2 bad input)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "check-ballot":
            return _check_ballot(args.file)
        return _verify(args)
    except InputError as exc:
        print(f"governance-audit: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _verify(args: argparse.Namespace) -> int:
    expected_root = None
    if args.head is not None:
        if not _HEX64.fullmatch(args.head.strip()):
            raise InputError("--head must be the 64 hex digits of a root hash")
        expected_root = args.head.strip().lower()
    elif args.head_url is not None:
        head = fetch_published_head(args.head_url)
        root = head.get("root_hash")
        if not isinstance(root, str) or not _HEX64.fullmatch(root):
            raise InputError(f"the head published at {args.head_url} has no valid root_hash")
        expected_root = root.lower()
    public_key = None
    if args.public_key is not None:
        try:
            public_key = Path(args.public_key).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the public key {args.public_key}: {exc.strerror or exc}") from None

    receipts = []
    for path in args.receipt:
        try:
            receipts.append(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the receipt {path}: {exc}") from None
    if args.workers < 1:
        raise InputError("--workers must be at least 1")

    def progress(step: str, done: int, total: int) -> None:
        print(f"  ... {step}: {done} of {total}", file=sys.stderr, flush=True)

    from .documents import is_document_bundle, verify_document_bundle

    if is_document_bundle(args.bundle):
        report = verify_document_bundle(args.bundle, expected_head_root=expected_root, public_key=public_key)
    else:
        report = verify_bundle(args.bundle, expected_head_root=expected_root, public_key=public_key,
                               receipts=receipts, workers=args.workers, progress=None if args.quiet else progress)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(args.bundle, report)
    if report.ok:
        return EXIT_OK
    return EXIT_BAD_INPUT if report.malformed else EXIT_FAILED


def _check_ballot(path: str) -> int:
    """The Benaloh check of an audited ballot file: what the encryption holds, from its randomness."""
    from governance import crypto

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != "governance-ballot-check":
            raise InputError(f"{path} is not a ballot-check file")
        params = crypto.ElectionParams.from_dict(data["parameters"])
        values = crypto.audit_ballot(params, data["ballot"], data["secrets"])
        tracker = crypto.tracker(data["ballot"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: {exc}") from None
    except crypto.CryptoError as exc:
        print(f"FAILED: the revealed randomness does not open this ballot: {exc}")
        return EXIT_FAILED
    print(f"Ballot {tracker[:16]} for poll {params.poll} (fingerprint {params.fingerprint()[:16]})")
    for label, value in zip(params.options, values, strict=True):
        print(f"  {label}: {'rank ' + str(value) if value else 'unranked'}")
    if data.get("values") is not None and list(data["values"]) != values:
        print(f"FAILED: it holds {values}, not the choices the file names ({data['values']})")
        return EXIT_FAILED
    if data.get("tracker") not in (None, tracker):
        print("FAILED: the file's tracker is not this ballot's")
        return EXIT_FAILED
    print("PASSED: the encrypted ballot holds exactly these choices (it was audited, so it must not be cast)")
    return EXIT_OK


def _print_report(path: str, report: Any) -> None:
    print(f"Verifying {path}")
    width = max(len(c.name) for c in report.checks)
    for check in report.checks:
        line = f"  {check.status:<7} {check.name:<{width}}  {check.title}"
        print(line)
        if check.detail and check.status != NOT_RUN:
            print(f"  {'':<7} {'':<{width}}  -> {check.detail}")
    problem = report.first_problem
    if problem is None:
        passed = sum(c.status == OK for c in report.checks)
        notes = [c.name for c in report.checks if c.status in (WARN, SKIP)]
        print(
            f"PASSED: {passed} checks OK" + (f"; not proven: {', '.join(notes)} (see above)" if notes else "")
        )
    else:
        word = "MALFORMED" if problem.status == ERROR else "FAILED"
        print(f"{word}: first problem in '{problem.name}': {problem.detail}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

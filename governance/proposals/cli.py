"""``governance-roadmap``: check a roadmap amendment from the command line.

Boundary rule: pure library code; no Flask, no database, nothing from ``governance.web``,
``governance.models`` or ``governance.db``.

``governance-roadmap classify OLD.md NEW.md`` prints JSON and exits with

* 0 — ``detail`` (only new blocks inserted) or ``unchanged`` (same blocks; the JSON says
  ``"kind": "unchanged"`` and ``"unchanged": true``; nothing moved, but there is also
  nothing to amend, and the web service refuses such an amendment);
* 1 — ``revision`` (something existing was removed, changed or moved);
* 2 — unusable input: a missing or unreadable file, not UTF-8, empty, larger than
  ``MAX_SOURCE_BYTES``, control characters; the message goes to stderr, without traceback;
* 3 — an unexpected internal error (message on stderr), so it is never mistaken for 1.

``governance-roadmap diff OLD.md NEW.md`` prints the block-by-block HTML diff (exit 0,
or 2/3 as above).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from governance.proposals.blocks import classify, parse_blocks
from governance.proposals.diff import diff_html
from governance.proposals.render import MAX_SOURCE_BYTES, DocumentError, sha256_hex, validate_source

__all__ = ["build_parser", "main"]

EXIT_DETAIL = 0
EXIT_REVISION = 1
EXIT_UNUSABLE = 2
EXIT_INTERNAL = 3


class _Unusable(Exception):
    """An input file cannot be used; the message says why."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (its ``--help`` is the command's manual)."""
    parser = argparse.ArgumentParser(
        prog="governance-roadmap",
        description=(
            "Check whether an amended roadmap only adds detail (new blocks inserted, every "
            "existing block unchanged, in order, under the same headings) or is a revision."
        ),
        epilog=(
            "Exit status of 'classify': 0 detail or unchanged, 1 revision, 2 unusable input "
            f"(missing/unreadable file, not UTF-8, empty, over {MAX_SOURCE_BYTES:,} bytes, control "
            "characters), 3 internal error. Use '-' to read one of the files from standard input."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    classify_cmd = commands.add_parser(
        "classify",
        help="print JSON: kind (detail, revision or unchanged) and the blocks removed, changed, moved, inserted",
        description=(
            "Compare OLD and NEW block by block and print JSON with: kind (detail, revision or "
            "unchanged), unchanged (true/false), summary, and the lists removed, changed and moved "
            "(blocks of OLD, with their NEW counterparts) and inserted (blocks of NEW). Every block "
            "has its kind, text, 1-based start_line/end_line and heading_path."
        ),
        epilog="Exit status: 0 detail or unchanged, 1 revision, 2 unusable input, 3 internal error.",
    )
    classify_cmd.add_argument("old", metavar="OLD.md", help="the current roadmap text")
    classify_cmd.add_argument("new", metavar="NEW.md", help="the proposed amended text")
    classify_cmd.add_argument("--indent", type=int, default=2, help="JSON indentation (default: 2)")

    diff_cmd = commands.add_parser(
        "diff",
        help="print the block-by-block diff as an HTML fragment",
        description="Print an HTML fragment showing OLD → NEW block by block, with added and removed words.",
        epilog="Exit status: 0 printed, 2 unusable input, 3 internal error.",
    )
    diff_cmd.add_argument("old", metavar="OLD.md", help="the current roadmap text")
    diff_cmd.add_argument("new", metavar="NEW.md", help="the proposed amended text")
    diff_cmd.add_argument(
        "--context",
        type=int,
        default=None,
        metavar="N",
        help="show only N unchanged blocks around each change (default: show all)",
    )
    return parser


def _read(path: str) -> str:
    """Read one input file as UTF-8 text, or raise _Unusable with a plain message."""
    try:
        if path == "-":
            raw = sys.stdin.buffer.read(MAX_SOURCE_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_SOURCE_BYTES + 1)
    except FileNotFoundError:
        raise _Unusable(f"{path}: no such file") from None
    except IsADirectoryError:
        raise _Unusable(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise _Unusable(f"{path}: cannot be read ({exc.strerror or exc})") from None
    problems = validate_source(raw)
    if problems:
        raise _Unusable(f"{path}: " + " ".join(problems))
    return raw.decode("utf-8-sig")


def _emit(text: str) -> None:
    """Print to stdout; a reader that stops early (``| head``) is not an error."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # As the Python docs advise: point stdout at devnull so the exit flush stays quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _classify(args: argparse.Namespace) -> int:
    """Run the classify command."""
    old, new = _read(args.old), _read(args.new)
    result = classify(old, new)
    report = result.to_dict()
    report["old"] = {"path": args.old, "sha256": sha256_hex(old), "blocks": len(parse_blocks(old))}
    report["new"] = {"path": args.new, "sha256": sha256_hex(new), "blocks": len(parse_blocks(new))}
    _emit(json.dumps(report, indent=args.indent, ensure_ascii=False))
    return EXIT_REVISION if result.kind == "revision" else EXIT_DETAIL


def _diff(args: argparse.Namespace) -> int:
    """Run the diff command."""
    if args.context is not None and args.context < 0:
        raise _Unusable("--context must be 0 or more")
    _emit(diff_html(_read(args.old), _read(args.new), context=args.context))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``governance-roadmap``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "classify":
            return _classify(args)
        return _diff(args)
    except (_Unusable, DocumentError) as exc:
        print(f"governance-roadmap: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except Exception as exc:  # never a traceback, and not 1, which means "revision"
        print(f"governance-roadmap: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

"""``governance-tally``: count a ballot file from the command line.

Boundary rule: pure library code; imports nothing from the project outside ``governance.tally``.

Exit status: 0 when the count ran (a tie that no tie-breaker resolved is reported in the output,
not as an error), 2 for bad input or parameters (the message names the file and line), 1 for an
unexpected failure. No traceback is ever shown.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from . import _scan
from .core import TallyError, TieBreaker
from .formats import FORMATS, Loaded, load
from .methods import METHODS, MULTI_SEAT, count
from .names import unquote_name
from .report import to_csv, to_text

__all__ = ["build_parser", "main"]


def _fraction(text: str) -> Fraction:
    """Parse ``3``, ``3:1``, ``2/3`` or ``0.5`` exactly."""
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            return Fraction(int(a), int(b))
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number, ratio (3:1) or fraction (2/3)") from None


def _constraints(args: argparse.Namespace, profile) -> dict:
    """``affiliations`` and ``max_per_affiliation`` from ``--affiliations FILE --cap N``."""
    if args.affiliations is None or args.cap is None:
        raise TallyError("--affiliations FILE and --cap N go together")
    path = Path(args.affiliations)
    raw = path.read_bytes()
    _scan.Source(raw, str(path))
    text = raw.decode("utf-8-sig")
    if path.suffix.lower() == ".json":
        try:
            groups = json.loads(text)
        except ValueError as exc:
            raise TallyError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(groups, dict):
            raise TallyError(f"{path}: expected a JSON object of candidate name -> affiliation")
    else:
        import csv
        import io

        groups = {}
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if not row or (number == 1 and [c.strip().lower() for c in row] == ["candidate", "affiliation"]):
                continue
            if len(row) != 2:
                raise TallyError(f"{path}: line {number}: expected 'candidate,affiliation'")
            name = unquote_name(row[0].strip())
            if name in groups:
                raise TallyError(f"{path}: line {number}: {name!r} is listed twice")
            groups[name] = row[1].strip()
    return {"affiliations": groups, "max_per_affiliation": args.cap}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (its ``--help`` is the command's manual)."""
    parser = argparse.ArgumentParser(
        prog="governance-tally",
        description="Count ranked ballots exactly and print a report of every round, tie and decision.",
        epilog=(
            "Ballot files are read by extension: "
            + ", ".join(sorted(FORMATS))
            + ". Without --seed, ties for exclusion are broken by looking back at earlier rounds and then by "
            "candidate order, and a tie for the win is reported unresolved. With --seed, the last resort is "
            "the order of SHA-256('<seed>:<name>'), which anyone can recompute. STV counts (meek, wigm, "
            "scottish) of a .blt file without --seed use the file's own tie order (its [tie ...] line, else "
            "ballot-file order), as Droop does."
        ),
    )
    parser.add_argument(
        "ballots", metavar="BALLOTS", help="ballot file (.blt, .soi, .toi, .soc, .toc, .abif, .csv)"
    )
    parser.add_argument("--method", "-m", required=True, choices=sorted(METHODS), help="counting method")
    parser.add_argument(
        "--seats",
        type=int,
        default=None,
        metavar="N",
        help="seats to fill (multi-seat methods; default: from the file, else 1)",
    )
    parser.add_argument(
        "--format", "-f", choices=("text", "json", "csv"), default="text", help="report format"
    )
    parser.add_argument(
        "--seed", default=None, help="publish-before-voting seed for the last-resort tie-break order"
    )
    parser.add_argument(
        "--precision", type=int, default=None, metavar="N", help="decimal places (meek, wigm only)"
    )
    parser.add_argument(
        "--equal-rank",
        choices=("exhaust", "split"),
        default=None,
        help="irv: a ballot whose top continuing choices are equal is exhausted (default) or split equally",
    )
    parser.add_argument(
        "--default-option", default=None, help="debian: name of the default option (e.g. 'None Of The Above')"
    )
    parser.add_argument(
        "--quorum", type=_fraction, default=None, help="debian: quorum R (A.6.2); yesno: ballots needed"
    )
    parser.add_argument(
        "--majority",
        type=_fraction,
        default=None,
        help="debian: majority ratio for every option, e.g. 3:1 (A.6.3)",
    )
    parser.add_argument(
        "--threshold", type=_fraction, default=None, help="yesno: share of yes+no needed, e.g. 2/3"
    )
    parser.add_argument(
        "--civs",
        action="store_true",
        help="the .csv file is a CIVS ballot file: a header of candidates, then one row of ratings per "
        "ballot, higher = preferred (without it, CSV cells are ranks: 1 = first choice)",
    )
    parser.add_argument(
        "--affiliations",
        metavar="FILE",
        default=None,
        help="meek, wigm, scottish: each candidate's affiliation, a CSV file of 'candidate,affiliation' rows "
        "(or a .json object name -> affiliation); candidates not listed have none. Needs --cap",
    )
    parser.add_argument(
        "--cap",
        type=int,
        default=None,
        metavar="N",
        help="meek, wigm, scottish: at most N seats per affiliation; once an affiliation holds N seats its other "
        "candidates are excluded and their votes transfer (see docs/tally.md)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 counted, 2 bad input, 1 unexpected failure)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options: dict = {}
        if args.precision is not None:
            options["precision"] = args.precision
        if args.equal_rank is not None:
            options["equal_rank"] = args.equal_rank
        if args.default_option is not None:
            options["default"] = args.default_option
        if args.quorum is not None:
            options["quorum"] = args.quorum
        if args.majority is not None:
            options["majority"] = args.majority
        if args.threshold is not None:
            options["threshold"] = args.threshold
        path = Path(args.ballots)
        if args.civs:
            from .civs import read_civs_csv

            raw = path.read_bytes()
            _scan.Source(raw, str(path))  # the same checks as every other file
            text = raw.decode("utf-8-sig")
            loaded = Loaded(read_civs_csv(text, seats=args.seats or 1, name=str(path)), "civs")
        else:
            loaded = load(path)  # the file is read once, whatever the method and options
        profile = loaded.profile
        tie_breaker = TieBreaker(seed=args.seed) if args.seed is not None else None
        if tie_breaker is None and args.method in MULTI_SEAT and loaded.tie_breaker is not None:
            # A BLT file carries its own tie order ([tie ...]); STV counts use it as Droop does.
            tie_breaker = loaded.tie_breaker
        if args.affiliations is not None or args.cap is not None:
            options.update(_constraints(args, profile))
        result = count(profile, args.method, seats=args.seats, tie_breaker=tie_breaker, **options)
        notes = [f"{path}: {note}" for note in loaded.notes]
        if args.format == "json":
            data = result.to_dict()
            data["input"] = {"file": str(path), "format": loaded.kind, "notes": notes}
            report = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        elif args.format == "csv":
            report = to_csv(result)
            for note in notes:
                print(f"governance-tally: note: {note}", file=sys.stderr)
        else:
            report = "".join(f"Read:       {note}\n" for note in notes)
            report += to_text(result, title=profile.title) + "\n"
    except TallyError as exc:
        print(f"governance-tally: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"governance-tally: {args.ballots}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"governance-tally: {args.ballots}: not enough memory to count this file", file=sys.stderr)
        return 2
    except Exception as exc:  # never a traceback for people running a count
        print(f"governance-tally: internal error ({type(exc).__name__}): {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(report)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

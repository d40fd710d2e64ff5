"""Hostile ballot files given to governance-tally: one-line errors naming file and line, exit 2, bounded time and memory.

Each case is what an attacker (or a broken exporter) hands an auditor. The bounds stated in
docs/tally.md are played out for real where they matter: the command runs as its own process
under an address-space limit and a deadline, so a reader that allocates gigabytes or loops for a
minute fails the test.
"""

from __future__ import annotations

import resource
import subprocess
import sys

import numpy as np
import pytest

from governance.tally import _fast, _scan
from governance.tally._fast import ArrayProfile
from governance.tally.blt import read_blt
from governance.tally.cli import main
from governance.tally.core import Profile, TallyError
from governance.tally.methods import count

NAMES = '"A"\n"B"\n"C"\n"T"\n'
LIMIT_BYTES = 1 << 30  # 1 GiB of address space for the whole process
DEADLINE = 60  # seconds; the bounds in docs/tally.md are far below both


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))


def run_command(*args: str) -> subprocess.CompletedProcess:
    """governance-tally in its own process, limited to 1 GiB of address space."""
    return subprocess.run(
        [sys.executable, "-m", "governance.tally.cli", *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        preexec_fn=_limited,
        env={"OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


# === Meek beyond int64 =============================================================================


def test_meek_with_weights_whose_sums_pass_2_63_counts_exactly(monkeypatch):
    """Eleven lines of weight 9 x 10**17 sum past 2**63: int64 sums would wrap and elect too many.

    The array path refuses totals it cannot sum exactly, so the count runs on Python ints and
    equals the pure-Python count of the same ballots, with exactly the seats elected.
    """
    monkeypatch.setattr(_fast, "MIN_ROWS", 1)
    big = 9 * 10**17
    rows = np.array([[0, 1, -1], [1, 2, -1], [2, 0, 1], [0, -1, -1], [1, 0, -1], [2, -1, -1]] * 2)
    weights = [big] * 11 + [3]
    array = ArrayProfile.from_array(["A", "B", "C"], rows, weights=weights, seats=2)
    assert array.total_weight == 11 * big + 3 > 2**63
    plain = Profile.build(
        ["A", "B", "C"], [[["A", "B", "C"][c] for c in r if c >= 0] for r in rows.tolist()], weights=weights, seats=2
    )
    for method in ("meek", "wigm", "scottish"):
        fast, pure = count(array, method), count(plain, method)
        assert len(fast.elected) == 2 and fast.to_dict() == pure.to_dict()


def test_meek_file_with_huge_weights_in_bulk(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_scan, "FAST_LINES", 1)
    monkeypatch.setattr(_fast, "MIN_ROWS", 1)
    lines = [f"{9 * 10**17} {a} {b} 0" for a, b in [(1, 2), (2, 3), (3, 1), (1, 3)] * 3]
    path = tmp_path / "big.blt"
    path.write_text("3 2\n" + "\n".join(lines) + "\n0\n" + NAMES)
    assert main([str(path), "-m", "meek", "-f", "json"]) == 0
    assert capsys.readouterr().out.count('"elected"') >= 1
    profile = read_blt(path.read_text())
    assert isinstance(profile, ArrayProfile) and profile.total_weight == 12 * 9 * 10**17
    assert len(count(profile, "meek").elected) == 2


# === Header and weights ===========================================================================


def test_huge_candidate_count_is_refused_before_any_allocation(tmp_path):
    path = tmp_path / "huge.blt"
    path.write_text("2000000000 1\n1 1 0\n0\n" + NAMES)
    line = one_error_line(run_command(str(path), "-m", "meek"))
    assert line == f"governance-tally: {path}:1: 2,000,000,000 candidates declared; at most 1,000 are supported"


def test_more_candidates_than_the_file_can_name(tmp_path):
    path = tmp_path / "short.blt"
    path.write_text("900 1\n1 1 0\n0\n")
    line = one_error_line(run_command(str(path), "-m", "irv"))
    assert line == f"governance-tally: {path}:1: 900 candidates declared, but the file is too short to name them"


def test_negative_weight_on_the_first_ballot_line_is_not_a_withdrawal(tmp_path):
    path = tmp_path / "neg.blt"
    path.write_text("3 1\n-1 2 0\n1 3 0\n0\n" + NAMES)
    line = one_error_line(run_command(str(path), "-m", "irv"))
    assert line == f"governance-tally: {path}:2: ballot weight must be positive, found -1"
    # A real withdrawal line (only negative numbers) still reads as one.
    ok = tmp_path / "ok.blt"
    ok.write_text("3 1\n-1 -3\n1 2 0\n0\n" + NAMES)
    assert read_blt(ok.read_text()).withdrawn == frozenset({0, 2})


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("w.blt", "3 1\n1 1 0\n" + "9" * 5000 + " 2 0\n0\n" + NAMES, ":3: ballot weight has more than 18 digits"),
        ("w.abif", "=a:[A]\n1:a\n" + "9" * 5000 + ":a\n", ": line 3: count has more than 18 digits"),
        (
            "w.soi",
            "# NUMBER ALTERNATIVES: 1\n# ALTERNATIVE NAME 1: a\n" + "9" * 5000 + ": 1\n",
            ": line 3: count has more than 18 digits",
        ),
        ("w.csv", "count,a\n" + "9" * 5000 + ",1\n", ": line 2: count has more than 18 digits"),
        ("c.blt", "3 1\n1 " + "9" * 5000 + " 0\n0\n" + NAMES, ":2: candidate number 9999999999"),
        ("c.soi", "# NUMBER ALTERNATIVES: 1\n# ALTERNATIVE NAME 1: a\n1: " + "9" * 5000 + "\n", ": line 3: unknown candidate number 0"),
    ],
)
def test_five_thousand_digit_numbers_are_input_errors(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    line = one_error_line(run_command(str(path), "-m", "irv"))
    assert line.startswith(f"governance-tally: {path}{message}")
    assert "internal error" not in line


# === Not text ===================================================================================


@pytest.mark.parametrize("suffix", [".blt", ".abif", ".soi", ".toi", ".csv"])
def test_a_file_of_nul_bytes_is_not_an_election(tmp_path, suffix):
    path = tmp_path / f"zeros{suffix}"
    path.write_bytes(b"\x00" * 100_000)
    line = one_error_line(run_command(str(path), "-m", "irv"))
    sep = ":1:" if suffix == ".blt" else ": line 1:"
    assert line == f"governance-tally: {path}{sep} control character U+0000 (not a text file?)"


def test_a_control_character_late_in_a_valid_file_names_its_line(tmp_path):
    path = tmp_path / "late.csv"
    path.write_text("count,a,b\n" + "1,1,2\n" * 50 + "1,\x07,1\n")
    line = one_error_line(run_command(str(path), "-m", "irv"))
    assert line == f"governance-tally: {path}: line 52: control character U+0007 (not a text file?)"


def test_the_civs_reader_gets_the_same_checks(tmp_path):
    path = tmp_path / "civs.csv"
    path.write_bytes(b"a,b\n1,\x002\n")
    line = one_error_line(run_command(str(path), "--civs", "-m", "civs-pr"))
    assert line == f"governance-tally: {path}: line 2: control character U+0000 (not a text file?)"


@pytest.mark.parametrize("suffix", [".blt", ".abif", ".soi", ".csv"])
def test_a_single_100_mb_line_fails_at_once(tmp_path, suffix):
    """One 100 MB line: refused from the line table alone, before any parsing (1 GiB limit, 60 s)."""
    path = tmp_path / f"long{suffix}"
    with open(path, "wb") as out:
        out.write(b"2 1\n" if suffix == ".blt" else b"x\n")
        out.write(b"1 " * 50_000_000)
        out.write(b"\n")
    line = one_error_line(run_command(str(path), "-m", "irv"))
    sep = ":2:" if suffix == ".blt" else ": line 2:"
    assert line == f"governance-tally: {path}{sep} line is 100,000,000 bytes long (at most 1,048,576)"


def test_source_limits_are_the_documented_ones():
    assert (_scan.MAX_LINE, _scan.MAX_CANDIDATES, _scan.MAX_WEIGHT_DIGITS) == (1 << 20, 1_000, 18)
    with pytest.raises(TallyError, match="line 3: not UTF-8 text"):
        _scan.Source(b"a\nb\n\xff\n", "")


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("many.csv", ",".join(f"c{k}" for k in range(1001)) + "\n" + ",".join(["1"] * 1001) + "\n", ": line 1: 1,001 columns"),
        ("many.abif", "".join(f"=c{k}:[C{k}]\n" for k in range(1001)) + "1:c1\n", ": line 1001: more than 1,000 candidates declared"),
        ("many2.abif", "1:" + ">".join(f"c{k}" for k in range(1001)) + "\n", ": line 1: more than 1,000 candidates"),
        ("many.soi", "# NUMBER ALTERNATIVES: 5000\n1: 1\n", ": line 1: NUMBER ALTERNATIVES 5000: at most 1,000"),
    ],
)
def test_too_many_candidates_in_any_format(tmp_path, name, text, where):
    path = tmp_path / name
    path.write_text(text)
    assert one_error_line(run_command(str(path), "-m", "irv")).startswith(f"governance-tally: {path}{where}")

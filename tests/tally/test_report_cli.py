"""Reports (JSON, text, CSV), the method registry, and the governance-tally command."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from governance.tally.cli import main
from governance.tally.core import TallyError, TieBreaker
from governance.tally.irv import irv
from governance.tally.methods import METHODS, count
from governance.tally.report import to_csv, to_json, to_text

from .conftest import DATA, election, textbook

DEBIAN_2012 = str(DATA / "preflib-debian" / "00002-00000007.soi")


def test_json_report_keys_and_exact_numbers():
    profile, _ = textbook("tennessee_capital_100")
    data = json.loads(to_json(irv(profile)))
    assert {"method", "seats", "elected", "rounds", "tie_breaks", "parameters", "details"} <= set(data)
    assert data["elected"] == ["Knoxville"] and data["rounds"][0]["votes"]["Memphis"] == "42"
    assert data["rounds"][0]["quota"] == "50"


def test_text_report_shows_rounds_tie_breaks_and_result():
    result = irv(election("tie_for_last"))
    text = to_text(result, title="Tiny")
    assert text.startswith("Election:   Tiny\nMethod:     Instant-runoff voting (irv)")
    assert "Round 1" in text and "Exhausted" in text and "Threshold (more than)" in text
    assert "Tie-breaks:\n  round 1, exclude: b, c tied; c chosen by candidate order" in text
    assert text.rstrip().endswith("Elected: b")


def test_text_report_for_condorcet_shows_matrix_paths_and_locks():
    profile, _ = textbook("wikipedia_schulze_45")
    text = to_text(count(profile, "schulze"))
    assert "Pairwise preferences (row over column):" in text and "Strongest paths:" in text
    assert "Ranking: E > A > C > B > D" in text
    rp = to_text(count(profile, "ranked-pairs"))
    assert "Locked pairs (winner > loser, margin): B > D (21)" in rp


def test_text_report_for_an_unresolved_tie():
    text = to_text(count(election("condorcet_cycle"), "schulze"))
    assert "Tied (not resolved): a, b, c" in text


def test_csv_report_one_row_per_candidate_one_column_per_round():
    profile, _ = textbook("tennessee_capital_100")
    rows = list(csv.reader(io.StringIO(to_csv(irv(profile)))))
    assert rows[0] == ["candidate", "round 1", "round 2", "round 3", "outcome"]
    assert rows[1] == ["Memphis", "42", "42", "42", ""]
    assert rows[3] == ["Chattanooga", "15", "", "", "excluded in round 1"]
    assert rows[4][-1] == "elected in round 3"
    assert [r[0] for r in rows[5:]] == ["exhausted", "quota"]


# === Registry ===================================================================================


def test_registry_names():
    assert set(METHODS) == {
        "irv",
        "schulze",
        "ranked-pairs",
        "debian",
        "meek",
        "wigm",
        "scottish",
        "civs-pr",
        "yesno",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "borda"}, "unknown method 'borda'; valid methods: civs-pr, debian, irv"),
        ({"method": "irv", "seats": 2}, "irv elects one winner; seats must be 1"),
        ({"method": "schulze", "seats": 0}, "seats must be a whole number of at least 1"),
        ({"method": "irv", "precision": 4}, "irv does not take option(s) precision; it takes: equal_rank"),
        ({"method": "meek", "seats": 9}, "9 seats but only 3 candidates stand"),
    ],
)
def test_count_validates(kwargs, message):
    with pytest.raises(TallyError) as info:
        count(election("linear_profile"), **kwargs)
    assert str(info.value).startswith(message)


def test_count_passes_tie_breaker_and_options():
    result = count(election("equal_rankings"), "irv", equal_rank="split", tie_breaker=TieBreaker(seed="s"))
    assert result.parameters["equal_rank"] == "split" and result.parameters["tie_breaker"]["seed"] == "s"


# === Command line ===============================================================================


def test_cli_json(capsys):
    assert (
        main([DEBIAN_2012, "--method", "debian", "--default-option", "None Of The Above", "--format", "json"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "debian" and data["elected"] == ["Stefano Zacchiroli"]
    assert {"rounds", "seats", "tie_breaks", "details"} <= set(data)


def test_cli_text_and_csv(capsys):
    assert main([DEBIAN_2012, "-m", "schulze"]) == 0
    assert "Elected: Stefano Zacchiroli" in capsys.readouterr().out
    assert main([DEBIAN_2012, "-m", "irv", "-f", "csv"]) == 0
    assert capsys.readouterr().out.startswith("candidate,round 1")


def test_cli_seed_is_recorded(capsys, tmp_path):
    path = tmp_path / "cycle.abif"
    path.write_text("1: a>b>c\n1: b>c>a\n1: c>a>b\n")
    assert main([str(path), "-m", "schulze", "--seed", "poll-42", "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (
        data["tie_breaks"][0]["how"] == "seeded random order"
        and data["parameters"]["tie_breaker"]["seed"] == "poll-42"
    )


def test_cli_bad_file_names_file_and_line(capsys, tmp_path):
    bad = tmp_path / "bad.abif"
    bad.write_text("=a:[A]\n=b:[B]\n3: a>b\n2: a>z\n")
    assert main([str(bad), "-m", "irv"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: line 4: unknown candidate 'z'" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv", "-m", "irv"], "missing.csv: cannot read"),
        ([DEBIAN_2012, "-m", "irv", "--seats", "3"], "irv elects one winner"),
        ([DEBIAN_2012, "-m", "schulze", "--precision", "4"], "schulze does not take option(s) precision"),
        (
            [DEBIAN_2012, "-m", "debian", "--default-option", "Nobody"],
            "the default option 'Nobody' is not on the ballot",
        ),
    ],
)
def test_cli_errors_exit_2(capsys, args, message):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_cli_usage_errors(capsys):
    with pytest.raises(SystemExit) as info:
        main([DEBIAN_2012, "--method", "borda"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("--method", "--seats", "--format", "--seed", "--precision", "civs-pr", "ranked-pairs"):
        assert word in out


NIXOS_2024_CIVS = str(DATA / "nixos-sc-2024" / "civs_ballots.csv")
NIXOS_2024_ELECTED = ["Ericson2314", "roberth", "Gabriella439", "jtojnar", "tomberek", "winterqt", "fpletz"]


@pytest.mark.parametrize("fmt", ["text", "json", "csv"])
def test_cli_counts_a_civs_ballot_file_in_every_format(capsys, fmt):
    """CIVS files hold ratings (higher = preferred); --civs reads them so, and every report renders."""
    assert main([NIXOS_2024_CIVS, "--civs", "--method", "civs-pr", "--seats", "7", "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        assert json.loads(out)["elected"] == NIXOS_2024_ELECTED
    else:
        assert all(name in out for name in NIXOS_2024_ELECTED)


# === Reading each file once; dialects ==========================================================


@pytest.mark.parametrize("method", ["meek", "scottish", "irv", "schulze"])
def test_the_command_reads_the_file_once(tmp_path, monkeypatch, capsys, method):
    """STV counts of a BLT file without --seed use the file's tie order: still one read of the file."""
    path = tmp_path / "e.blt"
    path.write_text('3 2\n[tie 3 2 1]\n4 1 2 0\n3 2 3 0\n2 3 0\n0\n"A"\n"B"\n"C"\n"T"\n')
    reads = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or real(self))
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: pytest.fail("read_text called"))
    assert main([str(path), "-m", method, "-f", "json"]) == 0
    assert reads == [path]
    data = json.loads(capsys.readouterr().out)
    if method in ("meek", "scottish"):
        assert data["parameters"]["tie_breaker"]["order"] == ["C", "B", "A"]


SCOTTISH_STYLE = "3 2\n12 1 0\n88 1 3 2 0\n14 2 3 0\n8 3 0\n0\nCand A (Party A)\nCand B (Party B)\nCand C (Party C)\nWardy McWard Town\n"


def test_unquoted_names_one_per_line_are_read_and_said(tmp_path, capsys):
    path = tmp_path / "ward.blt"
    path.write_text(SCOTTISH_STYLE)
    assert main([str(path), "-m", "scottish"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Read:       {path}: names and title unquoted, one per line\nElection:   Wardy McWard Town\n")
    assert "Cand A (Party A)" in out
    assert main([str(path), "-m", "scottish", "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["input"] == {"file": str(path), "format": "blt", "notes": [f"{path}: names and title unquoted, one per line"]}
    assert main([str(path), "-m", "scottish", "-f", "csv"]) == 0
    assert "note: " in capsys.readouterr().err


def test_the_help_documents_the_cap(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "--affiliations FILE" in out and "--cap N" in out

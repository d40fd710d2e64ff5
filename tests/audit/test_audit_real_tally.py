"""Bundles counted and written by the real tally engine, and re-counted by an independent tabulator.

The other audit tests inject a small counter and codec so that they do not depend on the tally
engine; these run the whole path with ``governance.tally`` (its methods, BLT/ABIF/PrefLib formats
and reports), and check the winners against pref_voting reading the bundle's own ballot files.
"""

import json
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("governance.tally.formats", reason="the tally engine's ballot formats are not installed")
pytest.importorskip("governance.tally.irv", reason="the tally engine's IRV count is not installed")

from governance.audit.bundle import (  # noqa: E402 (after the skips above)
    ballots_jsonl,
    default_codecs,
    default_tallier,
    normalize_ballots,
)
from governance.audit.report import ERROR, OK, SKIP  # noqa: E402
from governance.audit.verifier import verify_bundle  # noqa: E402
from governance.tally.core import Profile  # noqa: E402
from tests.audit.audit_support import make_ballots, make_poll, read_zip, tamper  # noqa: E402

METHODS = [("irv", 1), ("schulze", 1), ("ranked-pairs", 1), ("meek", 2)]


def real_poll(method: str, seats: int = 1):
    """A poll counted by governance.tally and written with its formats."""
    poll = make_poll(tallier=default_tallier, method=method, seats=seats)
    poll.codecs = default_codecs()
    return poll


@pytest.fixture(scope="module")
def irv_poll():
    """An IRV poll and its bundle."""
    poll = real_poll("irv")
    return poll, poll.build()


def test_the_engine_provides_every_ballot_format():
    assert set(default_codecs()) == {"ballots.blt", "ballots.abif", "ballots.toi"}


@pytest.mark.parametrize(("method", "seats"), METHODS)
def test_real_bundle_verifies(method, seats):
    poll = real_poll(method, seats)
    report = verify_bundle(
        poll.build(), public_key=poll.public_pem, expected_head_root=poll.head["root_hash"]
    )
    assert report.ok, report.first_problem
    assert all(c.status == OK for c in report.checks)
    results = poll.results.to_dict()
    assert len(results["elected"]) == seats
    assert f"{len(results['rounds'])} rounds agree" in report.check("recount").detail


def test_real_reports_are_in_the_bundle(irv_poll):
    poll, data = irv_poll
    files = read_zip(data)
    assert "Instant-runoff voting" in files["results.txt"].decode()
    assert files["results.csv"].decode().startswith("candidate,")
    assert files["ballots.abif"].decode().count("=") >= 4  # the candidate declarations


def test_real_formats_catch_a_changed_ballot(irv_poll):
    poll, data = irv_poll
    ballots = [dict(b) for b in poll.ballots]
    ballots[0] = {"tracker": ballots[0]["tracker"], "ranking": [["Dee"]]}
    forged = tamper(data, {"ballots.jsonl": ballots_jsonl(ballots)})
    problem = verify_bundle(forged, public_key=poll.public_pem).first_problem
    assert (problem.name, problem.status) == ("formats", "FAIL")
    # Rewriting every ballot file with the engine's own writers only moves the problem to the log.
    profile = Profile.build(poll.election["candidates"], [b["ranking"] for b in normalize_ballots(ballots)])
    files = {"ballots.jsonl": ballots_jsonl(ballots)}
    for name, codec in default_codecs().items():
        files[name] = codec.write(profile).encode()
    problem = verify_bundle(tamper(data, files), public_key=poll.public_pem).first_problem
    assert (problem.name, problem.status) == ("commitments", "FAIL")


def test_real_recount_catches_a_false_result():
    genuine = real_poll("irv").results.to_dict()
    fake = json.loads(json.dumps(genuine))
    fake["elected"] = ["Ada"]
    lying = make_poll(results=fake, tallier=lambda election, ballots: fake, method="irv")
    lying.codecs = default_codecs()
    problem = verify_bundle(lying.build(), public_key=lying.public_pem).first_problem
    assert problem.name == "recount" and problem.detail.startswith(
        "published winners ['Ada'] but the re-count"
    )


def test_unknown_method_cannot_be_recounted(irv_poll):
    poll, data = irv_poll
    election = json.loads(read_zip(data)["election.json"]) | {"method": "borda-of-the-future"}
    report = verify_bundle(tamper(data, {"election.json": json.dumps(election).encode()}))
    problem = report.first_problem
    # The log never committed to election.json, but the count cannot be reproduced.
    assert (problem.name, problem.status) == ("recount", ERROR)
    assert "cannot count method 'borda-of-the-future'" in problem.detail
    assert report.check("published_head").status == SKIP


# === An independent tabulator ===================================================================


def parse_blt(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A minimal BLT reader written for this test (strict rankings, no options): names, ballots."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    n, _seats = (int(x) for x in lines[0].split())
    rows, i = [], 1
    if lines[i].startswith("-"):
        i += 1
    while lines[i] != "0":
        weight, *prefs = (int(x) for x in lines[i].split())
        assert prefs[-1] == 0
        rows.append((weight, prefs[:-1]))
        i += 1
    names = [line.strip('"') for line in lines[i + 1 : i + 1 + n]]
    return names, [(w, [names[k - 1] for k in prefs]) for w, prefs in rows]


def test_pref_voting_instant_runoff_on_ballots_blt_agrees(irv_poll):
    from pref_voting.iterative_methods import instant_runoff_for_truncated_linear_orders
    from pref_voting.profiles_with_ties import ProfileWithTies

    poll, data = irv_poll
    files = read_zip(data)
    names, rows = parse_blt(files["ballots.blt"].decode())
    assert names == poll.election["candidates"]
    profile = ProfileWithTies(
        [{name: rank for rank, name in enumerate(prefs, start=1)} for _, prefs in rows],
        rcounts=[w for w, _ in rows],
        candidates=names,
    )
    published = json.loads(files["results.json"])
    assert instant_runoff_for_truncated_linear_orders(profile) == published["elected"] == ["Cyd"]


def test_pref_voting_schulze_on_ballots_toi_agrees():
    from pref_voting.io.readers import preflib_to_profile
    from pref_voting.margin_based_methods import beat_path

    poll = real_poll("schulze")
    files = read_zip(poll.build())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ballots.toi"
        path.write_bytes(files["ballots.toi"])
        profile = preflib_to_profile(str(path), use_cand_names=True)
    assert sorted(profile.candidates) == sorted(poll.election["candidates"])
    assert profile.num_voters == len(make_ballots())
    profile.use_extended_strict_preference()  # unranked candidates rank below ranked ones
    assert beat_path(profile) == json.loads(files["results.json"])["elected"] == ["Cyd"]


def test_equal_rankings_and_blank_ballots_survive_every_format():
    ballots = make_ballots(20)
    ballots[0] = {"tracker": ballots[0]["tracker"], "ranking": [["Dee", "Ada"], ["Cyd"]]}
    ballots[1] = {"tracker": ballots[1]["tracker"], "ranking": []}
    ballots[2] = {"tracker": ballots[2]["tracker"], "ranking": [["Brook"], ["Cyd", "Ada", "Dee"]]}
    poll = make_poll(ballots=ballots, tallier=default_tallier, method="schulze")
    poll.codecs = default_codecs()
    data = poll.build()
    lines = read_zip(data)["ballots.jsonl"].decode()
    assert '"ranking":[["Ada","Dee"],["Cyd"]]' in lines and '"ranking":[]' in lines
    report = verify_bundle(data, public_key=poll.public_pem)
    assert report.ok, report.first_problem

"""The charter's structure, its governed text and its clause-by-clause classifier (pure)."""

from __future__ import annotations

import copy

import pytest

from governance.polls.charter_schema import (
    DEFAULT_CHARTER,
    body_defaults,
    default_charter,
    normalized,
    validate,
)
from governance.proposals import charter_rules

pytestmark = pytest.mark.trustee_charter  # the shipped charter's defaults


def changed(change) -> dict:
    data = default_charter()
    change(data)
    return data


def doc(data, slug):
    return next(d for d in data["documents"] if d["slug"] == slug)


def body(data, slug):
    return next(b for b in data["bodies"] if b["slug"] == slug)


def sig(slug="sig-release"):
    return dict(copy.deepcopy(body(DEFAULT_CHARTER, "sig-security")), slug=slug, name="Release SIG", group=slug,
                managers=[f"{slug}-chairs", "steering-committee"])


def test_text_carries_the_structure_and_refuses_any_other_text():
    data = default_charter()
    text = charter_rules.render(data)
    assert charter_rules.parse(text) == normalized(data)
    assert "### Security SIG (`sig-security`)" in text and "`sig-security-chairs`" in text
    for tampered in (text.replace("3/4", "1/2", 1),  # the readable part no longer matches the structure
                     text.replace('"threshold": "3/4"', '"threshold": "1/2"'),  # nor the structure the text
                     text[:-5], text + "\nMore.\n", "# Charter\n"):
        with pytest.raises(charter_rules.CharterTextError):
            charter_rules.parse(tampered)


def test_defaults_of_the_new_fields():
    assert body_defaults("community")["key_mode"] == "trustees"
    assert body_defaults("community")["trustees"] == {"group": "steering-committee", "count": 3, "threshold": 2}
    assert body_defaults("sig-security")["key_mode"] == "platform" and body_defaults("sig-x")["trustees"] is None
    sec = body(default_charter(), "sig-security")
    assert sec["officers"] == ["steering-committee"] and sec["certification"]["required"] is False
    assert sec["exceptions"] == {"allowed": True, "deadline_days_before_opening": 3}
    assert sec["reminders_days_before_close"] == [3, 1] and sec["max_seats_per_affiliation"] is None
    assert sec["managers"] == ["sig-security-chairs", "steering-committee"]  # chairs, not every member
    # An older charter without the new fields reads with the defaults.
    old = {"bodies": [{"slug": "community", "name": "All", "kinds": ["decision"], "managers": ["x"]}],
           "documents": []}
    assert normalized(old)["bodies"][0]["key_mode"] == "trustees"
    assert doc(normalized(old), "charter")["revision"]["threshold"] == "3/4"


@pytest.mark.parametrize("change, kind, words", [
    (lambda d: d["bodies"].append(sig()), "detail", "adds a body"),
    (lambda d: body(d, "sig-security").update(managers=["sig-security", "steering-committee"]), "detail", "detail"),
    (lambda d: body(d, "sig-security").update(description="Security."), "detail", "detail"),
    (lambda d: body(d, "sig-security").update(officers=["sig-security-chairs"]), "detail", "detail"),
    (lambda d: doc(d, "roadmap")["revision"].update(threshold="1/2"), "revision", "lowers a bar (threshold 2/3 → 1/2)"),
    (lambda d: doc(d, "roadmap")["revision"].update(quorum=1, voting_days=1), "revision", "quorum 10 → 1"),
    (lambda d: doc(d, "roadmap")["detail"].update(strict=False), "revision", "strict → not strict"),
    (lambda d: doc(d, "roadmap").update(committee_may_publish=["detail", "revision"]), "revision",
     "widens what the committee may publish directly (revision)"),
    (lambda d: doc(d, "values").update(revision={"threshold": "1/2", "strict": True, "quorum": 1, "voting_days": 1},
                                       entrenched=False), "revision", "lets a document that accepted no such change"),
    (lambda d: doc(d, "charter")["revision"].update(threshold="1/2"), "revision", "lowers a bar"),
    (lambda d: doc(d, "roadmap").update(voters="steering-committee"), "revision", "changes who votes on roadmap"),
    (lambda d: body(d, "community")["eligibility"].update(min_trust_level=3), "revision",
     "changes who may vote in community"),
    (lambda d: body(d, "sig-security").update(group="sig-sec"), "revision", "changes who may vote in sig-security"),
    (lambda d: d["bodies"].remove(body(d, "sig-security")), "revision", "removes the body sig-security"),
    (lambda d: d["rules"]["entrenched"].remove("documents"), "revision", "removes entrenched clauses (documents)"),
    (lambda d: d["rules"]["publication"].update(waiting_days=1), "revision", "waiting period"),
    (lambda d: d["rules"]["publication"].update(second_approver=False, waiting_days=3), "revision",
     "drops the second approver"),
    (lambda d: d["rules"]["discussion_days"].update(revision=0), "revision", "shortens the discussion period"),
    (lambda d: d["rules"].update(open_referendum="void"), "revision", "open referendum"),
    # A stricter bar is not lowering one, but the bars sit in the entrenched "documents" section.
    (lambda d: doc(d, "roadmap")["revision"].update(threshold="3/4"), "revision", "entrenched clause (documents)"),
    (lambda d: body(d, "community").update(key_mode="platform", trustees=None), "revision",
     "entrenched clause (bodies.community)"),
])
def test_classifier(change, kind, words):
    result = charter_rules.classify(default_charter(), changed(change))
    assert result["kind"] == kind, result["summary"]
    assert any(words in c["why"] for c in result["clauses"]), [c["why"] for c in result["clauses"]]


def test_the_entrenched_list_is_itself_entrenched_and_floors_hold_without_it():
    # Emptying the list is refused by validation and would be a revision anyway.
    data = changed(lambda d: d["rules"].update(entrenched=[]))
    assert ("rules.entrenched", "the list of entrenched clauses must itself be entrenched (keep rules or "
            "rules.entrenched in it)") in validate(data)
    assert charter_rules.classify(default_charter(), data)["kind"] == "revision"
    # With a charter that entrenches only its own rules, lowering a bar is still a revision.
    lax = changed(lambda d: d["rules"].update(entrenched=["rules"]))
    lower = copy.deepcopy(lax)
    doc(lower, "roadmap")["revision"]["threshold"] = "1/2"
    assert charter_rules.classify(lax, lower)["kind"] == "revision"
    raised = copy.deepcopy(lax)
    doc(raised, "roadmap")["revision"]["threshold"] = "3/4"
    assert charter_rules.classify(lax, raised)["kind"] == "detail"


def test_unchanged():
    assert charter_rules.classify(default_charter(), default_charter())["kind"] == "unchanged"


@pytest.mark.parametrize("change, field, words", [
    (lambda d: d["bodies"].append(sig("x" * 10_000)), "bodies.", "at most 40 characters"),
    (lambda d: d["bodies"].append(sig("Bad Slug")), "bodies.", "lower-case letters"),
    (lambda d: body(d, "sig-security").update(name="n" * 101), "bodies.sig-security.name", "longer than 100"),
    (lambda d: body(d, "sig-security").update(managers=["g" * 61]), "bodies.sig-security.managers", "at most 60"),
    (lambda d: body(d, "sig-security").update(managers=[]), "bodies.sig-security.managers", "at least one"),
    (lambda d: body(d, "community")["trustees"].update(threshold=4), "bodies.community.trustees",
     "1 ≤ threshold ≤ count ≤ 10"),
    (lambda d: body(d, "community")["trustees"].update(count=11, threshold=2), "bodies.community.trustees", "≤ 10"),
    (lambda d: body(d, "community")["trustees"].update(threshold=0), "bodies.community.trustees", "1 ≤"),
    (lambda d: body(d, "sig-security").update(trustees={"group": "x", "count": 3, "threshold": 2}),
     "bodies.sig-security.trustees", "only when the key mode is trustees"),
    (lambda d: body(d, "sig-security").update(key_mode="hsm"), "bodies.sig-security.key_mode", "platform or trustees"),
    (lambda d: body(d, "sig-security").update(max_seats_per_affiliation=2), "bodies.sig-security.max_seats",
     "only a body that holds elections"),
    (lambda d: body(d, "community").update(max_seats_per_affiliation=0), "bodies.community.max_seats", "1 to 50"),
    (lambda d: body(d, "community").update(reminders_days_before_close=[1, 1]), "bodies.community.reminders",
     "different whole days"),
    (lambda d: body(d, "community").update(certification={"required": "yes", "days": 3}),
     "bodies.community.certification", "required (true or false)"),
    (lambda d: body(d, "community").update(exceptions={"allowed": True, "deadline_days_before_opening": -1}),
     "bodies.community.exceptions", "0 to 365"),
    (lambda d: body(d, "community").update(officers="steering-committee"), "bodies.community.officers",
     "must be a list"),
    (lambda d: d["documents"].remove(doc(d, "charter")), "documents", "keep its own rule"),
    (lambda d: doc(d, "charter").update(committee_may_publish=["detail", "revision"]),
     "documents.charter.committee_may_publish", "never publish a revision of the charter"),
    (lambda d: doc(d, "charter").update(voters="steering-committee"), "documents.charter.voters", "community"),
    (lambda d: d["rules"]["publication"].update(second_approver=False), "rules.publication",
     "second approver or a waiting period"),
    (lambda d: d["rules"].update(open_referendum="ignore"), "rules.open_referendum", "refuse or void"),
    (lambda d: doc(d, "roadmap")["detail"].update(threshold="1e-5000"), "documents.roadmap.detail", "threshold"),
])
def test_validation_names_the_field(change, field, words):
    problems = validate(changed(change))
    assert any(f.startswith(field) and words in m for f, m in problems), problems


def test_the_default_charter_is_valid():
    assert validate(default_charter()) == []

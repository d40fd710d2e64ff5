"""Documents and amendments through the service, on SQLite and PostgreSQL: publishing, proposing,
classification, referendums at the exact bars, adoption, rebase and conflict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlmodel import select

from governance.audit import log
from governance.audit.chain import verify_chain
from governance.errors import Conflict, InvalidInput, NotAllowed, NotEligible, NotFound
from governance.models import Amendment, Document, DocumentVersion, Poll
from governance.polls import approvals, charter, clock
from governance.proposals import service
from governance.proposals.render import sha256_hex
from tests.conftest import cast_ranking, make_member
from tests.proposals.roadmap_support import V1, V2

NOW = datetime.now(UTC).replace(microsecond=0)
COMMITTEE = "steering-committee"
_ids = count(5000)

# Where to insert in V1 (indexes from parse_blocks(V1)): after the Governance goal's paragraph,
# and after the last paragraph of the Hard Fork phase.
AFTER_GOVERNANCE = 17
AFTER_HARD_FORK = 31
GOVERNANCE_DETAIL = "Elections will use ranked ballots, counted in public."
HARD_FORK_DETAIL = "The first release will be announced on the forum."


# === Helpers (also used by the web and browser tests) ===========================================


def member(session, username: str, **fields):
    """A member with a unique forum id (eligible for community polls by default)."""
    return make_member(session, username=username, forum_user_id=next(_ids), **fields)


def run_clock(app, now):
    """Take the steps the clock calls for (community polls need no forum snapshot)."""
    return clock.run_due(engine=app.extensions["governance.engine"],
                         immediate=app.extensions["governance.engine_immediate"], forum=None, now=now,
                         secret=app.config["SECRET_KEY"])


def import_roadmap(session, source: str = V1):
    version = service.import_document(session=session, charter=charter.current(session), slug="roadmap",
                                      source=source, now=NOW)
    session.commit()
    return version


def propose_insertions(session, who, insertions, *, base: int = 1, title: str = "More detail"):
    amendment = service.propose(session=session, actor=who, charter=charter.current(session), slug="roadmap",
                                base_number=base, title=title, rationale="Because.", insertions=insertions,
                                now=NOW)
    session.commit()
    return amendment


def discussed(session, amendment) -> datetime:
    """When the charter's discussion period for this amendment has passed."""
    days = charter.rules(charter.current(session))["discussion_days"][amendment.kind]
    return (amendment.topic_requested_at or NOW) + timedelta(days=days)


def put_to_vote(session, chair, amendment, *, opens_at=None):
    """Open the discussion, let the charter's discussion period pass, start the referendum; return the poll.

    The discussion opens at NOW (or earlier, so that the vote can open at ``opens_at``).
    """
    current = charter.current(session)
    if amendment.status == "draft":
        days = charter.rules(current)["discussion_days"][amendment.kind]
        service.open_discussion(session=session, actor=chair, charter=current, amendment=amendment,
                                now=min(NOW, (opens_at or NOW) - timedelta(days=days, minutes=1)))
    start = discussed(session, amendment)
    poll = service.start_voting(session=session, actor=chair, charter=current, amendment=amendment, now=start,
                                opens_at=opens_at or max(start, NOW) + timedelta(hours=1))
    session.commit()
    return poll


def committee_publish(session, chair, *, source, base_number, slug="roadmap", note="", now=NOW, second=None):
    """A committee publication through the two-person rule: asked, approved by a second member, announced."""
    from governance.models import DocumentVersion

    second = second or member(session, f"second{next(_ids)}", groups=[COMMITTEE])
    change = approvals.request_document(session=session, actor=chair, charter=charter.current(session),
                                        committee_group=COMMITTEE, slug=slug, source=source,
                                        base_number=base_number, note=note, now=now)
    approvals.approve(session=session, actor=second, charter=charter.current(session), change=change,
                      committee_group=COMMITTEE, now=now)
    approvals.announced(session=session, change_id=change.id, topic_id=1, now=now)
    session.commit()
    assert change.status == "applied", change.history
    return session.exec(select(DocumentVersion).where(DocumentVersion.number == change.result["version"],
                                                      DocumentVersion.change_id == change.id)).one()


def decide(app, session, poll, *, yes: int, no: int = 0, abstain: int = 0, prefix: str = "v"):
    """Open the poll, cast the ballots, close it at its closing time; return the poll re-read."""
    voters = [member(session, f"{prefix}{i}") for i in range(yes + no + abstain)]
    run_clock(app, poll.opens_at)  # (a page view may have opened it already)
    session.rollback()
    session.expire_all()
    poll = session.get(Poll, poll.id)
    assert poll.status == "open"
    rankings = [[["yes"]]] * yes + [[["no"]]] * no + [[]] * abstain
    for voter, ranking in zip(voters, rankings, strict=True):
        cast_ranking(app, session, poll.id, voter, ranking, poll.opens_at + timedelta(minutes=1))
    session.commit()
    assert (poll.id, "close") in run_clock(app, poll.closes_at)
    session.expire_all()
    return session.get(Poll, poll.id)


@pytest.fixture
def chair(session):
    return member(session, "chair", groups=[COMMITTEE])


@pytest.fixture
def marlow(session):
    return member(session, "marlow")


def types(session, slug: str = "roadmap") -> list[str]:
    return [e.type for e in log.entries(session, document=slug)]


# === Publishing =================================================================================


def test_import_then_committee_publishes_detail_but_not_a_revision(session, chair):
    first = import_roadmap(session)
    assert (first.number, first.adopted_by, first.sha256) == (1, "committee", sha256_hex(V1))
    assert "<h1" in first.html and "&lt;!--" in first.html  # the HTML comment is shown as text
    current = charter.current(session)
    detail = V1.rstrip("\n") + "\n\nA closing note.\n"
    second = committee_publish(session, chair, source=detail, base_number=1, note="typo")
    assert second.number == 2 and second.classification["kind"] == "detail"
    with pytest.raises(NotAllowed, match="propose it as an amendment"):
        approvals.request_document(session=session, actor=chair, charter=current, committee_group=COMMITTEE,
                                slug="roadmap", source=V2, base_number=2, now=NOW)
    session.rollback()
    session.expire_all()
    with pytest.raises(InvalidInput, match="unchanged"):
        approvals.request_document(session=session, actor=chair, charter=current, committee_group=COMMITTEE,
                                slug="roadmap", source=detail + "\n\n", base_number=2, now=NOW)
    session.rollback()
    session.expire_all()
    with pytest.raises(Conflict, match="superseded"):
        approvals.request_document(session=session, actor=chair, charter=current, committee_group=COMMITTEE,
                                slug="roadmap", source=detail + "\nMore.\n", base_number=1, now=NOW)
    session.rollback()
    session.expire_all()
    assert types(session) == ["document.version_published", "change.requested", "change.approved",
                              "change.announced", "document.version_published"]
    entry = log.entries(session, document="roadmap")[-1]
    assert entry.payload["approval"]["approved_by"] != entry.payload["approval"]["requested_by"] == "chair"
    assert entry.payload["classification"]["kind"] == "detail"
    assert entry.payload["classification"]["inserted"][0]["text"] == "A closing note."


def test_only_the_committee_publishes(session, marlow):
    import_roadmap(session)
    with pytest.raises(NotAllowed):
        approvals.request_document(session=session, actor=marlow, charter=charter.current(session),
                                   committee_group=COMMITTEE, slug="roadmap", source=V1 + "\nMore.\n",
                                   base_number=1, now=NOW)


def test_entrenched_values_accept_detail_only(session, chair, marlow):
    service.import_document(session=session, charter=charter.current(session), slug="values",
                            source="# Values\n\n## Kindness\n\nBe kind.\n", now=NOW)
    session.commit()
    with pytest.raises(InvalidInput, match="entrenched"):
        service.propose(session=session, actor=marlow, charter=charter.current(session), slug="values",
                        base_number=1, title="Soften", source="# Values\n\n## Kindness\n\nBe nice.\n", now=NOW)
    session.rollback()
    session.expire_all()
    with pytest.raises(NotAllowed, match="does not let the committee publish"):
        approvals.request_document(session=session, actor=chair, charter=charter.current(session),
                                committee_group=COMMITTEE, slug="values",
                                source="# Values\n\n## Kindness\n\nBe kind.\n\nAlways.\n", base_number=1, now=NOW)
    session.rollback()
    session.expire_all()
    amendment = service.propose(session=session, actor=marlow, charter=charter.current(session), slug="values",
                                base_number=1, title="Add", source="# Values\n\n## Kindness\n\nBe kind.\n\nAlways.\n",
                                now=NOW)
    assert amendment.kind == "detail"


def test_import_refuses_a_second_time_and_unknown_documents(session):
    import_roadmap(session)
    with pytest.raises(Conflict):
        import_roadmap(session)
    session.rollback()
    session.expire_all()
    with pytest.raises(NotFound):
        service.import_document(session=session, charter=charter.current(session), slug="nope", source="x",
                                now=NOW)


# === Proposing and classifying ==================================================================


def test_v1_to_v2_is_a_revision_naming_the_removed_and_reworded_blocks(session, marlow):
    import_roadmap(session)
    amendment = service.propose(session=session, actor=marlow, charter=charter.current(session), slug="roadmap",
                                base_number=1, title="The May rewrite", source=V2, now=NOW)
    session.commit()
    assert amendment.kind == "revision" and amendment.status == "draft"
    data = amendment.classification
    removed = [b["text"] for b in data["removed"]]
    assert "Stabilization" in removed and "Infrastructure" in removed
    assert any(t.startswith("User-friendly features such as the Nix v3 CLI") for t in removed)
    changed = [(c["old"]["text"], c["how"]) for c in data["changed"]]
    assert any(t.startswith("We will fork and maintain Nix") and how == "reworded" for t, how in changed)
    assert any(t.startswith("This initial phase will involve") and how == "extended" for t, how in changed)
    assert (amendment.base_number, amendment.base_sha256, amendment.sha256) == (1, sha256_hex(V1), sha256_hex(V2))
    assert types(session) == ["document.version_published", "amendment.proposed", "amendment.classified"]
    classified = log.entries(session, document="roadmap")[-1].payload["classification"]
    assert classified["kind"] == "revision" and {"kind": "heading", "lines": [37, 37], "text": "Stabilization"} \
        in classified["removed"]


def test_inserted_blocks_are_detail(session, marlow):
    import_roadmap(session)
    amendment = propose_insertions(session, marlow, [(AFTER_GOVERNANCE, GOVERNANCE_DETAIL),
                                                     (AFTER_HARD_FORK, HARD_FORK_DETAIL)])
    assert amendment.kind == "detail"
    assert [b["text"] for b in amendment.classification["inserted"]] == [GOVERNANCE_DETAIL, HARD_FORK_DETAIL]
    assert GOVERNANCE_DETAIL in amendment.source_md and amendment.source_md.startswith(V1[:50])


@pytest.mark.parametrize("kwargs, field, words", [
    ({"source": ""}, "source", "empty"),
    ({"source": "   \n"}, "source", "empty"),
    ({"source": V1}, "source", "changes nothing"),
    ({"source": V1 + "\n\n"}, "source", "changes nothing"),
    ({"source": "x" * 200_001}, "source", "limit"),
    ({"source": V1 + "\nbad \x00 byte\n"}, "source", "NUL"),
    ({"source": V1 + "\n\u202eevil\n"}, "source", "direction"),
    ({"source": V1, "title": ""}, "title", "title"),
    ({"source": V1 + "\nx\n", "title": "t" * 201}, "title", "title"),
    ({"insertions": [(999, "Text.")]}, "insertions", "no block 999"),
    ({"insertions": [(3, "   ")]}, "insertions", "at least one"),
    ({"insertions": [(-2, "Text.")]}, "insertions", "no block -2"),
    ({"source": V1 + "\nx\n", "insertions": [(1, "y")]}, "source", "either"),
    ({"source": V1 + "\nx\n", "base_number": 7}, "base", "no version 7"),
    ({"source": V1 + "\nx\n", "base_number": "abc"}, "base", "number"),
])
def test_bad_proposals_are_refused_and_nothing_is_stored(session, marlow, kwargs, field, words):
    import_roadmap(session)
    arguments = {"title": "A title", "base_number": 1, **kwargs}
    with pytest.raises(InvalidInput) as err:
        service.propose(session=session, actor=marlow, charter=charter.current(session), slug="roadmap",
                        now=NOW, **arguments)
    assert field in [f for f, _ in err.value.reasons]
    assert words.lower() in err.value.message.lower()
    session.rollback()
    session.expire_all()
    assert session.exec(select(Amendment)).all() == []
    assert types(session) == ["document.version_published"]


def test_superseded_base_is_refused_with_a_clear_message(session, chair, marlow):
    import_roadmap(session)
    committee_publish(session, chair, source=V1 + "\nNote.\n", base_number=1)
    with pytest.raises(Conflict, match="Version 1 of Roadmap has been superseded: the current version is 2"):
        propose_insertions(session, marlow, [(3, "Text.")], base=1)
    session.rollback()
    session.expire_all()
    assert session.exec(select(Amendment)).all() == []


def test_ineligible_members_cannot_propose(session):
    import_roadmap(session)
    newcomer = member(session, "newcomer", trust_level=0)
    suspended = member(session, "suspended_one", suspended=True)
    for who in (newcomer, suspended):
        with pytest.raises(NotEligible) as err:
            propose_insertions(session, who, [(3, "Text.")])
        assert err.value.reasons
        session.rollback()
    assert session.exec(select(Amendment)).all() == []


# === Referendums at the exact bars ===============================================================


@pytest.mark.parametrize("yes, no, abstain, passed", [
    (3, 3, 0, False),  # detail: more than half of yes+no; a tie fails
    (4, 3, 0, True),
    (3, 0, 1, False),  # quorum 5 not met: 4 ballots (abstentions count)
    (3, 0, 2, True),   # quorum met exactly with two abstentions
])
def test_detail_bar_simple_majority_and_quorum(app, session, chair, marlow, yes, no, abstain, passed):
    import_roadmap(session)
    amendment = propose_insertions(session, marlow, [(AFTER_GOVERNANCE, GOVERNANCE_DETAIL)])
    poll = put_to_vote(session, chair, amendment)
    assert (poll.threshold, poll.threshold_strict, poll.quorum) == ("1/2", True, 5)
    assert poll.closes_at - poll.opens_at == timedelta(days=7)
    poll = decide(app, session, poll, yes=yes, no=no, abstain=abstain)
    amendment = session.get(Amendment, amendment.id)
    document = session.exec(select(Document).where(Document.slug == "roadmap")).one()
    assert amendment.status == ("adopted" if passed else "rejected")
    assert document.current_version == (2 if passed else 1)


@pytest.mark.parametrize("yes, no, abstain, passed", [
    (8, 4, 0, True),    # exactly two thirds passes ("at least")
    (7, 4, 0, False),   # 7/11 < 2/3
    (6, 3, 0, False),   # two thirds but 9 ballots: quorum 10 not met
    (6, 3, 1, True),    # the abstention completes the quorum
])
def test_revision_bar_two_thirds_and_quorum(app, session, chair, marlow, yes, no, abstain, passed):
    import_roadmap(session)
    amendment = service.propose(session=session, actor=marlow, charter=charter.current(session), slug="roadmap",
                                base_number=1, title="Rewrite", source=V2, now=NOW)
    session.commit()
    poll = put_to_vote(session, chair, amendment)
    assert (poll.threshold, poll.threshold_strict, poll.quorum) == ("2/3", False, 10)
    assert poll.closes_at - poll.opens_at == timedelta(days=14)
    poll = decide(app, session, poll, yes=yes, no=no, abstain=abstain)
    assert session.get(Amendment, amendment.id).status == ("adopted" if passed else "rejected")


@pytest.mark.parametrize("yes, no, passed", [(9, 3, True), (8, 3, False), (12, 4, True), (11, 4, False)])
def test_revision_bar_three_to_one(app, session, chair, marlow, yes, no, passed):
    data = charter.current(session).data
    rules = [dict(d, revision={"threshold": "3/4", "strict": False, "quorum": 1, "voting_days": 21})
             if d["slug"] == "roadmap" else d for d in data["documents"]]
    charter.publish(session=session, actor=chair, data={**data, "documents": rules}, note="3:1 for revisions",
                    committee_group=COMMITTEE)
    session.commit()
    import_roadmap(session)
    amendment = service.propose(session=session, actor=marlow, charter=charter.current(session), slug="roadmap",
                                base_number=1, title="Rewrite", source=V2, now=NOW)
    session.commit()
    poll = put_to_vote(session, chair, amendment)
    assert poll.threshold == "3/4" and poll.closes_at - poll.opens_at == timedelta(days=21)
    poll = decide(app, session, poll, yes=yes, no=no)
    assert poll.result["details"]["passed"] is passed
    assert session.get(Amendment, amendment.id).status == ("adopted" if passed else "rejected")


def test_adoption_writes_a_version_linked_to_the_poll_and_its_result(app, session, chair, marlow):
    import_roadmap(session)
    amendment = service.propose(session=session, actor=marlow, charter=charter.current(session), slug="roadmap",
                                base_number=1, title="Rewrite", source=V2, now=NOW)
    session.commit()
    poll = put_to_vote(session, chair, amendment)
    assert f"`{sha256_hex(V1)}`" in poll.description_md and f"`{sha256_hex(V2)}`" in poll.description_md
    assert poll.amendment_id == amendment.id and poll.body == "community"
    poll = decide(app, session, poll, yes=10)
    document = session.exec(select(Document).where(Document.slug == "roadmap")).one()
    version = service.get_version(session, document, 2)
    assert (version.adopted_by, version.poll_id, version.result_hash) == ("poll", poll.id, poll.result_hash)
    assert version.source_md == V2 and version.sha256 == sha256_hex(V2) and version.amendment_id == amendment.id
    assert version.classification["kind"] == "revision"
    assert service.get_version(session, document, 1).source_md == V1  # the old text is kept
    amendment = session.get(Amendment, amendment.id)
    assert (amendment.status, amendment.adopted_version) == ("adopted", 2)
    assert [h["event"] for h in amendment.history] == ["proposed", "discussion_opened", "voting_started", "adopted"]
    assert types(session)[-2:] == ["amendment.adopted", "document.version_published"]
    verify_chain([log.as_entry(e) for e in log.entries(session)])


def test_voting_needs_discussion_the_committee_and_a_current_base(session, chair, marlow):
    import_roadmap(session)
    amendment = propose_insertions(session, marlow, [(3, "Text.")])
    current = charter.current(session)
    with pytest.raises(Conflict, match="open for discussion"):
        service.start_voting(session=session, actor=chair, charter=current, amendment=amendment, now=NOW)
    session.rollback()
    session.expire_all()
    service.open_discussion(session=session, actor=marlow, charter=current, amendment=amendment, now=NOW)
    session.commit()
    assert service.topics_wanted(session) == [amendment.id]
    with pytest.raises(NotAllowed):
        service.start_voting(session=session, actor=marlow, charter=current, amendment=amendment, now=NOW)
    session.rollback()
    session.expire_all()
    with pytest.raises(NotAllowed):
        service.open_discussion(session=session, actor=member(session, "other"), charter=current,
                                amendment=amendment, now=NOW)
    session.rollback()
    session.expire_all()
    assert session.exec(select(Poll)).all() == []


# === Two adoptions: rebase and conflict ==========================================================


def test_one_referendum_at_a_time_then_the_next_is_rebased_or_conflicted(app, session, chair, marlow):
    """The issue's attack: an amendment silently re-applied while its own vote was open. Now a
    second referendum on the same document cannot start while one is open; after the adoption the
    waiting amendments (still in discussion) are rebased or conflicted before anyone votes on them."""
    import_roadmap(session)
    other = member(session, "other")
    first = propose_insertions(session, marlow, [(AFTER_GOVERNANCE, GOVERNANCE_DETAIL)], title="First")
    second = propose_insertions(session, other, [(AFTER_HARD_FORK, HARD_FORK_DETAIL)], title="Second")
    clash = propose_insertions(session, other, [(AFTER_GOVERNANCE, "Terms last two years.")], title="Clash")
    first_poll = put_to_vote(session, chair, first)
    for amendment in (second, clash):
        service.open_discussion(session=session, actor=chair, charter=charter.current(session), amendment=amendment,
                                now=NOW)
        session.commit()
        with pytest.raises(Conflict, match="one referendum runs at a time"):
            service.start_voting(session=session, actor=chair, charter=charter.current(session),
                                 amendment=amendment, now=discussed(session, amendment))
        session.rollback()
        session.expire_all()
    first_poll = decide(app, session, first_poll, yes=5, prefix="f")
    document = session.exec(select(Document).where(Document.slug == "roadmap")).one()
    v2 = service.get_version(session, document, 2)
    assert GOVERNANCE_DETAIL in v2.source_md and document.current_version == 2
    second = session.get(Amendment, second.id)
    assert (second.status, second.base_number, second.base_sha256, second.kind) == \
        ("discussion", 2, v2.sha256, "detail")
    assert GOVERNANCE_DETAIL in second.source_md and HARD_FORK_DETAIL in second.source_md
    assert second.original_base_number == 1 and second.original_sha256 != second.sha256
    assert [b["text"] for b in second.classification["inserted"]] == [HARD_FORK_DETAIL]
    clash = session.get(Amendment, clash.id)
    assert clash.status == "conflicted" and clash.history[-1]["event"] == "conflicted"
    assert {"amendment.rebased", "amendment.conflicted", "amendment.adopted"} <= set(types(session))
    rebased = [e for e in log.entries(session, document="roadmap") if e.type == "amendment.rebased"][0]
    assert rebased.payload["from_version"] == 1 and rebased.payload["to_version"] == 2
    with pytest.raises(Conflict, match="conflicts"):
        service.start_voting(session=session, actor=chair, charter=charter.current(session), amendment=clash,
                             now=discussed(session, clash))
    session.rollback()
    session.expire_all()

    # The rebased second amendment goes to its own vote on the text it now has: version 3 keeps both.
    second_poll = put_to_vote(session, chair, session.get(Amendment, second.id),
                              opens_at=first_poll.closes_at + timedelta(hours=1))
    assert f"SHA-256 `{v2.sha256}`" in second_poll.description_md
    second_poll = decide(app, session, second_poll, yes=5, prefix="s")
    session.expire_all()
    document = session.exec(select(Document).where(Document.slug == "roadmap")).one()
    v3 = service.get_version(session, document, 3)
    assert document.current_version == 3 and v3.poll_id == second_poll.id
    assert GOVERNANCE_DETAIL in v3.source_md and HARD_FORK_DETAIL in v3.source_md
    versions = session.exec(select(DocumentVersion).where(DocumentVersion.document_id == document.id)
                            .order_by(DocumentVersion.number)).all()
    assert [v.number for v in versions] == [1, 2, 3]


def test_committee_publication_also_rebases_pending_amendments(session, chair, marlow):
    import_roadmap(session)
    amendment = propose_insertions(session, marlow, [(AFTER_HARD_FORK, HARD_FORK_DETAIL)])
    revision = service.propose(session=session, actor=marlow, charter=charter.current(session), slug="roadmap",
                               base_number=1, title="Rewrite", source=V2, now=NOW)
    session.commit()
    committee_publish(session, chair, source=V1.rstrip("\n") + "\n\nEnd note.\n", base_number=1)
    assert session.get(Amendment, amendment.id).base_number == 2
    assert session.get(Amendment, revision.id).status == "conflicted"


def test_withdrawn_amendment_voids_its_referendum(session, chair, marlow):
    import_roadmap(session)
    amendment = propose_insertions(session, marlow, [(3, "Text.")])
    poll = put_to_vote(session, chair, amendment)
    with pytest.raises(NotAllowed):
        service.withdraw(session=session, actor=chair, amendment=amendment, now=NOW)
    session.rollback()
    session.expire_all()
    service.withdraw(session=session, actor=marlow, amendment=amendment, now=NOW)
    session.commit()
    assert session.get(Poll, poll.id).status == "cancelled"
    assert session.get(Amendment, amendment.id).status == "withdrawn"


def test_topics_are_posted_later_and_retried(app, session, marlow, forum):
    from tests.conftest import forum_adapter

    import_roadmap(session)
    amendment = propose_insertions(session, marlow, [(3, "Text.")])
    service.open_discussion(session=session, actor=marlow, charter=charter.current(session), amendment=amendment,
                            now=NOW)
    session.commit()
    engines = dict(engine=app.extensions["governance.engine"], immediate=app.extensions["governance.engine_immediate"])
    forum.data.force_rate_limit(5, wait_seconds=60)
    assert service.deliver_topics(**engines, forum=forum_adapter(forum), base_url="http://x", category=None,
                                  now=NOW) == (0, 1)
    session.rollback()
    session.expire_all()
    assert session.get(Amendment, amendment.id).topic_error
    forum.data.set_rate_limit(None)
    forum.data.force_rate_limit(0)
    # The retry waits out the outbox's back-off (a minute after the first failure).
    assert service.deliver_topics(**engines, forum=forum_adapter(forum), base_url="http://x", category=None,
                                  now=NOW) == (0, 0)
    assert service.deliver_topics(**engines, forum=forum_adapter(forum), base_url="http://x", category=None,
                                  now=NOW + timedelta(minutes=2)) == (1, 0)
    session.rollback()
    session.expire_all()
    amendment = session.get(Amendment, amendment.id)
    assert amendment.forum_topic_id and not amendment.topic_error
    assert any("Amendment" in t["title"] for t in forum.data.topics_created())
    assert service.topics_wanted(session) == []


# === Command line ===============================================================================


def test_flask_documents_import(app, session, tmp_path):
    runner = app.test_cli_runner()
    path = tmp_path / "roadmap.md"
    path.write_bytes(b"\xef\xbb\xbf" + V1.encode())
    result = runner.invoke(args=["documents", "import", "roadmap", str(path)])
    assert result.exit_code == 0, result.output
    assert f"roadmap: version 1 published (sha256 {sha256_hex(V1)})" in result.output
    again = runner.invoke(args=["documents", "import", "roadmap", str(path)])
    assert again.exit_code == 1 and "already has 1 version" in again.output
    (tmp_path / "bad.md").write_bytes(b"\xff\xfe")
    bad = runner.invoke(args=["documents", "import", "values", str(tmp_path / "bad.md")])
    assert bad.exit_code == 1 and "not valid UTF-8" in bad.output
    empty = runner.invoke(args=["documents", "import", "values", str(tmp_path / "missing.md")])
    assert empty.exit_code == 1 and "cannot read" in empty.output
    session.rollback()
    session.expire_all()
    assert [d.slug for d in service.list_documents(session)] == ["charter", "roadmap"]
    assert runner.invoke(args=["documents", "topics"]).output.startswith("0 topic(s) posted")


@pytest.mark.parametrize("topic_id", ["abc", "", "0", "-3", "99999999999999999999"])
def test_committee_links_a_topic_and_bad_numbers_are_refused(session, chair, marlow, topic_id):
    import_roadmap(session)
    amendment = propose_insertions(session, marlow, [(3, "Text.")])
    current = charter.current(session)
    service.open_discussion(session=session, actor=marlow, charter=current, amendment=amendment, now=NOW)
    session.commit()
    with pytest.raises(InvalidInput):
        service.link_topic(session=session, actor=chair, charter=current, amendment=amendment, topic_id=topic_id,
                           now=NOW)
    session.rollback()
    with pytest.raises(NotAllowed):
        service.link_topic(session=session, actor=marlow, charter=current, amendment=amendment, topic_id="42",
                           now=NOW)
    session.rollback()
    service.link_topic(session=session, actor=chair, charter=current, amendment=session.get(Amendment, amendment.id),
                       topic_id="42", now=NOW)
    session.commit()
    assert session.get(Amendment, amendment.id).forum_topic_id == 42 and service.topics_wanted(session) == []
    assert types(session)[-1] == "amendment.topic_linked"

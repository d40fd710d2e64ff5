"""The operator commands: flask polls tick and flask seed-demo."""

from __future__ import annotations

import pytest
from sqlmodel import select

from governance.models import Outbox, Poll

pytestmark = pytest.mark.trustee_charter  # the demo as shipped: the community's polls decrypted by trustees


def test_seed_demo_fills_an_empty_database_once(forum_app, forum, session):
    runner = forum_app.test_cli_runner()
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "closed election: /polls/" in result.output
    session.rollback()
    polls = {p.title: p for p in session.exec(select(Poll))}
    assert polls["Steering committee election 2026"].status == "published"
    assert len(polls["Steering committee election 2026"].result["elected"]) == 3
    assert polls["Which signing scheme for release artefacts?"].status == "open"
    assert polls["Which signing scheme for release artefacts?"].electorate_size == 7
    assert polls["Name of the next release"].status == "open"
    # The README's ordinary member has not voted in the open community poll, so they can try it.
    from governance.models import Member, Participation

    marlow = session.exec(select(Member).where(Member.username == "marlow_p")).one()
    assert session.exec(select(Participation).where(Participation.poll_id == polls["Name of the next release"].id,
                                                    Participation.member_id == marlow.id)).first() is None
    assert polls["Moderation team election"].status == "nominations"
    # A trustee election, counted by its trustees' mixes and decryptions; a platform-key SIG decision.
    assert polls["Steering committee election 2026"].key_mode == "trustees"
    assert polls["Which signing scheme for release artefacts?"].key_mode == "platform"
    assert polls["Name of the next release"].key_mode == "trustees"
    from pathlib import Path

    states = sorted(Path(forum_app.instance_path, "demo-trustees").glob("poll-*/*/state.json"))
    assert len(states) == 6 and all(oct(p.stat().st_mode)[-3:] == "600" for p in states)
    assert "roadmap amendment: /documents/roadmap/amendments/" in result.output
    from governance.audit import log

    times = [entry.created_at for entry in log.entries(session)]
    assert times == sorted(times)  # the demo's story is told in time order
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0 and "nothing changed" in again.output
    assert len(session.exec(select(Poll)).all()) == 4


def test_tick_delivers_announcements_and_results_to_the_forum(forum_app, forum, session):
    runner = forum_app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    result = runner.invoke(args=["polls", "tick"])
    assert result.exit_code == 0, result.output
    assert "forum posts delivered" in result.output
    titles = [t["title"] for t in forum.data.topics_created()]
    assert "Poll open: Which signing scheme for release artefacts?" in titles
    session.rollback()
    pending = session.exec(select(Outbox).where(Outbox.done_at.is_(None))).all()
    assert pending == []
    replies = [p for p in forum.data.posts_created() if "Results of" in p.get("raw", "")]
    assert replies and "root_hash" in replies[0]["raw"]
    # The roadmap's publication made a signed head, posted as its own topic.
    assert "Audit log head: roadmap version 1 published" in titles
    # The demo amendment's discussion topic went out too.
    assert any("Say how documentation is kept current" in t for t in titles)


def test_tick_retries_when_the_forum_is_down(forum_app, forum, session):
    runner = forum_app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    forum.data.force_rate_limit(100, wait_seconds=120)
    result = runner.invoke(args=["polls", "tick"])
    assert result.exit_code == 0 and "failed" in result.output
    session.rollback()
    waiting = session.exec(select(Outbox).where(Outbox.done_at.is_(None))).all()
    topics = [job for job in waiting if job.kind == "topic"]
    assert topics and all(job.attempts >= 1 and "slow down" in job.last_error for job in topics)
    # The results reply waits for its announcement topic; it is not lost.
    assert any(job.kind == "results" for job in waiting)
    forum.data.force_rate_limit(0)

"""The seeded community: deterministic, varied, and with the special cases tests rely on."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from governance.forum_standin.seed import seed_forum
from governance.forum_standin.store import ForumData

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PACKAGE = Path(__file__).resolve().parents[2] / "governance" / "forum_standin"


def snapshot(data: ForumData):
    """Everything about the seed that should not change between runs."""
    users = [
        (
            u.id,
            u.username,
            u.name,
            u.created_at,
            u.trust_level,
            u.admin,
            u.moderator,
            u.staged,
            u.last_seen_at,
        )
        for u in data.users.values()
    ]
    groups = [
        (g.id, g.name, sorted((m.user_id, m.added_at, m.owner) for m in g.members.values()))
        for g in data.groups.values()
    ]
    topics = [
        (t.id, t.title, t.category_id, [data.posts[p].raw for p in t.post_ids]) for t in data.topics.values()
    ]
    return users, groups, topics


def test_seed_is_deterministic():
    assert snapshot(seed_forum(now=NOW)) == snapshot(seed_forum(now=NOW))


def test_only_the_newest_accounts_follow_the_clock():
    later = NOW + timedelta(days=30)
    a, b = seed_forum(now=NOW), seed_forum(now=later)
    moved = {u.username for u in a.users.values() if u.created_at != b.user(u.username).created_at}
    assert moved == {"fresh_sprout", "justjoined"}
    assert a.user("fresh_sprout").created_at == NOW - timedelta(days=1)


def test_community_shape():
    data = seed_forum(now=NOW)
    humans = [u for u in data.users.values() if u.human]
    assert 55 <= len(humans) <= 65
    assert {u.trust_level for u in humans} == {0, 1, 2, 3, 4}
    years = {u.created_at.year for u in humans}
    assert min(years) == 2015 and max(years) == 2026 and len(years) >= 10
    assert [u.username for u in humans if u.admin] == ["tamsin_ward"]
    assert {u.username for u in humans if u.moderator} == {"halvard", "quillon"}
    assert len({u.username.lower() for u in data.users.values()}) == len(data.users)


def test_bots_have_discourses_ids():
    data = seed_forum(now=NOW)
    assert data.user("system").id == -1 and data.user("system").admin
    assert data.user("discobot").id == -2


def test_special_accounts():
    data = seed_forum(now=NOW)
    assert data.user("grumbleweed").suspended
    assert data.user("shoutcaps").silenced and not data.user("shoutcaps").suspended
    assert data.user("mailbox_guest").staged
    assert not data.user("pending_pip").active
    assert NOW - data.user("justjoined").created_at < timedelta(days=1)


def test_groups():
    data = seed_forum(now=NOW)
    committee = data.find_group("steering-committee")
    assert 5 <= len(committee.members) <= 7
    for name in ("sig-security", "sig-documentation", "sig-infrastructure", "sig-release"):
        group = data.find_group(name)
        owners = [m for m in group.members.values() if m.owner]
        assert owners and len(group.members) > len(owners)
        for membership in group.members.values():
            assert membership.added_at >= data.users[membership.user_id].created_at
    assert data.group_names_of(data.user("marlow_p")) == ["trust_level_0", "trust_level_1", "trust_level_2"]


def test_categories_and_topics():
    data = seed_forum(now=NOW)
    assert {c.name for c in data.categories.values()} >= {"Announcements", "Governance"}
    assert data.categories[1].name == "Uncategorized"
    welcome = data.topics[data.welcome_topic_id]
    assert welcome.pinned and data.users[welcome.user_id].username == "system"
    demo = [t for t in data.topics.values() if "Auxolotl wiki" in data.posts[t.post_ids[0]].raw]
    assert len(demo) == 2
    assert data.topics_created() == data.posts_created() == data.messages_sent() == []


FORBIDDEN = ("governance.factory", "governance.web", "governance.models", "governance.db")


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_forum_standin_is_independent_of_the_platform(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    names += [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level
    ]
    assert not [n for n in names if n.startswith(FORBIDDEN)]
    assert not [
        n for n in names if n.startswith("governance") and not n.startswith("governance.forum_standin")
    ]

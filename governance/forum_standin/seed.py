"""A made-up community to fill the stand-in forum: about sixty members, groups, categories, topics.

Boundary rule: builds a `ForumData` and nothing else. Every username and name here is
invented. Dates are fixed, except two accounts made "yesterday" and "three hours ago"
relative to `now`, so newcomers can see how the platform treats brand-new accounts.

Members worth knowing in tests (see docs/forum-standin.md for the full list):

==================  ==========================================================
``tamsin_ward``     admin, TL4, chairs ``steering-committee``
``halvard``         moderator, TL4, on the steering committee
``ysolde_k``        TL3, steering committee, ``sig-security`` member
``vexillum``        TL3, owner of ``sig-security``
``inkwell``         TL3, owner of ``sig-documentation``
``rackham``         TL2, owner of ``sig-infrastructure``
``cadence``         TL3, owner of ``sig-release``
``marlow_p``        TL2, ordinary member since 2018, in no custom group
``fresh_sprout``    TL0, created yesterday
``justjoined``      TL0, created three hours ago
``grumbleweed``     TL1, suspended until 2027-09-01
``shoutcaps``       TL1, silenced until 2027-01-15
``mailbox_guest``   staged account (emailed in, never signed up)
``pending_pip``     registered but never activated
``system``, ``discobot``  Discourse's bots, ids -1 and -2
==================  ==========================================================
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources

from .store import ForumData, Membership, utcnow


def _at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


# username, display name, created (YYYY-MM-DD), trust level, last seen (YYYY-MM-DD)
_MEMBERS = """
tamsin_ward     Tamsin Ward          2015-03-02 4 2026-11-22
halvard         Halvard Ness         2015-06-18 4 2026-11-21
quillon         Quillon Ashby        2016-01-09 4 2026-11-19
ysolde_k        Ysolde Kerrigan      2016-04-23 3 2026-11-22
bartek_m        Bartek Mroz          2016-09-30 3 2026-11-20
nadira_s        Nadira Selim         2017-02-14 3 2026-11-18
ferdinand_o     Ferdinand Oyelaran   2017-08-05 3 2026-11-15
vexillum        Vexi Lund            2017-11-11 3 2026-11-22
inkwell         Ines Kowal           2018-01-27 3 2026-11-21
rackham         Rafe Ackerley        2018-05-16 2 2026-11-17
cadence         Cade Nwosu           2018-07-02 3 2026-11-22
marlow_p        Marlow Pike          2018-10-19 2 2026-11-10
cipher_wren     Wren Castellanos     2019-01-08 2 2026-11-14
grumbleweed     Gus Rumbold          2019-04-11 1 2026-08-30
lockpick_lu     Lu Okafor            2019-06-21 2 2026-11-02
nullroute       Nils Haugen          2019-09-03 2 2026-10-28
tessellate      Tess Varga           2019-12-12 2 2026-11-20
oakmoss         Odile Makinen        2020-02-29 1 2026-09-17
pebble_dash     Pedro Basanta        2020-05-05 2 2026-11-11
saltmarsh       Sal Teixeira         2020-08-18 1 2026-06-04
kestrel_j       Jo Kestrel           2020-11-30 2 2026-11-21
umbra           Uma Brennan          2021-03-14 2 2026-11-19
shoutcaps       Shaun Cappel         2021-07-20 1 2026-10-09
driftwood       Dree Fitzwilliam     2021-10-01 1 2026-04-22
fennel_q        Quinn Fennell        2022-01-17 2 2026-11-16
larkspur        Lark Spurrier        2022-03-08 2 2026-11-12
mothwing        Moth Wingate         2022-06-25 1 2026-10-30
ortolan         Orla Tolan           2022-09-09 2 2026-11-18
brackenridge    Brack Enright        2022-12-01 1 2026-07-07
gossamer        Gosia Marek          2023-02-20 2 2026-11-20
hollowreed      Holly Reedman        2023-04-04 1 2026-11-01
juniper_v       Juniper Vale         2023-06-13 2 2026-11-22
quarrystone     Quarry Stone         2023-08-29 1 2026-09-25
ravelin         Ravi Lindqvist       2023-11-05 2 2026-11-17
sorrel_t        Sorrel Thorne        2024-01-22 1 2026-11-08
tidewater       Tide Waters          2024-03-03 2 2026-11-21
underhill_b     Bea Underhill        2024-04-30 1 2026-11-13
vervain         Vera Vainio          2024-05-12 1 2026-10-20
wicklow         Wick Lowry           2024-06-01 2 2026-11-19
yarrow_z        Zed Yarrow           2024-07-19 1 2026-11-05
zephyrine       Zephyrine Adebayo    2024-09-10 1 2026-11-22
alderfly        Al Derfield          2024-11-25 1 2026-10-31
bramblecote     Bram Blecote         2025-01-14 1 2026-11-15
candlewick      Candice Wickham      2025-03-27 1 2026-11-09
dunlin          Dun Linnell          2025-05-08 0 2026-07-01
emberly         Emberly Ashdown      2025-07-16 1 2026-11-20
foxglove_r      Rosa Foxley          2025-09-02 1 2026-11-18
greylag         Grey Laghari         2025-10-21 0 2026-10-22
heronsgate      Hero Sgate           2025-12-30 1 2026-11-21
ibis_m          Ibis Moreau          2026-02-11 1 2026-11-19
jackdaw         Jack Dawe            2026-04-05 0 2026-11-01
kittiwake       Kit Wakefield        2026-06-17 1 2026-11-20
lapwing_s       Lapwing Soto         2026-08-08 0 2026-11-16
merganser       Meg Anser            2026-10-12 0 2026-11-21
nightjar        Nye Jarman           2026-11-02 0 2026-11-22
mailbox_guest   -                    2024-02-02 0 -
pending_pip     Pip Pending          2026-11-10 0 -
"""

# group name, full name, bio, [(username, added on, owner)]
_GROUPS = [
    (
        "steering-committee",
        "Steering Committee",
        "Sets the project's direction and oversees committees and SIGs.",
        [
            ("tamsin_ward", "2016-02-01", True),
            ("halvard", "2016-02-01", False),
            ("ysolde_k", "2019-05-10", False),
            ("bartek_m", "2021-01-15", False),
            ("nadira_s", "2023-06-01", False),
            ("ferdinand_o", "2024-06-01", False),
        ],
    ),
    (
        "sig-security",
        "SIG Security",
        "Security reviews, advisories and hardening.",
        [
            ("vexillum", "2018-03-01", True),
            ("ysolde_k", "2018-03-01", False),
            ("cipher_wren", "2019-02-10", False),
            ("lockpick_lu", "2019-07-01", False),
            ("nullroute", "2020-01-20", False),
            ("umbra", "2022-04-04", False),
            ("ravelin", "2024-02-14", False),
        ],
    ),
    (
        "sig-documentation",
        "SIG Documentation",
        "The handbook, the wiki and every how-to.",
        [
            ("inkwell", "2018-02-15", True),
            ("tessellate", "2020-01-10", True),
            ("larkspur", "2022-04-01", False),
            ("gossamer", "2023-03-15", False),
            ("juniper_v", "2023-07-01", False),
            ("sorrel_t", "2024-02-20", False),
            ("vervain", "2024-06-10", False),
            ("candlewick", "2025-04-15", False),
            ("foxglove_r", "2025-10-01", False),
            ("kittiwake", "2026-07-20", False),
        ],
    ),
    (
        "sig-infrastructure",
        "SIG Infrastructure",
        "Build farm, mirrors, CI and the forum itself.",
        [
            ("rackham", "2018-06-01", True),
            ("nullroute", "2019-10-01", False),
            ("pebble_dash", "2020-06-01", False),
            ("kestrel_j", "2021-01-05", False),
            ("tidewater", "2024-04-01", False),
            ("wicklow", "2024-07-01", False),
            ("emberly", "2025-08-01", False),
        ],
    ),
    (
        "sig-release",
        "SIG Release",
        "Release schedule, branching and release notes.",
        [
            ("cadence", "2018-08-01", True),
            ("quillon", "2018-08-01", False),
            ("fennel_q", "2022-02-01", False),
            ("ortolan", "2022-10-01", False),
            ("ibis_m", "2026-03-01", False),
        ],
    ),
]

_CATEGORIES = [
    ("Uncategorized", "Topics that need no category, or do not fit any other.", False),
    ("Announcements", "News from the steering committee and staff.", False),
    ("Governance", "Proposals, roadmap changes, elections and how we decide.", False),
    ("General", "Everything else about the project.", False),
    ("Staff", "Private category for staff.", True),
]

WELCOME = """Welcome to the community forum!

This forum is where the project talks, plans and decides. Read the Announcements category for
news, and the Governance category for proposals, roadmap changes and elections.

Please be kind, stay on topic, and assume good faith."""

ELECTION = """The steering committee's term ends in January, so it is time to elect a new one.

Nominations are open until 1 December. Any member with an account older than the poll may
vote; members of trust level 1 and above may stand. The vote will use ranked choice and the
full ballot record will be published (without names) when it closes."""


def _demo_text(name: str) -> str:
    text = resources.files("governance.forum_standin").joinpath("data", name).read_text(encoding="utf-8")
    return text.strip() + (
        f"\n\n_(Demo content: text of `{name.removeprefix('wiki-')}` from the Auxolotl wiki, MIT licence; "
        "see the stand-in forum's data/NOTES.md.)_"
    )


def seed_forum(*, now: datetime | None = None) -> ForumData:
    """Build the seeded community; `now` anchors the two brand-new accounts (default: the clock)."""
    now = now or utcnow()
    data = ForumData()
    start = _at("2015-03-01", 9)
    data.add_user(
        "system",
        name="system",
        email="no_email@example.org",
        created_at=start,
        trust_level=4,
        admin=True,
        moderator=True,
        user_id=-1,
        last_seen_at=start,
    )
    data.add_user(
        "discobot",
        name="discobot",
        email="discobot_email@example.org",
        created_at=start,
        trust_level=4,
        user_id=-2,
    )
    for line in _MEMBERS.strip().splitlines():
        username, rest = line.split(None, 1)
        *name_parts, created, tl, seen = rest.split()
        name = " ".join(name_parts)
        data.add_user(
            username,
            name=None if name == "-" else name,
            created_at=_at(created, 10),
            trust_level=int(tl),
            last_seen_at=None if seen == "-" else _at(seen, 18),
            days_visited=0 if seen == "-" else 10 + (hash_of(username) % 900),
            time_read=0 if seen == "-" else 600 * (1 + hash_of(username) % 500),
            timezone=("Europe/Berlin", "America/Toronto", "Asia/Tokyo", "UTC", "Africa/Lagos")[
                hash_of(username) % 5
            ],
        )
    data.user("tamsin_ward").admin = True
    data.user("tamsin_ward").title = "Steering committee chair"
    data.user("halvard").moderator = True
    data.user("quillon").moderator = True
    guest = data.user("mailbox_guest")
    guest.staged = True
    guest.email = "guest@example.net"
    data.user("pending_pip").active = False
    data.suspend("grumbleweed", until=_at("2027-09-01", 0), reason="Repeated personal attacks after warnings")
    data.user("grumbleweed").suspended_at = _at("2026-09-01", 9)
    data.silence("shoutcaps", until=_at("2027-01-15", 0), reason="Flooding threads with all-caps posts")
    data.add_user(
        "fresh_sprout",
        name="Fresh Sprout",
        created_at=now - timedelta(days=1),
        trust_level=0,
        last_seen_at=now - timedelta(hours=20),
    )
    data.add_user(
        "justjoined",
        name="Just Joined",
        created_at=now - timedelta(hours=3),
        trust_level=0,
        last_seen_at=now - timedelta(hours=2),
    )

    for name, full_name, bio, members in _GROUPS:
        data.create_group(name, full_name=full_name, bio=bio)
        for username, added, owner in members:
            data.add_to_group(name, username, owner=owner, added_at=_at(added, 11))

    for name, description, restricted in _CATEGORIES:
        data.add_category(name, description=description, read_restricted=restricted)

    _seed_topics(data)
    return data


def hash_of(text: str) -> int:
    """A small stable number from a string (Python's hash() changes between runs)."""
    return sum((i + 1) * ord(c) for i, c in enumerate(text))


def _seed_topics(data: ForumData) -> None:
    def user(name):
        """Shorthand for looking a seeded member up."""
        return data.user(name)

    welcome = data.create_topic(
        author=user("system"),
        title="Welcome to the community forum",
        raw=WELCOME,
        category_id=2,
        created_at=_at("2015-03-02", 9),
    )
    data.topics[welcome.topic_id].pinned = True
    data.welcome_topic_id = welcome.topic_id

    community = data.create_topic(
        author=user("inkwell"),
        title="SIGs and committees: what is the difference?",
        raw=_demo_text("wiki-community.md"),
        category_id=3,
        created_at=_at("2024-05-16", 22),
    )
    data.create_post(
        author=user("larkspur"),
        topic_id=community.topic_id,
        raw="Thanks, this clears up where documentation questions should go.",
        created_at=_at("2024-05-17", 8),
    )

    vision = data.create_topic(
        author=user("ysolde_k"),
        title="Our vision and what a minimum viable product means",
        raw=_demo_text("wiki-vision.md"),
        category_id=3,
        created_at=_at("2024-05-28", 22),
    )
    data.create_post(
        author=user("marlow_p"),
        topic_id=vision.topic_id,
        raw="Could the vision be amended later, or is it fixed once the roadmap is agreed?",
        created_at=_at("2024-05-29", 9),
    )
    data.create_post(
        author=user("tamsin_ward"),
        topic_id=vision.topic_id,
        reply_to_post_number=2,
        raw="It can change, but only through a proposal that the community votes on.",
        created_at=_at("2024-05-29", 14),
    )

    data.create_topic(
        author=user("tamsin_ward"),
        title="Steering committee election: call for candidates",
        raw=ELECTION,
        category_id=2,
        created_at=_at("2026-11-02", 15),
    )
    data.create_topic(
        author=user("rackham"),
        title="Mirror maintenance window this weekend",
        raw="The package mirrors will be read-only on Saturday from 08:00 to 12:00 UTC.",
        category_id=4,
        created_at=_at("2026-11-12", 16),
    )


# === a community of realistic size ===============================================================

_FIRST = ("amber ash birch brook cedar clover coral dawn ember fern finch flint frost glade hazel "
          "heath holly iris ivy juniper kestrel lark linden maple marsh meadow moss oak onyx otter "
          "pine plover quartz rain reed robin rowan sage sedge slate sorrel sparrow thorn tide "
          "umber vale willow wren yew zinc").split()
_SECOND = ("fox hart wolf hawk owl crane heron pike trout vole badger stoat moth bee ant lynx "
           "seal swift kite rook crow gull tern wren dove jay").split()

#: Extra members of the seeded groups, and one big group, in the large community.
_LARGE_GROUPS = {"sig-security": 300, "sig-documentation": 800, "sig-infrastructure": 500,
                 "sig-release": 400, "contributors": 6000}


def seed_large(accounts: int = 30_000, *, now: datetime | None = None, seed: int = 14) -> ForumData:
    """The seeded community grown to ``accounts`` members (the named ones included), in seconds.

    Generated accounts are spread from 2015 to yesterday with more of them recent, as forums
    grow; about 30% are trust level 0, 40% TL1, 20% TL2, 9% TL3 and under 1% TL4; 0.4% are
    suspended (a third of those suspensions have run out), 0.3% silenced, 2% staged and 1.5%
    never activated. Group ``contributors`` and the SIGs get thousands of members. The same
    ``seed`` gives the same forum (except the accounts anchored on ``now``).
    """
    import random

    from .store import User

    now = now or utcnow()
    data = seed_forum(now=now)
    rng = random.Random(seed)
    start = _at("2015-03-01", 9)
    span = (now - timedelta(days=1) - start).total_seconds()
    levels = (0,) * 30 + (1,) * 40 + (2,) * 20 + (3,) * 9 + (4,)
    zones = ("Europe/Berlin", "America/Toronto", "Asia/Tokyo", "UTC", "Africa/Lagos", "America/Sao_Paulo")
    generated: list[User] = []
    with data.lock:
        next_id = data._next_user_id
        for n in range(max(0, accounts - len([u for u in data.users.values() if u.human]))):
            username = f"{rng.choice(_FIRST)}_{rng.choice(_SECOND)}{n}"
            created = start + timedelta(seconds=span * rng.random() ** 0.6)
            level = rng.choice(levels)
            age_days = (now - created).days
            if age_days < 30:
                level = min(level, 1)
            seen = created + timedelta(seconds=(now - created).total_seconds() * rng.random())
            user = User(
                id=next_id, username=username, name=username.replace("_", " ").title(),
                email=f"{username}@example.org", created_at=created, trust_level=level,
                timezone=rng.choice(zones), last_seen_at=seen,
                days_visited=rng.randint(1, max(1, min(age_days, 2000))),
                time_read=rng.randint(60, 600_000),
            )
            roll = rng.random()
            if roll < 0.004:
                user.suspended_at = created + (now - created) / 2
                ends = rng.choice((now + timedelta(days=365), now + timedelta(days=30), now - timedelta(days=3)))
                user.suspended_till, user.suspend_reason = ends, "Repeated rule breaking"
            elif roll < 0.007:
                user.silenced_till, user.silence_reason = now + timedelta(days=60), "Posting spam links"
            elif roll < 0.027:
                user.staged, user.trust_level, user.name, user.last_seen_at = True, 0, None, None
            elif roll < 0.042:
                user.active, user.trust_level, user.last_seen_at = False, 0, None
            data.users[next_id] = user
            data._by_name[username.lower()] = next_id
            generated.append(user)
            next_id += 1
        data._next_user_id = next_id
        if data.find_group("contributors") is None:
            data.create_group("contributors", full_name="Contributors",
                              bio="Everyone who has landed a change in the project.")
        eligible = [u for u in generated if u.active and not u.staged]
        for name, size in _LARGE_GROUPS.items():
            group = data.find_group(name)
            for user in rng.sample(eligible, min(size, len(eligible))):
                if user.id not in group.members:
                    added = user.created_at + (now - user.created_at) * rng.random()
                    group.members[user.id] = Membership(user_id=user.id, added_at=added)
        data._changed()
    return data

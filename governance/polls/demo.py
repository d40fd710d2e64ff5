"""The demo community's governance, for newcomers: every kind of poll in every state at once.

Boundary rule: orchestration over the services (each step commits, as a request would). Members
come from the forum through the real API adapter, exactly as logins and ``flask forum sync`` do;
with no forum running, the stand-in's seeded community is served in-process for the seeding.

Everything in the past is created through the services at the time it would have happened (the
services take ``now``), so the audit log tells a consistent story.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from ..errors import GovernanceError
from ..identity import service as identity
from ..identity.eligibility import Rule, check
from ..identity.forum import Forum, evidence_from_admin
from ..models import Member, Poll
from ..proposals import blocks
from ..proposals import service as documents
from . import charter, clock, nominations, service, voting
from .service import PollInput

DEMO_SEED = 2024  # the demo's ballots are random, but the same every time

STEERING_CANDIDATES = ["halvard", "ysolde_k", "vexillum", "inkwell", "cadence", "rackham", "marlow_p"]
#: The community's polls are decrypted by three trustees from the committee (the charter's default).
DEMO_TRUSTEES = ["halvard", "ysolde_k", "bartek_m"]


class AlreadySeeded(RuntimeError):
    """The database already holds polls; the demo only fills an empty one."""


@contextmanager
def demo_forum(config: Any) -> Iterator[Forum]:
    """The configured forum if it answers, else the stand-in's seeded community, in-process."""
    forum = Forum.from_config(config, max_wait=5.0)
    try:
        forum.groups()
        reachable = True
    except GovernanceError:  # no forum there: serve the stand-in for the seeding
        reachable = False
    if reachable:
        yield forum
        return
    from ..forum_standin.testing import running_forum

    with running_forum(api_key=config["DISCOURSE_API_KEY"], sso_secret=config["DISCOURSE_CONNECT_SECRET"]) as running:
        yield Forum(url=running.url, api_key=running.api_key, api_username=running.api_username, max_wait=5.0)


def _members(session: Session, forum: Forum) -> dict[str, Member]:
    """Create a member for every account the forum lists (as logins would), by username."""
    members: dict[str, Member] = {}
    seen: set[int] = set()
    for flag in ("active", "suspended", "new", "staff"):
        page = 0
        while True:
            users = forum.client.list_users(flag, page=page, order="created", asc="true")
            fresh = [u for u in users if u["id"] > 0 and u["id"] not in seen]
            for user in fresh:
                seen.add(user["id"])
                raw = forum.user_detail(user["id"])
                member = identity.upsert_member(session=session, evidence=evidence_from_admin(raw), raw=raw)
                members[member.username] = member
            if len(users) < 100:
                break
            page += 1
    session.commit()
    return members


def _ranking(rng: random.Random, labels: list[str], favourites: list[str]) -> list[list[str]]:
    """A plausible ballot: favourites are likelier near the top; some ballots are truncated."""
    weights = {label: (1.8 if label in favourites else 1.0) * rng.random() for label in labels}
    order = sorted(labels, key=lambda label: -weights[label])
    keep = rng.randint(1, len(order))
    return [[label] for label in order[:keep]]


def _ceremony(session: Session, poll: Poll, members: dict[str, Member], now: datetime,
              folder: Path | None) -> dict[str, dict]:
    """Play the demo trustees' key ceremony, as each would with ``governance-trustee`` on their machine.

    Their private state files are written under ``folder`` (one per trustee and poll), so whoever runs
    the demo can act as those trustees with the command; the platform keeps none of it.
    """
    import json

    from .. import crypto
    from . import trustees

    setup = poll.ceremony["setup"]
    states: dict[str, dict] = {}
    for index, name in enumerate(DEMO_TRUSTEES, start=1):
        certificate, states[name] = crypto.ceremony_init(setup, index)
        trustees.upload_ceremony(session=session, poll=poll, member=members[name], message=certificate, now=now)
    certificates = trustees.transcript(session, poll)["certificates"]
    for name in DEMO_TRUSTEES:
        message, states[name] = crypto.ceremony_share(setup, states[name], certificates)
        trustees.upload_ceremony(session=session, poll=poll, member=members[name], message=message, now=now)
    shares = trustees.transcript(session, poll)["shares"]
    for name in DEMO_TRUSTEES:
        message, states[name] = crypto.ceremony_finish(setup, states[name], certificates, shares)
        trustees.upload_ceremony(session=session, poll=poll, member=members[name], message=message, now=now)
    session.commit()
    if folder is not None:
        for name, state in states.items():
            path = folder / f"poll-{poll.id}" / name / "state.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(json.dumps(state, indent=1))
            (path.parent / "setup.json").write_text(json.dumps(setup, indent=1))
    return states


def _trustees_count(session: Session, poll: Poll, members: dict[str, Member], states: dict[str, dict],
                    now: datetime, run_clock) -> None:
    """After the close: each demo trustee mixes, two decrypt (as their command would), the clock counts."""
    from .. import crypto
    from . import counting, trustees

    session.expire_all()
    poll = session.get(Poll, poll.id)
    params = counting.params_of(poll)
    for index, name in enumerate(DEMO_TRUSTEES, start=1):
        source = crypto.unpack(counting.current_input(session, poll), params.width)
        output, proof = crypto.shuffle(params, source, mixer=index)
        trustees.upload_mix(session=session, poll=poll, member=members[name], mix={"mixer": index, "proof": proof},
                            output=crypto.pack(output), now=now)
        session.commit()
        run_clock(now)
        session.expire_all()
        poll = session.get(Poll, poll.id)
    final = crypto.unpack(counting.mixes(session, poll)[-1].output, params.width)
    for index, name in enumerate(DEMO_TRUSTEES[:2], start=1):
        factors, proof = crypto.decryption_factors(params, states[name]["secret_share"], index, final)
        trustees.upload_share(session=session, poll=poll, member=members[name], proof=proof,
                              factors=crypto.pack_factors(factors), now=now)
        session.commit()
    run_clock(now)


def seed(*, engine: Engine, immediate: Engine, forum: Forum, secret: str, now: datetime | None = None,
         trustee_folder: Path | None = None) -> dict[str, int]:
    """Fill an empty database with the demo's polls; return their ids by role.

    The community's polls are decrypted by trustees (``DEMO_TRUSTEES``): the seeding plays their
    key ceremony and, for the closed election, their mixes and decryptions; their private state
    files go to ``trustee_folder`` so the demo's user can go on as them with ``governance-trustee``.
    """

    def run_clock(at: datetime) -> None:
        clock.run_due(engine=engine, immediate=immediate, forum=forum, now=at, secret=secret)

    def cast(poll: Poll, member: Member, ranking: list[list[str]], at: datetime) -> None:
        voting.cast_ranking(session=session, poll_id=poll.id, member=member, ranking=ranking, now=at, secret=secret)
        session.commit()

    now = (now or datetime.now(UTC)).replace(microsecond=0)
    rng = random.Random(DEMO_SEED)
    with Session(immediate, expire_on_commit=False) as session:
        if session.exec(select(Poll)).first() is not None:
            raise AlreadySeeded("the database already has polls; the demo fills only an empty one")
        members = _members(session, forum)
        current = charter.current(session, now=now - timedelta(days=42))  # in force before the story begins
        session.commit()
        chair = members["tamsin_ward"]
        opened = t0 = now - timedelta(days=40)
        voters = [m for m in members.values()
                  if check(Rule(min_trust_level=1), identity.member_evidence(m), opens_at=opened + timedelta(days=8)).ok]
        ids: dict[str, int] = {}

        # 0. The roadmap as the community adopted it, before anything else happened.
        roadmap = (Path(__file__).resolve().parent.parent / "proposals" / "demo" / "roadmap.md").read_text()
        documents.import_document(session=session, charter=current, slug="roadmap", source=roadmap,
                                  now=t0 - timedelta(days=1), note="the roadmap as the community adopted it",
                                  title="Roadmap")
        session.commit()

        # 1. A closed steering-committee election with published results.
        election = service.create(session=session, actor=chair, charter=current, now=t0, data=PollInput(
            body="community", kind="election", method="meek", seats=3, title="Steering committee election 2026",
            description="Three seats on the steering committee. Candidates elected first serve two years; "
                        "the others one year.",
            nominations_open_at=t0 + timedelta(hours=1), nominations_close_at=t0 + timedelta(days=7),
            opens_at=t0 + timedelta(days=8), closes_at=t0 + timedelta(days=15), trustees=DEMO_TRUSTEES))
        service.schedule(session=session, actor=chair, charter=current, poll=election, now=t0)
        session.commit()
        election_states = _ceremony(session, election, members, t0 + timedelta(hours=2), trustee_folder)
        for name in STEERING_CANDIDATES:
            candidate = members[name]
            nominations.nominate(session=session, actor=candidate, poll=election, nominee=candidate,
                             statement=f"I am {candidate.name or name}, and I would like to serve the community "
                                       "on the steering committee.",
                             conflicts="None." if name != "rackham" else "I work for a hosting sponsor.",
                             now=t0 + timedelta(days=1))
        session.commit()
        run_clock(t0 + timedelta(days=8))
        session.expire_all()
        election = session.get(Poll, election.id)
        labels = [o.label for o in service.options(session, election)]
        for i, voter in enumerate(voters[:45]):
            ranking = _ranking(rng, labels, ["ysolde_k", "inkwell", "halvard"])
            cast(election, voter, ranking, t0 + timedelta(days=8, hours=1 + i))
        run_clock(t0 + timedelta(days=15))  # the close; then the trustees mix and decrypt
        _trustees_count(session, election, members, election_states, t0 + timedelta(days=15, hours=2), run_clock)
        ids["closed_election"] = election.id

        # 2. An open SIG decision (electorate frozen from the forum's group list); the committee
        # manages SIG polls next to the SIG's chairs (sig-security-chairs), a group the demo forum has not.
        vex = chair
        t1 = now - timedelta(days=2)
        sig = service.create(session=session, actor=vex, charter=current, now=t1, data=PollInput(
            body="sig-security", kind="decision", method="schulze",
            title="Which signing scheme for release artefacts?",
            description="The SIG picks one scheme for signing release artefacts from the next release on.",
            options=["Sigstore keyless signing", "GPG detached signatures", "minisign", "SSH signatures"],
            opens_at=t1 + timedelta(hours=1), closes_at=now + timedelta(days=5)))
        service.schedule(session=session, actor=vex, charter=current, poll=sig, now=t1)
        session.commit()
        run_clock(t1 + timedelta(hours=1))
        session.expire_all()
        sig = session.get(Poll, sig.id)
        sig_labels = [o.label for o in service.options(session, sig)]
        for i, name in enumerate(["vexillum", "cipher_wren", "lockpick_lu"]):
            cast(sig, members[name], _ranking(rng, sig_labels, ["minisign"]), t1 + timedelta(hours=2 + i))
        ids["open_sig_decision"] = sig.id

        # 3. An open community poll (instant-runoff, with a few ballots in).
        t2 = t1 + timedelta(hours=5)  # after the SIG's first ballots, so the log reads in time order
        community = service.create(session=session, actor=chair, charter=current, now=t2, data=PollInput(
            body="community", kind="decision", method="irv", title="Name of the next release",
            description="Suggestions came from the forum thread; the three most liked are on the ballot.",
            options=["Axolotl", "Basilisk", "Cassowary"], default_option=False,
            opens_at=t2 + timedelta(hours=1), closes_at=now + timedelta(days=6), trustees=DEMO_TRUSTEES))
        service.schedule(session=session, actor=chair, charter=current, poll=community, now=t2)
        session.commit()
        _ceremony(session, community, members, t2 + timedelta(minutes=30), trustee_folder)
        run_clock(t2 + timedelta(hours=1))
        session.expire_all()
        community = session.get(Poll, community.id)
        # marlow_p, the README's ordinary member, is left to vote in it (the SIG poll is not theirs).
        for i, voter in enumerate([v for v in voters if v.username != "marlow_p"][5:17]):
            cast(community, voter, _ranking(rng, ["Axolotl", "Basilisk", "Cassowary"], ["Axolotl"]),
                 t2 + timedelta(hours=2 + i))
        ids["open_community_poll"] = community.id

        # 4. A scheduled election taking nominations now.
        upcoming = service.create(session=session, actor=chair, charter=current, now=now - timedelta(hours=2),
                                  data=PollInput(
            body="community", kind="election", method="scottish", seats=2, title="Moderation team election",
            description="Two moderators for the forum, counted with Scottish STV.",
            nominations_open_at=now - timedelta(hours=1), nominations_close_at=now + timedelta(days=5),
            opens_at=now + timedelta(days=6), closes_at=now + timedelta(days=13), trustees=DEMO_TRUSTEES))
        service.schedule(session=session, actor=chair, charter=current, poll=upcoming, now=now - timedelta(hours=2))
        session.commit()
        for name in ("quillon", "tessellate"):
            nominations.nominate(session=session, actor=members[name], poll=upcoming, nominee=members[name],
                             statement="Happy to help keep the forum friendly.", conflicts="", now=now)
        session.commit()
        ids["scheduled_election"] = upcoming.id  # its trustees' key ceremony is left to do by hand

        # 5. An amendment to the roadmap that adds detail, open for discussion.
        last_block = len(blocks.parse_blocks(roadmap)) - 1
        amendment = documents.propose(
            session=session, actor=members["inkwell"], charter=current, slug="roadmap", base_number=1,
            title="Say how documentation is kept current",
            rationale="Adds detail only: how the handbook follows each release.",
            insertions=[(last_block, "Each release ships with its handbook updated: the documentation SIG "
                                     "reviews every user-visible change before the release is tagged.")],
            now=now)
        documents.open_discussion(session=session, actor=members["inkwell"], charter=current, amendment=amendment,
                                  now=now)
        session.commit()
        ids["roadmap_amendment"] = amendment.id
        return ids

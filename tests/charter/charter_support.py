"""Helpers for the charter tests: a forum that records what it is told, and the clock's delivery."""

from __future__ import annotations

import copy
from itertools import count

from governance.polls import charter, clock
from governance.polls.charter_schema import DEFAULT_CHARTER

COMMITTEE = "steering-committee"
_topics = count(700)


class RecordingForum:
    """Takes the platform's forum posts and keeps them (the real adapter's method names)."""

    def __init__(self) -> None:
        self.topics: list[dict] = []

    def create_topic(self, *, title, raw, category=None):
        topic = next(_topics)
        self.topics.append({"title": title, "raw": raw, "category": category, "topic_id": topic})
        return {"topic_id": topic, "id": topic}

    def reply(self, *, topic_id, raw):
        return {"id": next(_topics)}

    def private_message(self, *, usernames, title, raw):
        return {"id": next(_topics)}


def deliver(app, now, forum=None) -> RecordingForum:
    """Deliver the outbox as ``flask polls tick`` does; return the forum that took the posts."""
    forum = forum or RecordingForum()
    clock.deliver_outbox(engine=app.extensions["governance.engine"],
                         immediate=app.extensions["governance.engine_immediate"], forum=forum, now=now,
                         base_url="http://localhost", category="governance", limit=100)
    return forum


def doc(data, slug):
    return next(d for d in data["documents"] if d["slug"] == slug)


def body(data, slug):
    return next(b for b in data["bodies"] if b["slug"] == slug)


def with_sig(data, slug="sig-release"):
    """``data`` with one more SIG (detail)."""
    data = copy.deepcopy(data)
    data["bodies"].append(dict(copy.deepcopy(body(DEFAULT_CHARTER, "sig-security")), slug=slug,
                               name="Release SIG", group=slug, managers=[f"{slug}-chairs", COMMITTEE],
                               description="Decisions of the release SIG."))
    return data


def lowered(data):
    """The issue's attack: the roadmap's revision bar lowered and the committee allowed to publish revisions."""
    data = copy.deepcopy(data)
    rule = doc(data, "roadmap")
    rule["revision"] = {"threshold": "1/2", "strict": False, "quorum": 1, "voting_days": 1}
    rule["committee_may_publish"] = ["detail", "revision"]
    return data


def set_charter(session, data, note="test setup"):
    """Put a charter in force directly (the effect, as an adoption would): test arrangement only."""
    row = charter.publish(session=session, actor=None, data=data, note=note)
    session.commit()
    return row


def editor_form(data, **extra) -> dict:
    """The charter editor's fields for ``data``, as a browser would submit them."""
    from governance.polls.charter_schema import normalized
    from governance.polls.methods import KIND_METHODS

    data = normalized(data)
    rules = data["rules"]
    form = {"name": data["name"], "rules-entrenched": "\n".join(rules["entrenched"]),
            "rules-waiting_days": "" if rules["publication"]["waiting_days"] is None
            else str(rules["publication"]["waiting_days"]),
            "rules-discussion-detail": str(rules["discussion_days"]["detail"]),
            "rules-discussion-revision": str(rules["discussion_days"]["revision"]),
            "rules-open_referendum": rules["open_referendum"], "body-count": str(len(data["bodies"]))}
    if rules["publication"]["second_approver"]:
        form["rules-second_approver"] = "on"
    for i, b in enumerate(data["bodies"]):
        p = f"body-{i}"
        form |= {f"{p}-slug": b["slug"], f"{p}-name": b["name"], f"{p}-description": b.get("description", ""),
                 f"{p}-group": b.get("group") or "", f"{p}-managers": ", ".join(b["managers"]),
                 f"{p}-officers": ", ".join(b["officers"]), f"{p}-key_mode": b["key_mode"],
                 f"{p}-certification-days": str(b["certification"]["days"]),
                 f"{p}-exceptions-deadline": str(b["exceptions"]["deadline_days_before_opening"]),
                 f"{p}-reminders": ", ".join(map(str, b["reminders_days_before_close"])),
                 f"{p}-max_seats": "" if b["max_seats_per_affiliation"] is None else str(b["max_seats_per_affiliation"]),
                 f"{p}-min_trust_level": str(b["eligibility"].get("min_trust_level", "")),
                 f"{p}-min_account_age_days": str(b["eligibility"].get("min_account_age_days", ""))}
        for k in KIND_METHODS:
            if k in b["kinds"]:
                form[f"{p}-kind-{k}"] = "on"
        if b["certification"]["required"]:
            form[f"{p}-certification-required"] = "on"
        if b["exceptions"]["allowed"]:
            form[f"{p}-exceptions-allowed"] = "on"
        if b.get("trustees"):
            form |= {f"{p}-trustees-group": b["trustees"]["group"], f"{p}-trustees-count": str(b["trustees"]["count"]),
                     f"{p}-trustees-threshold": str(b["trustees"]["threshold"])}
    for i, d in enumerate(data["documents"]):
        p = f"doc-{i}"
        form |= {f"{p}-slug": d["slug"], f"{p}-title": d["title"], f"{p}-proposers": d["proposers"],
                 f"{p}-voters": d["voters"]}
        for kind in ("detail", "revision"):
            bar = d.get(kind)
            if bar is None:
                form[f"{p}-no_revision"] = "on"
                continue
            form |= {f"{p}-{kind}-threshold": bar["threshold"], f"{p}-{kind}-quorum": str(bar["quorum"]),
                     f"{p}-{kind}-voting_days": str(bar["voting_days"])}
            if bar.get("strict"):
                form[f"{p}-{kind}-strict"] = "on"
        if d.get("entrenched"):
            form[f"{p}-entrenched"] = "on"
        for k in d.get("committee_may_publish") or []:
            form[f"{p}-publish-{k}"] = "on"
    form.update(extra)
    return form

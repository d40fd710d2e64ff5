"""Forum posts the platform owes: poll announcements, result replies, ballot receipts, notices of
direct publications, amendment discussion topics, messages to trustees.

Boundary rule: a service. Jobs are rows in ``outbox`` written in the same transaction as the
event that causes them; delivery happens later (``flask polls tick``, or right after a commit)
and is retried with back-off, so a forum outage never blocks a poll or loses a receipt.
A delivered receipt job is deleted at once: it is the one row that names a voter's tracker.
A ``notice`` job announces a direct publication (``polls.approvals``) before it takes effect; a
``timing`` job replies to a poll's topic when its closing time changed (``polls.timing``). A test
poll's jobs post nothing: they are done at once (a notice counts as told).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from ..audit import log
from ..catalogue import texts
from ..copy import method_phrase, plural
from ..identity.eligibility import Rule
from ..models import Outbox, Poll, TreeHead
from .methods import METHOD_NAMES

MAX_BACKOFF = timedelta(hours=1)
#: An amendment's discussion topic (``payload = {"amendment": id}``), queued by ``proposals.service``.
AMENDMENT_TOPIC = "amendment_topic"


def pending(session: Session, now: datetime, *, poll_id: int | None = None, kind: str | None = None,
            limit: int | None = None, lock: bool = False) -> list[Outbox]:
    """Jobs due for an attempt, oldest first.

    With ``lock`` (claiming) the rows are locked, skipping rows another transaction has locked,
    so two hosts claiming at once on PostgreSQL never get the same job (SQLite's single writer
    already serialises claims).
    """
    query = select(Outbox).where(Outbox.done_at.is_(None), Outbox.next_attempt_at <= now)
    if poll_id is not None:
        query = query.where(Outbox.poll_id == poll_id)
    if kind is not None:
        query = query.where(Outbox.kind == kind)
    query = query.order_by(Outbox.id)
    if limit is not None:
        query = query.limit(limit)
    if lock:
        query = query.with_for_update(skip_locked=True)
    return list(session.exec(query).all())


def _poll_url(base_url: str, poll: Poll) -> str:
    return f"{base_url.rstrip('/')}/polls/{poll.id}"


def announcement(poll: Poll, base_url: str, zone: str = "UTC", language: str | None = None) -> tuple[str, str]:
    """Title and Markdown of a poll's announcement topic (a public post: in English unless
    ``language`` names a shipped one)."""
    t = texts(language)
    rule = Rule.from_dict(poll.eligibility or {})
    closes = poll.closes_at.strftime("%d %B %Y %H:%M UTC") if poll.closes_at else "—"
    kind = method_phrase(poll.kind, METHOD_NAMES.get(poll.method, poll.method))
    if poll.kind == "election":
        kind += ", " + plural(poll.seats, "seat")
    lines = [
        t.gettext("Voting is open: **%(title)s**", title=poll.title),
        "",
        t.gettext("* Kind: %(kind)s", kind=kind),
        t.gettext("* Who may vote: %(rule)s", rule=rule.describe()),
        t.gettext("* Voting closes: %(closes)s", closes=closes),
        t.gettext("* Tie-break seed (published at opening): `%(seed)s`", seed=poll.tie_seed),
        "",
        t.gettext("Vote here: %(url)s", url=_poll_url(base_url, poll)),
    ]
    return t.gettext("Poll open: %(title)s", title=poll.title)[:250], "\n".join(lines)


def results_reply(poll: Poll, base_url: str, head: TreeHead | None, certified_by: str = "",
                  language: str | None = None) -> str:
    """Markdown of the reply that announces results (with the log head, called signed only when it is)."""
    t = texts(language)
    result = poll.result or {}
    elected = ", ".join(result.get("elected", [])) or t.gettext("no winner")
    lines = [t.gettext("Results of **%(title)s** are published.", title=poll.title), "",
             t.gettext("* Elected: %(names)s", names=elected) if poll.kind == "election"
             else t.gettext("* Outcome: %(names)s", names=elected)]
    if certified_by:
        lines.append(t.gettext("* Certified by %(officer)s, election officer", officer=certified_by))
    if result.get("tied"):
        lines.append(t.gettext("* Unresolved tie between: %(names)s", names=", ".join(result["tied"])))
    full = _poll_url(base_url, poll) + "/results"
    lines += [t.gettext("* Ballots hash: `%(hash)s`", hash=poll.ballots_hash),
              t.gettext("* Results hash: `%(hash)s`", hash=poll.result_hash), "",
              t.gettext("Full results and the audit bundle: %(url)s", url=full)]
    if head is not None:
        lines += ["", t.gettext("Audit log head at the close:") if head.signature else
                  t.gettext("Audit log head at the close (unsigned: this site has no signing key):"), "", "```json",
                  json.dumps(log.head_dict(head), indent=2, sort_keys=True), "```"]
    return "\n".join(lines)


LEASE = timedelta(minutes=5)


def claim(session: Session, now: datetime, *, limit: int = 20, poll_id: int | None = None,
          kind: str | None = None) -> list[int]:
    """Lease due jobs to this worker (so two workers or hosts do not post the same thing); return their ids.

    The lease is committed before any forum call. A process that dies between the forum's answer
    and recording it leaves the job to be retried when the lease ends: at least once, and exactly
    once unless a process is killed inside that window.
    """
    jobs = pending(session, now, poll_id=poll_id, kind=kind, limit=limit, lock=True)
    for job in jobs:
        job.next_attempt_at = now + LEASE
        session.add(job)
    session.flush()
    return [job.id for job in jobs]


def prepare(session: Session, job_id: int, base_url: str, category: str | None) -> dict[str, Any] | None:
    """What to send for a job: {"call": name, "kwargs": {...}, "kind": job kind}, or None when it must wait."""
    job = session.get(Outbox, job_id)
    if job is None or job.done_at is not None:
        return None
    plan = _plan(session, job, base_url, category)
    if plan is not None:
        plan["kind"] = job.kind
    return plan


def _plan(session: Session, job: Outbox, base_url: str, category: str | None) -> dict[str, Any] | None:
    if _of_test_poll(session, job):
        return {"call": None}  # a test poll posts nothing to the forum (docs/polls.md)
    if job.kind == "head":
        head = session.get(TreeHead, job.payload.get("head"))
        if head is None:
            return {"call": None}
        what = f"{job.payload.get('document')} version {job.payload.get('version')}"
        signed = "signed head" if head.signature else "head (unsigned: this site has no signing key)"
        raw = "\n".join([f"The audit log's {signed} after the publication of {what}:", "", "```json",
                         json.dumps(log.head_dict(head), indent=2, sort_keys=True), "```", "",
                         f"Check it against {base_url.rstrip('/')}/audit/head"])
        return {"call": "create_topic", "head": head.id,
                "kwargs": {"title": f"Audit log head: {what} published"[:250], "raw": raw, "category": category}}
    if job.kind == "notice":
        from . import approvals

        return approvals.prepare_notice(session, job, base_url, category)
    if job.kind == "exception":
        from . import exceptions

        return exceptions.message(session, job, base_url)
    if job.kind == "timing":
        from . import timing

        return timing.forum_reply(session, int(job.payload.get("change", 0)), base_url)
    if job.kind == "certification":
        from . import certification

        return certification.notice(session, job, base_url)
    if job.kind == AMENDMENT_TOPIC:
        from ..proposals import service as documents

        post = documents.topic_post(session, job.payload.get("amendment"), base_url)
        if post is None:
            return {"call": None}  # posted or linked meanwhile: nothing to send
        return {"call": "create_topic", "kwargs": {**post, "category": category}}
    poll = session.get(Poll, job.payload.get("poll")) if job.payload.get("poll") is not None else None
    if poll is None:
        return {"call": None}
    if job.kind == "topic":
        title, raw = announcement(poll, base_url)
        return {"call": "create_topic", "kwargs": {"title": title, "raw": raw, "category": category}}
    if job.kind == "results":
        if poll.forum_topic_id is None:
            return None  # the announcement has not gone out yet
        head = session.exec(select(TreeHead).order_by(TreeHead.id.desc()).limit(1)).first()
        from ..models import Certification

        cert = session.get(Certification, poll.id)
        by = cert.officer if cert is not None and cert.decision == "certified" else ""
        return {"call": "reply", "head": head.id if head else None,
                "kwargs": {"topic_id": poll.forum_topic_id, "raw": results_reply(poll, base_url, head, by)}}
    if job.kind == "receipt":
        t = texts(job.payload.get("language"))  # the language the voter voted in
        tracker = job.payload["tracker"]
        shown = "-".join(tracker[i:i + 4] for i in range(0, len(tracker), 4))
        board = _poll_url(base_url, poll) + "/board"
        raw = t.gettext("Your encrypted ballot in **%(title)s** was recorded.\n\nTracker: `%(tracker)s`\n\n"
                        "Compare it with the tracker the voting page showed you. If they differ, tell the "
                        "election officers. You can find your ballot by this tracker on the poll's bulletin "
                        "board: %(url)s\n\nA newer ballot replaces this one; only the last receipt counts.",
                        title=poll.title, tracker=shown, url=board)
        return {"call": "private_message", "kwargs": {"usernames": [job.payload["username"]],
                                                       "title": t.gettext("Your ballot receipt: %(title)s",
                                                                          title=poll.title)[:250],
                                                       "raw": raw}}
    if job.kind == "trustee":
        t = texts(job.payload.get("language"))
        step = job.payload.get("step")
        doing = {"keys": t.gettext("take part in the key ceremony"), "mix": t.gettext("mix the ballots"),
                 "decrypt": t.gettext("decrypt the mixed ballots")}.get(step, step)
        page = _poll_url(base_url, poll) + "/trustee"
        raw = t.gettext("You are a trustee of **%(title)s**. It is time to %(doing)s, with `governance-trustee` on "
                        "your own machine. What to do, and the files to download and upload: %(url)s",
                        title=poll.title, doing=doing, url=page)
        return {"call": "private_message", "kwargs": {"usernames": [job.payload["username"]],
                                                       "title": t.gettext("Trustee: %(doing)s for %(title)s",
                                                                          doing=doing, title=poll.title)[:250],
                                                       "raw": raw}}
    return {"call": None}


def _of_test_poll(session: Session, job: Outbox) -> bool:
    """Whether the job is about a test poll (by its poll, or the poll a notice would schedule)."""
    poll_id = job.poll_id if job.poll_id is not None else job.payload.get("poll")
    poll = session.get(Poll, poll_id) if isinstance(poll_id, int) else None
    return bool(poll is not None and poll.is_test)


def finish(session: Session, job_id: int, *, now: datetime, answer: dict[str, Any] | None = None,
           error: str | None = None, head_id: int | None = None) -> None:
    """Record a delivery's outcome: done (receipts deleted), or failed with back-off."""
    job = session.get(Outbox, job_id)
    if job is None:
        return
    job.attempts += 1
    if job.kind == AMENDMENT_TOPIC:
        from ..proposals import service as documents

        topic = (answer or {}).get("topic_id") if error is None else None
        documents.topic_posted(session=session, amendment_id=job.payload.get("amendment"), now=now,
                               topic_id=topic, error=error)
    if error is not None:
        job.last_error = error[:500]
        job.next_attempt_at = now + min(MAX_BACKOFF, timedelta(seconds=30 * 2 ** min(job.attempts, 10)))
        session.add(job)
        session.flush()
        return
    answer = answer or {}
    poll = session.get(Poll, job.payload.get("poll")) if job.payload.get("poll") is not None else None
    if job.kind == "topic" and poll is not None and answer.get("topic_id"):
        poll.forum_topic_id = int(answer["topic_id"])
        session.add(poll)
    if job.kind in ("results", "head") and head_id is not None:
        head = session.get(TreeHead, head_id)
        if head is not None and head.forum_post_id is None and answer.get("id"):
            head.forum_post_id = int(answer["id"])
            session.add(head)
    if job.kind == "notice" and job.payload.get("change") is not None:
        from . import approvals  # the notice is out: the change may now take effect

        approvals.announced(session=session, change_id=int(job.payload["change"]), topic_id=answer.get("topic_id"),
                            now=now)
    if job.kind == "receipt":
        session.delete(job)
    else:
        job.done_at = now
        session.add(job)
    session.flush()


def release(session: Session, job_id: int, now: datetime) -> None:
    """Give a leased job back (it had to wait for something else)."""
    job = session.get(Outbox, job_id)
    if job is not None:
        job.next_attempt_at = now + timedelta(seconds=30)
        session.add(job)
        session.flush()

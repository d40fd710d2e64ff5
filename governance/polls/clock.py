"""Moving polls along with the clock, and delivering what the forum is owed.

Boundary rule: orchestration over the services with their own short transactions, used by web
requests and by ``flask polls tick``. Forum calls (group snapshots, posts) happen outside any
write transaction, so the database is never locked while waiting for the forum.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from ..errors import GovernanceError
from ..models import Poll
from . import outbox, service

log = logging.getLogger(__name__)


def run_due(*, engine: Engine, immediate: Engine, forum: Any, now: datetime, max_steps: int = 20) -> list[tuple[int, str]]:
    """Take every step the clock calls for; return (poll id, step) for each one taken.

    A group poll whose electorate cannot be fetched stays scheduled (not open) and is retried on
    the next call; the failure is logged, never raised to the caller.
    """
    with Session(engine) as reader:
        ids = [p.id for p in service.due(reader, now)]
    taken: list[tuple[int, str]] = []
    for poll_id in ids:
        for _ in range(4):
            if len(taken) >= max_steps:
                return taken
            with Session(engine) as reader:
                poll = reader.get(Poll, poll_id)
                wants_snapshot = poll is not None and service.needs_snapshot(poll, now)
            snapshot = None
            if wants_snapshot:
                try:
                    snapshot = service.snapshot_electorate(poll, forum)
                except GovernanceError as exc:
                    log.warning("poll %s: electorate not frozen yet: %s", poll_id, exc.message)
                    break
            with Session(immediate, expire_on_commit=False) as writer:
                poll = writer.get(Poll, poll_id)
                step = service.advance(session=writer, poll=poll, now=now, snapshot=snapshot) if poll else None
                writer.commit()
            if step is None:
                break
            taken.append((poll_id, step))
    return taken


def deliver_outbox(*, engine: Engine, immediate: Engine, forum: Any, now: datetime, base_url: str,
                   category: str | None, poll_id: int | None = None, kind: str | None = None,
                   limit: int = 20) -> tuple[int, int]:
    """Deliver due forum posts; return (delivered, failed). No transaction is open during a forum call."""
    from ..ops import metrics

    with Session(immediate) as writer:
        ids = outbox.claim(writer, now, limit=limit, poll_id=poll_id, kind=kind)
        writer.commit()
    delivered = failed = 0
    for job_id in ids:
        with Session(engine) as reader:
            plan = outbox.prepare(reader, job_id, base_url, category)
        answer, error = None, None
        if plan is None:
            with Session(immediate) as writer:
                outbox.release(writer, job_id, now)
                writer.commit()
            continue
        if plan["call"] is not None:
            try:
                answer = getattr(forum, plan["call"])(**plan["kwargs"])
            except GovernanceError as exc:
                error = exc.message
            metrics.forum_call(plan["call"], "ok" if error is None else "failed")
        with Session(immediate) as writer:
            outbox.finish(writer, job_id, now=now, answer=answer, error=error, head_id=plan.get("head"))
            writer.commit()
        metrics.outbox_delivery(plan.get("kind", "unknown"), error is None)
        if error is None:
            delivered += 1
        else:
            failed += 1
            log.warning("forum post %s failed: %s", job_id, error)
    return delivered, failed

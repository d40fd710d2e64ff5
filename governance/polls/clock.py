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


#: In a page request the clock takes a counting step only up to this many ciphertexts (a
#: fraction of a second); bigger mixes and decryptions wait for ``flask polls tick``.
REQUEST_WORK_LIMIT = 2_000


def run_due(*, engine: Engine, immediate: Engine, forum: Any, now: datetime, secret: str, max_steps: int = 20,
            work_limit: int | None = None) -> list[tuple[int, str]]:
    """Take every step the clock calls for; return (poll id, step) for each one taken.

    A group poll whose electorate cannot be fetched stays scheduled (not open) and is retried on
    the next call; the failure is logged, never raised to the caller. With ``forum`` None (page
    requests) group polls are not opened at all: freezing the electorate calls the forum, which
    only ``flask polls tick`` waits for. Counting steps of closed
    polls (``counting.plan``) run their cryptography outside any transaction, and only when
    they handle at most ``work_limit`` ciphertexts (None: no limit).
    """
    from . import counting

    with Session(engine) as reader:
        ids = [p.id for p in service.due(reader, now)]
    taken: list[tuple[int, str]] = []
    for poll_id in ids:
        for _ in range(8):
            if len(taken) >= max_steps:
                return taken
            with Session(engine) as reader:
                poll = reader.get(Poll, poll_id)
                if poll is None:
                    break
                if poll.status == "closed":
                    work = counting.plan(reader, poll, secret=secret)
                    wants_snapshot = False
                else:
                    work = None
                    wants_snapshot = service.needs_snapshot(poll, now)
                    if wants_snapshot:
                        from . import exceptions

                        excepted = sorted(exceptions.accepted(reader, poll))
            if poll.status == "closed":
                if work is None or (work_limit is not None and work.size > work_limit):
                    break
                outcome = work.run()
                with Session(immediate, expire_on_commit=False) as writer:
                    poll = writer.get(Poll, poll_id)
                    step = counting.apply(session=writer, poll=poll, work=work, outcome=outcome, now=now)
                    writer.commit()
                if step is None:
                    break
                taken.append((poll_id, step))
                if step == "count":
                    scrub(engine)
                continue
            snapshot = None
            if wants_snapshot:
                if forum is None:
                    break  # a page request never waits on the forum: the tick freezes the electorate
                try:
                    from .opening import snapshot_electorate

                    snapshot = snapshot_electorate(poll, forum, excepted=excepted)
                except GovernanceError as exc:
                    log.warning("poll %s: electorate not frozen yet: %s", poll_id, exc.message)
                    break
            with Session(immediate, expire_on_commit=False) as writer:
                poll = writer.get(Poll, poll_id)
                step = service.advance(session=writer, poll=poll, now=now, secret=secret,
                                       snapshot=snapshot) if poll else None
                writer.commit()
            if step is None:
                break
            taken.append((poll_id, step))
            if step in ("close", "cancelled"):
                scrub(engine)
    return taken


#: Tables whose deleted rows held a poll's secrets or voter-linked counters (docs/secrecy.md).
_SCRUBBED = ("poll_secret", "rate_limit_counter", "outbox", "reminder_round")


def scrub(engine: Engine) -> bool:
    """Make deleted secrets unrecoverable from the database files, as far as the database allows.

    SQLite: ``secure_delete`` has overwritten the deleted rows in the database file; a
    truncating checkpoint moves the write-ahead log into it and empties the log file (it cannot
    while another connection reads an old snapshot: then the next close, count or ``flask polls
    tick``, which scrubs on every run, tries again).
    PostgreSQL: ``VACUUM FULL`` rewrites the small tables that held a poll's salts, so their old
    row versions leave the heap files; ``pg_wal`` keeps them until PostgreSQL recycles its
    segments (docs/secrecy.md). Returns whether it completed.
    """
    from sqlalchemy import text

    from ..db import SQLITE_BUSY_TIMEOUT_MS

    try:
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                # Never wait for readers here (a page request may be the caller): if one holds an old
                # snapshot the checkpoint is left to the next close or ``flask polls tick``.
                conn.exec_driver_sql("PRAGMA busy_timeout = 0")
                try:
                    busy, _log, _moved = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
                finally:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                conn.commit()
            return busy == 0
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in _SCRUBBED:
                conn.execute(text(f"VACUUM FULL {table}"))
        return True
    except Exception as exc:  # noqa: BLE001 - scrubbing is best effort; the close already committed
        log.warning("scrubbing after a close did not complete: %s", str(exc).splitlines()[0])
        return False


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

"""The hash-chained event log: entries, hashes and the first broken link."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from governance.audit.canonical import AuditError, canonical_json, sha256_hex
from governance.audit.chain import (
    FIRST_SEQ,
    GENESIS_HASH,
    ChainError,
    Entry,
    entry_hash,
    format_time,
    make_entry,
    verify_chain,
    verify_segment,
)
from tests.audit.audit_support import resign


@pytest.fixture
def log() -> list[Entry]:
    """Six chained entries."""
    entries: list[Entry] = []
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    for i in range(6):
        entries.append(
            make_entry(
                entries[-1] if entries else None,
                type="test.event",
                actor=f"member{i}" if i % 2 else None,
                payload={"n": i, "note": "Zoë"},
                created_at=start + timedelta(minutes=i),
            )
        )
    return entries


def test_entries_chain_from_genesis(log):
    assert log[0].seq == FIRST_SEQ == 0
    assert log[0].prev_hash == GENESIS_HASH == "0" * 64
    assert all(b.prev_hash == a.hash and b.seq == a.seq + 1 for a, b in zip(log, log[1:], strict=False))
    verify_chain(log)


def test_hash_is_sha256_of_canonical_json_of_the_six_fields(log):
    e = log[3]
    body = {
        "seq": e.seq,
        "created_at": e.created_at,
        "type": e.type,
        "actor": e.actor,
        "payload": e.payload,
        "prev_hash": e.prev_hash,
    }
    assert e.hash == sha256_hex(canonical_json(body)) == entry_hash(**body)
    assert e.leaf == bytes.fromhex(e.hash)
    assert e.created_at == "2026-03-01T10:03:00Z"


def test_dict_round_trip(log):
    assert [Entry.from_dict(e.to_dict()) for e in log] == log


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda log: log[:2] + log[3:], "log entry 3: gap: entry 2 is missing"),
        (lambda log: [log[0], log[2], log[1], *log[3:]], "log entry 2: out of order: entry 1 comes after it"),
        (lambda log: [*log[:3], log[2], *log[3:]], "log entry 2: out of order: expected entry 3"),
        (lambda log: [*log[:3], replace(log[3], payload={"n": 99}), *log[4:]], "log entry 3: wrong hash"),
        (lambda log: [*log[:3], resign(log[3], payload={"n": 99}), *log[4:]], "log entry 4: wrong prev_hash"),
        (
            lambda log: [*log[:3], resign(log[3], prev_hash="ab" * 32), *log[4:]],
            "log entry 3: wrong prev_hash",
        ),
        (
            lambda log: [resign(log[0], prev_hash="11" * 32), *log[1:]],
            "log entry 0: wrong prev_hash: it is not the genesis",
        ),
        (lambda log: log[1:], "log entry 1: gap: entry 0 is missing"),
    ],
)
def test_verify_chain_names_the_first_bad_entry(log, change, message):
    with pytest.raises(ChainError, match=message) as info:
        verify_chain(change(log))
    assert info.value.seq == int(message.split()[2].rstrip(":"))


def test_verify_chain_can_continue_after_a_known_entry(log):
    verify_chain(log[3:], prev=log[2])
    with pytest.raises(ChainError, match="log entry 4: gap"):
        verify_chain(log[4:], prev=log[2])


def test_segments_allow_gaps_but_not_reordering_or_edits(log):
    verify_segment([log[1], log[3], log[4]])
    with pytest.raises(ChainError, match="log entry 1: out of order: it comes after entry 3"):
        verify_segment([log[3], log[1]])
    with pytest.raises(ChainError, match="log entry 4: wrong prev_hash"):
        verify_segment([log[1], resign(log[3], actor="mallory"), log[4]])
    with pytest.raises(ChainError, match="log entry 3: wrong hash"):
        verify_segment([log[1], replace(log[3], actor="mallory")])


def test_make_entry_refuses_floats_and_naive_times(log):
    with pytest.raises(AuditError, match="floats"):
        make_entry(log[-1], type="x", actor=None, payload={"share": 0.5}, created_at="2026-03-01T10:00:00Z")
    with pytest.raises(AuditError, match="naive"):
        make_entry(log[-1], type="x", actor=None, payload={}, created_at=datetime(2026, 3, 1))
    with pytest.raises(AuditError, match="RFC 3339"):
        make_entry(log[-1], type="x", actor=None, payload={}, created_at="2026-03-01 10:00")
    with pytest.raises(AuditError, match="type"):
        make_entry(log[-1], type="", actor=None, payload={})


def test_default_time_is_now_in_utc_to_the_second():
    entry = make_entry(None, type="x", actor=None, payload={})
    assert entry.created_at.endswith("Z") and len(entry.created_at) == 20
    assert (
        format_time(datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5)))) == "2026-01-01T17:00:00Z"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("seq", -1, "seq must be"),
        ("seq", True, "seq must be"),
        ("created_at", "2026-03-01T10:00:00+00:00", "created_at"),
        ("type", "", "type"),
        ("actor", 5, "actor"),
        ("payload", [], "payload"),
        ("hash", "ABC", "hash must be 64"),
    ],
)
def test_from_dict_checks_types(log, field, value, message):
    data = log[0].to_dict()
    data[field] = value
    with pytest.raises(AuditError, match=message):
        Entry.from_dict(data)


def test_from_dict_checks_field_names(log):
    data = log[0].to_dict()
    data["extra"] = 1
    with pytest.raises(AuditError, match="unexpected"):
        Entry.from_dict(data)

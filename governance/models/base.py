"""Column types and helpers shared by the tables.

Boundary rule: models hold tables and nothing else (no queries, no Flask).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field


def utcnow() -> datetime:
    """The current time, UTC-aware, to the microsecond."""
    return datetime.now(UTC)


#: The largest id the databases' integer columns hold: a larger number (from a URL or a form)
#: names nothing, and is answered as not found rather than handed to the database.
MAX_ID = 2**31 - 1


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back UTC-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a UTC-aware time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def time_field(*, default_now: bool = False, nullable: bool = False, index: bool = False) -> Any:
    """A UTC timestamp column."""
    if default_now:
        return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def json_field(default_factory=dict) -> Any:
    """A JSON column."""
    return Field(default_factory=default_factory, sa_type=JSON, nullable=False)

"""Platform roles derived from forum groups named in the configuration (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_committee(member: Any, config: Mapping[str, Any]) -> bool:
    """Members of the steering committee group may publish roadmap versions and create polls."""
    return bool(member is not None and getattr(member, "is_authenticated", False)
                and config.get("COMMITTEE_GROUP") in (member.groups or []))


def is_admin(member: Any, config: Mapping[str, Any]) -> bool:
    """Forum admins (or members of the configured admin group) administer the platform."""
    return bool(member is not None and getattr(member, "is_authenticated", False)
                and (member.admin or config.get("ADMIN_GROUP") in (member.groups or [])))

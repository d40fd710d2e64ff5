"""The stand-in forum's rate limits and request log, as Discourse enforces them (a mixin of ``ForumData``).

Boundary rule: plain Python only. The methods use the state ``ForumData.__init__`` sets
(``lock``, the limits and their windows, ``refusals``, the request log).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any


class RateLimits:
    """Discourse's admin API limit, its global per-IP limits, forced 429s, delays, the request log."""

    lock: Any

    def force_rate_limit(self, count: int = 1, *, wait_seconds: int = 1) -> None:
        """Answer the next `count` API requests with 429, asking clients to wait `wait_seconds`."""
        with self.lock:
            self._forced_429s = count
            self._forced_wait_seconds = wait_seconds

    def set_rate_limit(self, per_minute: int | None) -> None:
        """Limit admin API requests to `per_minute` in any 60 seconds, forum-wide (None: no limit)."""
        with self.lock:
            self.rate_limit_per_minute = per_minute
            self._hits.clear()

    def set_delay(self, seconds: float) -> None:
        """Make every API request and DiscourseConnect answer wait this long first (0: no delay)."""
        with self.lock:
            self.delay_seconds = seconds

    def check_rate_limit(self, api_key: str) -> int | None:
        """Count one admin API request; return seconds to wait if it must be refused, else None.

        As Discourse's ``admin_api_min`` limiter: one sliding 60-second window for the whole
        forum, shared by every admin key (``max_admin_api_reqs_per_minute``). A refused request
        is not counted.
        """
        with self.lock:
            if self._forced_429s > 0:
                self._forced_429s -= 1
                self.refusals.append(("forced", api_key[:4]))
                return self._forced_wait_seconds
            if self.rate_limit_per_minute is None:
                return None
            wait = _slide(self._hits.setdefault("admin_api_min", deque()), self.rate_limit_per_minute, 60)
            if wait is not None:
                self.refusals.append(("admin_api_key_rate_limit", "admin_api_min"))
            return wait

    def set_ip_limits(self, per_10_seconds: int | None, per_minute: int | None = None) -> None:
        """Turn Discourse's global per-IP limits on (``max_reqs_per_ip_per_10_seconds``,
        ``max_reqs_per_ip_per_minute``; defaults 50 and 200) or off (None)."""
        with self.lock:
            self.ip_limits = None if per_10_seconds is None else (per_10_seconds, per_minute or 200)
            self._ip_hits.clear()

    def check_ip_limit(self, ip: str) -> tuple[str, int] | None:
        """Count one request from ``ip`` against the global limits; (error code, wait) if refused."""
        with self.lock:
            if self.ip_limits is None:
                return None
            per_10, per_60 = self.ip_limits
            for code, limit, period in (("ip_10_secs_limit", per_10, 10), ("ip_60_secs_limit", per_60, 60)):
                hits = self._ip_hits.setdefault(f"{code}:{ip}", deque())
                wait = _slide(hits, limit, period, count=False)
                if wait is not None:
                    self.refusals.append((code, ip))
                    return code, wait
            for code in ("ip_10_secs_limit", "ip_60_secs_limit"):
                self._ip_hits[f"{code}:{ip}"].append(time.monotonic())
            return None

    def log_request(self, method: str, path: str, api_username: str, query: str = "") -> None:
        """Record one API request (for tests that count calls)."""
        with self.lock:
            self._requests.append((method, path, api_username))
            self.queries.append(query)

    def log_arrival(self, method: str, path: str) -> None:
        """Record one API request as it arrives, before any delay or check (for tests of a hanging forum)."""
        with self.lock:
            self._arrivals.append((method, path))

    def api_arrivals(self) -> list[tuple[str, str]]:
        """Every API request that reached the forum, answered or not yet (still delayed), as (method, path)."""
        with self.lock:
            return list(self._arrivals)

    def api_requests(self) -> list[tuple[str, str, str]]:
        """The API requests answered so far, as (method, path, Api-Username) in order."""
        with self.lock:
            return list(self._requests)


def _slide(hits: deque, limit: int, period: float, *, count: bool = True) -> int | None:
    """A sliding window of ``period`` seconds: seconds to wait if full, else None (and count one)."""
    now = time.monotonic()
    while hits and hits[0] <= now - period:
        hits.popleft()
    if len(hits) >= limit:
        return max(1, int(hits[0] + period - now + 0.999))
    if count:
        hits.append(now)
    return None

"""What a verification reports: each check's status and detail, and the report of all of them.

Shared by the verifiers of poll bundles (``verifier``, ``encrypted``) and document bundles
(``documents``). Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ERROR", "FAIL", "NOT_RUN", "OK", "SKIP", "WARN", "Check", "VerifyReport", "run_checks"]

OK, FAIL, ERROR, WARN, SKIP, NOT_RUN = "OK", "FAIL", "ERROR", "WARN", "SKIP", "NOT RUN"


@dataclass
class Check:
    """The outcome of one check: ``status`` is OK, FAIL, ERROR, WARN, SKIP or NOT RUN.

    FAIL means the bundle is well formed but something does not verify (tampering or a server
    fault); ERROR means the input is malformed or cannot be checked (missing file, bad JSON).
    """

    name: str
    title: str
    status: str = NOT_RUN
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready view."""
        return {"name": self.name, "title": self.title, "status": self.status, "detail": self.detail}


@dataclass
class VerifyReport:
    """Every check in order; verification stops at the first FAIL or ERROR."""

    checks: list[Check]
    election: dict[str, Any] | None = None
    head: dict[str, Any] | None = None
    ballots: int | None = None

    @property
    def ok(self) -> bool:
        """True when no check failed (WARN and SKIP still pass, but say what was not proven)."""
        return self.first_problem is None

    @property
    def first_problem(self) -> Check | None:
        """The first check that failed or could not be done, or None."""
        return next((c for c in self.checks if c.status in (FAIL, ERROR)), None)

    @property
    def malformed(self) -> bool:
        """True when the first problem is malformed input rather than a failed verification."""
        problem = self.first_problem
        return problem is not None and problem.status == ERROR

    @property
    def warnings(self) -> list[Check]:
        """Checks that passed with a caveat (unsigned head, key taken from the bundle itself)."""
        return [c for c in self.checks if c.status == WARN]

    def check(self, name: str) -> Check:
        """The check called ``name``."""
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        problem = self.first_problem
        return {
            "ok": self.ok,
            "first_problem": problem.to_dict() if problem else None,
            "checks": [c.to_dict() for c in self.checks],
            "head": self.head,
        }


class _Failed(Exception):
    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _fail(detail: str) -> _Failed:
    return _Failed(FAIL, detail)


def _error(detail: str) -> _Failed:
    return _Failed(ERROR, detail)


def run_checks(verifier: Any, checks: Sequence[tuple[str, str]]) -> VerifyReport:
    """Run ``verifier._check_<name>()`` for each (name, title) in order, stopping at the first FAIL
    or ERROR; a field of a shape no check anticipated makes the bundle malformed (ERROR), never a crash."""
    report = VerifyReport(checks=[Check(name, title) for name, title in checks])
    for check in report.checks:
        try:
            check.status, check.detail = getattr(verifier, f"_check_{check.name}")()
        except _Failed as failed:
            check.status, check.detail = failed.status, failed.detail
            break
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            check.status, check.detail = ERROR, f"malformed bundle: {type(exc).__name__}: {exc}"
            break
    return report

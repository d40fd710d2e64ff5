"""The audit core and verifier run without the server: no Flask, database or web imports."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

AUDIT = Path(__file__).resolve().parents[2] / "governance" / "audit"
PURE_MODULES = ["canonical.py", "merkle.py", "chain.py", "signing.py", "bundle.py", "report.py", "verifier.py", "times.py",
                "bundlechecks.py",
                "encrypted.py", "election_rules.py",
                "cli.py"]
# The eligibility rule is pure too (no Flask, no database): the verifier re-applies it to the
# evidence of each voter in a community-wide poll.
ALLOWED_PROJECT = ("governance.audit", "governance.tally", "governance.crypto", "governance.identity.eligibility")
FORBIDDEN = ("flask", "flask_login", "sqlmodel", "sqlalchemy", "werkzeug", "requests", "pydiscourse")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = f"governance.audit.{node.module or ''}" if node.level else node.module or ""
            # "from governance import crypto" imports governance.crypto
            names += [f"{module}.{alias.name}" for alias in node.names] if module == "governance" else [module]
    return names


@pytest.mark.parametrize("module", PURE_MODULES)
def test_audit_core_imports_only_the_standard_library_cryptography_and_tally(module):
    for name in _imports(AUDIT / module):
        top = name.split(".")[0]
        assert top not in FORBIDDEN, f"{module} imports {name}"
        if top == "governance":
            assert name.startswith(ALLOWED_PROJECT), f"{module} imports {name}"


def test_verifier_imports_without_flask_or_a_database():
    code = (
        "import sys, governance.audit.cli, governance.audit.bundle, governance.audit.verifier, "
        "governance.audit.encrypted, governance.audit.documents, "
        "governance.audit.election_rules; "
        "bad = [m for m in ('flask', 'sqlalchemy', 'sqlmodel', 'governance.web', 'governance.models') "
        "if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=AUDIT.parents[1])

"""Import boundaries: tally is a pure library; services never reach into the web layer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "governance"
FORBIDDEN_IN_TALLY = ("flask", "sqlmodel", "sqlalchemy", "governance", "werkzeug", "pydiscourse")


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the package
                base = ".".join(path.relative_to(PKG.parent).with_suffix("").parts[: -node.level])
                found.append((node.lineno, f"{base}.{node.module}" if node.module else base))
            else:
                found.append((node.lineno, node.module or ""))
    return found


@pytest.mark.parametrize("path", sorted((PKG / "tally").glob("*.py")), ids=lambda p: p.name)
def test_tally_imports_nothing_from_the_project(path):
    bad = [(line, name) for line, name in imports(path)
           if name.split(".")[0] in FORBIDDEN_IN_TALLY and not name.startswith("governance.tally")]
    assert not bad, f"{path.name} imports {bad}"


SERVICE_PACKAGES = ["identity", "proposals", "polls", "audit", "models", "tally"]


@pytest.mark.parametrize("package", SERVICE_PACKAGES)
def test_services_do_not_import_the_web_layer(package):
    for path in (PKG / package).rglob("*.py"):
        for line, name in imports(path):
            assert not name.startswith("governance.web"), f"{path}:{line} imports {name}"
            assert name.split(".")[0] != "flask_login" or path.name == "login.py", f"{path}:{line} imports {name}"


def test_tally_imports_without_flask():
    code = "import sys, governance.tally; assert 'flask' not in sys.modules and 'sqlalchemy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PKG.parent)


def test_package_init_imports_no_flask():
    assert imports(PKG / "__init__.py") == []

"""The roadmap building blocks stay pure, and their docstring examples run."""

from __future__ import annotations

import ast
import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

MODULES = ["render", "blocks", "diff", "cli"]
PKG = Path(__file__).resolve().parents[2] / "governance" / "proposals"
FORBIDDEN = ("flask", "flask_login", "flask_wtf", "werkzeug", "sqlmodel", "sqlalchemy", "alembic")
FORBIDDEN_PROJECT = ("governance.web", "governance.models", "governance.db", "governance.factory")


def imported_names(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(("." * node.level) + (node.module or ""))
    return names


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_nothing_impure(module):
    for name in imported_names(PKG / f"{module}.py"):
        assert name.split(".")[0] not in FORBIDDEN, f"{module}.py imports {name}"
        assert not name.startswith(FORBIDDEN_PROJECT), f"{module}.py imports {name}"
        assert not name.startswith("governance.") or name.startswith("governance.proposals."), name


def test_importing_the_modules_loads_no_web_or_database_code():
    code = (
        "import sys\n"
        + "".join(f"import governance.proposals.{m}\n" for m in MODULES)
        + f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        + "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PKG.parents[1])


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"governance.proposals.{module}"))
    assert result.failed == 0


@pytest.mark.parametrize("module", MODULES)
def test_public_functions_have_docstrings(module):
    mod = importlib.import_module(f"governance.proposals.{module}")
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), f"{module}.{name} has no docstring"

"""governance.crypto is a pure library: standard library and pysodium only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_architecture import PKG, imports

ALLOWED = {"pysodium"}


@pytest.mark.parametrize("path", sorted((PKG / "crypto").glob("*.py")), ids=lambda p: p.name)
def test_crypto_imports_only_the_standard_library_and_pysodium(path):
    bad = []
    for line, name in imports(path):
        top = name.split(".")[0]
        if name.startswith("governance.crypto") or top in ALLOWED or top in sys.stdlib_module_names:
            continue
        bad.append((line, name))
    assert not bad, f"{path.name} imports {bad}"


def test_crypto_imports_without_flask_or_sql():
    code = ("import sys, governance.crypto, governance.crypto.trustee_cli; "
            "assert not {'flask', 'sqlalchemy', 'sqlmodel'} & set(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(PKG).parent)

"""The hashed lock files agree with pyproject.toml (refresh them with scripts/lock)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _lock(name: str) -> tuple[dict[str, str], dict[str, int]]:
    """{package: version} and {package: number of hashes} of one lock file."""
    pins: dict[str, str] = {}
    hashes: dict[str, int] = {}
    current = None
    for line in (ROOT / "requirements" / f"{name}.txt").read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = match.group(2)
            hashes[current] = 0
        elif current and line.strip().startswith("--hash=sha256:"):
            hashes[current] += 1
    return pins, hashes


def _wanted(extra: str | None) -> list[Requirement]:
    project = _project()
    wanted = [Requirement(r) for r in project["dependencies"]]
    if extra:
        wanted += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return wanted


@pytest.mark.parametrize("lock, extra", [("base", None), ("test", "test"), ("bench", "bench")])
def test_every_dependency_is_pinned_in_its_lock_file_with_hashes(lock, extra):
    pins, hashes = _lock(lock)
    problems = []
    for requirement in _wanted(extra):
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement} is not in requirements/{lock}.txt")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{requirement} does not allow the locked {name}=={pins[name]}")
    assert not problems, "run scripts/lock: " + "; ".join(problems)
    assert "psycopg-binary" in pins  # psycopg[binary]'s extra is locked too
    assert all(count >= 1 for count in hashes.values()), [n for n, c in hashes.items() if not c]


def test_a_dependency_added_without_relocking_is_caught():
    """The check above can fail: a new dependency, or a tightened bound, that the lock does not hold."""
    project = _project()
    project["dependencies"] = [*project["dependencies"], "some-new-package>=1", "flask>=99"]
    globals_before = globals()["_project"]
    globals()["_project"] = lambda: project
    try:
        with pytest.raises(AssertionError, match="some-new-package>=1 is not in.*flask>=99 does not allow"):
            test_every_dependency_is_pinned_in_its_lock_file_with_hashes("base", None)
    finally:
        globals()["_project"] = globals_before


def test_locks_agree_with_each_other():
    """The platform's own packages are pinned alike in every set (one install, whatever the extras)."""
    base, _ = _lock("base")
    for other in ("test", "bench"):
        pins, _ = _lock(other)
        differ = {n: (v, pins.get(n)) for n, v in base.items() if pins.get(n) != v}
        assert not differ, f"requirements/{other}.txt pins base packages differently: {differ}"


def test_the_readme_and_the_setup_install_from_the_lock():
    readme = (ROOT / "README.md").read_text()
    assert "pip install --require-hashes -r requirements/base.txt" in readme
    assert "pip install --no-deps ." in readme
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "--require-hashes -r" in setup and "--no-deps -e" in setup


def test_the_version_has_one_source():
    import governance

    assert "version" not in _project() and "version" in _project()["dynamic"]
    assert f"## {governance.__version__} " in (ROOT / "CHANGELOG.md").read_text()


def test_pip_itself_is_pinned_with_hashes_and_installed_first():
    """Python 3.11's own pip (23.2) refuses a hashed install once a dependency's extra (pytest-cov's
    coverage[toml]) has a newer release than the pin; setup.sh installs the locked pip first."""
    pins, hashes = _lock("pip")
    assert list(pins) == ["pip"] and hashes["pip"] >= 1
    major = int(pins["pip"].split(".")[0])
    assert major >= 24, pins
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    first, lock = setup.index("requirements/pip.txt\""), setup.index('-r "$lock"')
    assert first < lock

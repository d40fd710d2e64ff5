"""The examples in the audit modules' docstrings run (the project collects doctests only in tally)."""

import doctest
import importlib

import pytest

MODULES = ["canonical", "merkle", "chain", "signing", "bundle", "cli"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"governance.audit.{name}")
    failed, _attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failed == 0

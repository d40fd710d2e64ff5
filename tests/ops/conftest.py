"""Fixtures of the operations tests."""

from __future__ import annotations

import pytest

from governance.db import dispose
from tests.conftest import make_test_app


@pytest.fixture
def new_app():
    """Build apps with ``make_test_app``; every engine is closed when the test ends, pass or fail."""
    made = []

    def build(database_url: str, **overrides):
        app = make_test_app(database_url, **overrides)
        made.append(app)
        return app

    yield build
    for app in made:
        dispose(app)

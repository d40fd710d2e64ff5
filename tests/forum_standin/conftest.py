"""Fixtures for the stand-in forum's tests: a served forum, a pydiscourse client, a browser."""

from __future__ import annotations

import pytest
import requests
from pydiscourse import DiscourseClient

from governance.forum_standin.testing import running_forum


@pytest.fixture
def forum():
    """The seeded forum, served on a free port for one test."""
    with running_forum() as running:
        yield running


@pytest.fixture
def client(forum) -> DiscourseClient:
    """pydiscourse, configured as the platform configures it."""
    return DiscourseClient(forum.url, api_username=forum.api_username, api_key=forum.api_key, timeout=5)


@pytest.fixture
def browser():
    """A cookie-keeping HTTP session, standing in for the member's browser."""
    with requests.Session() as session:
        yield session


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Record pydiscourse's back-off sleeps instead of sleeping."""
    recorded: list[float] = []
    monkeypatch.setattr("pydiscourse.client.time.sleep", recorded.append)
    return recorded

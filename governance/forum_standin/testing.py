"""Run the stand-in forum on a real port for the length of a `with` block.

Boundary rule: depends on this package, Werkzeug and the standard library only, so the
platform's tests can import it without pulling in anything else.

    with running_forum() as forum:
        client = DiscourseClient(forum.url, api_username=forum.api_username, api_key=forum.api_key)
        client.user("tamsin_ward")
        forum.data.force_rate_limit(2)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import create_forum_app
from .seed import seed_forum
from .store import ForumData
from .webhooks import Sender

TEST_SSO_SECRET = "test-connect-secret"
TEST_API_KEY = "test-api-key"


class _QuietHandler(WSGIRequestHandler):
    """Request handler that keeps the access log out of test output."""

    def log_request(self, code="-", size="-"):
        """Skip the access log line."""


@dataclass(frozen=True)
class RunningForum:
    """A forum being served: where it is, how to reach its API, and its live data."""

    url: str
    api_key: str
    api_username: str
    sso_secret: str
    data: ForumData
    sender: Sender | None = None

    @property
    def sso_url(self) -> str:
        """The DiscourseConnect provider endpoint."""
        return f"{self.url}/session/sso_provider"


@contextmanager
def running_forum(
    *,
    data: ForumData | None = None,
    sso_secret: str = TEST_SSO_SECRET,
    sso_secrets: dict[str, str] | None = None,
    api_key: str = TEST_API_KEY,
    api_username: str = "system",
    rate_limit: int | None = None,
    discourse_limits: bool = False,
    host: str = "127.0.0.1",
) -> Iterator[RunningForum]:
    """Serve a forum (the seeded one unless `data` is given) on a free port in a daemon thread.

    `sso_secret` is accepted for every return domain (`*`) unless `sso_secrets` maps domains
    to secrets explicitly. `discourse_limits` enforces Discourse's default rate limits. Webhooks
    added to `data` (``webhooks.add_webhook``) are delivered by a sender thread; `forum.sender`
    can `drain()`. The server is shut down and its socket closed on exit.
    """
    data = data if data is not None else seed_forum()
    app = create_forum_app(
        data=data,
        sso_secrets=sso_secrets if sso_secrets is not None else {"*": sso_secret},
        api_key=api_key,
        api_username=api_username,
        rate_limit=rate_limit,
        discourse_limits=discourse_limits,
    )
    server = make_server(host, 0, app, threaded=True, request_handler=_QuietHandler)
    url = f"http://{host}:{server.server_port}"
    sender = Sender(data, url).start()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="forum-standin", daemon=True
    )
    thread.start()
    try:
        yield RunningForum(
            url=url,
            api_key=api_key,
            api_username=api_username,
            sso_secret=sso_secret,
            data=data,
            sender=sender,
        )
    finally:
        sender.stop()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

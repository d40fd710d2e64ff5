"""The home page in a real browser: renders, no console errors, no CSP violations."""

from __future__ import annotations

import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_home_page_has_no_console_errors_or_csp_violations(app, page):
    with LiveServer(app) as server:
        response = page.goto(server.url + "/")
        assert response.status == 200
        assert page.title().endswith("Community governance")
        assert page.locator("h1").first.inner_text() == "Community governance"
        assert page.locator("link[rel=stylesheet]").count() == 1
        # The stylesheet really applied (a CSP block would leave default styles).
        assert page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor") \
            == "rgb(23, 32, 51)"
        assert page.watch.errors == []
        response = page.goto(server.url + "/no-such-page")
        assert response.status == 404 and "Not found" in page.content()
    # The only console message is the browser's own note about the 404 status itself.
    assert all("404" in e for e in page.watch.errors)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_csp_violation_would_be_caught(app, page):
    """The watcher itself works: an inline script on a page with our CSP is reported."""

    @app.get("/inline-script-probe")
    def probe():
        return "<!doctype html><title>x</title><script>document.title='ran'</script>"

    with LiveServer(app) as server:
        page.goto(server.url + "/inline-script-probe")
        assert page.title() == "x"  # the inline script was blocked
    assert any("CSP violation" in e or "Refused to execute" in e for e in page.watch.errors)

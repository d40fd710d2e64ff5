"""Playwright driving Debian's Chromium (/usr/bin/chromium); no browser is ever downloaded."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

CHROMIUM = os.environ.get("GOVERNANCE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: the README's test command installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (run the README's test command)")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="governance-chromium-")
    with sync_playwright() as pw:
        # Playwright manages the profile itself (a --user-data-dir argument is refused by launch()).
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                                     env={**os.environ, "HOME": profile})
        yield browser
        browser.close()
    shutil.rmtree(profile, ignore_errors=True)


class PageWatch:
    """Collects console errors, CSP violations and page errors of one page."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => "
            "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
        )


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.watch = PageWatch(page)
    yield page
    context.close()

"""A poll decrypted by three trustees, end to end in Chromium with the real ``governance-trustee``.

Each trustee logs in through the stand-in forum, opens their trustee page, runs exactly the
commands it shows (downloads, then ``governance-trustee`` as a separate process with its own private
state file in its own folder), and uploads the file it wrote through the page's form. The ceremony's
three rounds, a member's vote encrypted in the browser, the close, three mixes, two decryptions, the
results page, and ``governance-audit verify`` of the downloaded bundle.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from governance.db import dispose as dispose_engines
from governance.polls import charter, service
from governance.polls.service import PollInput
from tests.browser.voting_support import log_in_through_forum
from tests.conftest import LiveServer, cast_ranking, make_test_app, sync_member
from tests.secrecy.support import CLOSE, NOW, OPEN

pytestmark = [pytest.mark.browser, pytest.mark.trustee_charter]

TRUSTEES = ["halvard", "ysolde_k", "bartek_m"]
BIN = Path(sys.executable).parent


def _run_shown_commands(page, folder: Path) -> None:
    """Do what the trustee page's command box says: fetch each file, run each governance-trustee line."""
    folder.mkdir(exist_ok=True)
    assert page.locator("#command").count() == 1, page.locator("main").inner_text()
    for line in page.locator("#command").inner_text().splitlines():
        words = shlex.split(line)
        if not words:
            continue
        if words[0] == "curl":
            assert words[1] == "-o"
            with urllib.request.urlopen(words[3], timeout=10) as response:  # loopback: the live server
                (folder / words[2]).write_bytes(response.read())
        else:
            assert words[0] == "governance-trustee", line
            done = subprocess.run([str(BIN / "governance-trustee"), *words[1:]], cwd=folder, capture_output=True,
                                  text=True, timeout=120)
            assert done.returncode == 0, done.stderr


def _upload(page, path: Path) -> str:
    page.set_input_files("#file", str(path))
    with page.expect_navigation():
        page.get_by_role("button", name="Upload", exact=True).click()
    return page.locator(".flashes").inner_text()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_three_trustees_from_key_ceremony_to_a_verified_count(database_url, forum, browser, tmp_path, keys):
    app = make_test_app(database_url, DISCOURSE_URL=forum.url, DISCOURSE_CONNECT_SECRET=forum.sso_secret,
                        DISCOURSE_API_KEY=forum.api_key, DISCOURSE_API_USERNAME=forum.api_username, FAKE_NOW=NOW)
    server = LiveServer(app)
    app.config["BASE_URL"] = server.url
    from governance.db import get_session

    with app.app_context():
        db = get_session()
        chair = sync_member(db, forum, "tamsin_ward")
        for name in TRUSTEES:
            sync_member(db, forum, name)
        data = PollInput(body="community", kind="decision", method="irv", title="Trusted release name",
                         options=["Ash", "Birch", "Cedar"], opens_at=OPEN, closes_at=CLOSE, trustees=TRUSTEES)
        poll = service.create(session=db, actor=chair, charter=charter.current(db), data=data)
        service.schedule(session=db, actor=chair, charter=charter.current(db), poll=poll, now=NOW)
        db.commit()
        poll_id = poll.id
    contexts = {name: browser.new_context() for name in TRUSTEES}
    pages = {name: contexts[name].new_page() for name in TRUSTEES}
    folders = {name: tmp_path / name for name in TRUSTEES}
    try:
        with server:
            for name in TRUSTEES:
                log_in_through_forum(pages[name], _Site(server.url, forum), name, f"/polls/{poll_id}")
                assert "You are a trustee of this poll" in pages[name].locator("main").inner_text()
                pages[name].get_by_role("link", name="Your tasks as a trustee").click()
            for round_file in ("certificate.json", "shares.json", "key.json"):  # the ceremony's rounds
                for name in TRUSTEES:
                    pages[name].reload()
                    _run_shown_commands(pages[name], folders[name])
                    assert "accepted" in _upload(pages[name], folders[name] / round_file)
            for name in TRUSTEES:
                state = folders[name] / "state.json"
                assert stat.S_IMODE(os.stat(state).st_mode) == 0o600  # the trustee's secret stays private
            page = pages[TRUSTEES[0]]
            page.goto(f"{server.url}/polls/{poll_id}")
            assert "key ceremony" not in page.locator("main").inner_text()

            # Voting opens with the trustees' key; members vote (one in the browser, encrypted there).
            app.config["FAKE_NOW"] = OPEN + timedelta(minutes=1)
            page.goto(f"{server.url}/polls/{poll_id}")
            assert page.locator("h1 .badge").inner_text() == "open"
            with app.app_context():
                db = get_session()
                for n, name in enumerate(["marlow_p", "inkwell", "rackham", "cadence"]):
                    cast_ranking(app, db, poll_id, sync_member(db, forum, name),
                                 [["Ash"]] if n % 2 else [["Birch"], ["Ash"]], OPEN + timedelta(minutes=2))
                    db.commit()
            voter = browser.new_context().new_page()
            log_in_through_forum(voter, _Site(server.url, forum), "quillon", f"/polls/{poll_id}/ballot")
            voter.get_by_role("button", name="Rank Ash").click()
            voter.get_by_role("button", name="Review my ballot").click()
            with voter.expect_navigation():
                voter.get_by_role("button", name="Cast this ballot").click()
            assert voter.locator("h1").inner_text() == "Ballot recorded"
            for name in TRUSTEES:  # `governance-trustee check`: the parameters hold my key
                pages[name].goto(f"{server.url}/polls/{poll_id}/trustee")
                _run_shown_commands(pages[name], folders[name])

            # The close, then each trustee's mix, then two decryptions.
            app.config["FAKE_NOW"] = CLOSE + timedelta(minutes=1)
            page.goto(f"{server.url}/polls/{poll_id}")
            assert "Counting" in page.locator("main").inner_text()
            for name in TRUSTEES:
                pages[name].goto(f"{server.url}/polls/{poll_id}/trustee")
                _run_shown_commands(pages[name], folders[name])
                assert "uploaded" in _upload(pages[name], folders[name] / "mix.json")
            for name in TRUSTEES[:2]:
                pages[name].goto(f"{server.url}/polls/{poll_id}/trustee")
                _run_shown_commands(pages[name], folders[name])
                assert "uploaded" in _upload(pages[name], folders[name] / "decryption.json")
            page.goto(f"{server.url}/polls/{poll_id}")
            assert page.locator("h1 .badge").inner_text() == "published"
            page.get_by_role("link", name="See the results").click()
            assert page.locator("#elected li").all_inner_texts() == ["Ash"]
            with urllib.request.urlopen(f"{server.url}/audit/polls/{poll_id}/bundle.zip", timeout=20) as response:
                (tmp_path / "bundle.zip").write_bytes(response.read())
            (tmp_path / "server.pem").write_bytes(keys[1])
            done = subprocess.run([str(BIN / "governance-audit"), "verify", str(tmp_path / "bundle.zip"),
                                   "--public-key", str(tmp_path / "server.pem")], capture_output=True, text=True,
                                  timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "3 mixes by trustee(s) 1, 2, 3" in done.stdout and "trustee(s) 1, 2 decrypted" in done.stdout
            # No trustee secret ever reached the platform: the bundle holds none of their shares.
            bundle = (tmp_path / "bundle.zip").read_bytes()
            for name in TRUSTEES:
                share = json.loads((folders[name] / "state.json").read_text())["secret_share"]
                assert share.encode() not in bundle
    finally:
        for context in contexts.values():
            context.close()
        dispose_engines(app)


class _Site:
    """What log_in_through_forum needs of a site."""

    def __init__(self, url, forum):
        self.url, self.forum = url, forum

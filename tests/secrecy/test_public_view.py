"""What the public can learn while a poll is open: who voted, the encrypted ballots, turnout; never
a ballot's content, never a member next to a ballot (docs/secrecy.md §3).

Played as a member of the public who downloads every public page and file of an open poll and
tries what worked before ballots were encrypted: hashing every possible ranking against what the
log shows for each tracker.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re

from governance.audit.canonical import canonical_json
from tests.secrecy.support import OPEN, OPTIONS, open_poll, vote


def _all_rankings():
    for k in range(len(OPTIONS) + 1):
        for perm in itertools.permutations(OPTIONS, k):
            yield [[o] for o in perm]


def test_an_open_poll_shows_no_vote_and_no_voter_next_to_a_ballot(app, session):
    poll_id = open_poll(app, session)
    voted = vote(app, session, poll_id, count=8)
    app.config["FAKE_NOW"] = OPEN
    client = app.test_client()  # not logged in
    pages = {path: client.get(path) for path in (
        f"/polls/{poll_id}", f"/polls/{poll_id}/board", f"/polls/{poll_id}/board.jsonl",
        f"/polls/{poll_id}/election.json", "/audit/", f"/audit/?poll={poll_id}", "/audit/head")}
    entries = client.get(f"/audit/?poll={poll_id}").get_data(as_text=True)
    for seq in sorted(set(re.findall(r"/audit/entries/(\d+)", entries))):
        pages[f"/audit/entries/{seq}"] = client.get(f"/audit/entries/{seq}")
    for trackers in voted.trackers.values():
        pages[f"/polls/{poll_id}/receipt/{trackers[-1]}"] = client.get(f"/polls/{poll_id}/receipt/{trackers[-1]}")
    texts = {}
    for path, response in pages.items():
        assert response.status_code in (200, 302), path
        texts[path] = response.get_data(as_text=True)
    everything = "\n".join(texts.values())
    # No member's name appears on any of these pages next to ballots (the chair's on its own entries).
    for name in voted.trackers:
        assert name not in everything, name
    # No credential can be tied to a member: the only place a member sees theirs is their own ballot page.
    credentials = set(voted.credentials.values())
    assert all(c in texts[f"/polls/{poll_id}/board.jsonl"] for c in credentials)  # public pseudonyms
    # Results do not exist yet.
    assert client.get(f"/polls/{poll_id}/results").status_code == 409
    assert client.get(f"/polls/{poll_id}/ballots").status_code == 409
    # The old attack: hash each possible ranking with each tracker and look for it anywhere public.
    candidates = set()
    for trackers in voted.trackers.values():
        for tracker in trackers:
            for ranking in _all_rankings():
                candidates.add(hashlib.sha256(canonical_json({"tracker": tracker, "ranking": ranking})).hexdigest())
    found = [h for h in candidates if h in everything]
    assert found == []
    # The board's ballots are ciphertexts only: no option label inside any of them.
    for line in texts[f"/polls/{poll_id}/board.jsonl"].splitlines():
        ballot = json.loads(line)["ballot"]
        assert set(ballot) == {"credential", "ciphertexts", "proof"}
        assert not any(label in json.dumps(ballot) for label in OPTIONS)
    # Ballot entries of the log name a tracker and a credential, and the hour only.
    for path, text in texts.items():
        if path.startswith("/audit/entries/") and "ballot.cast" in text:
            assert re.search(r"T\d\d:00:00Z", text), path

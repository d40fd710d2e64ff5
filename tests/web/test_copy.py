"""English copy, checked at the source: every template and every message string in the project,
and the pages and posts people read.

The scan fails on the mistakes a reader reported ("a election", "1 days", "three to one (3:1)"
offered for 3/4, a reason lower-cased by ``|capitalize``, "decision (Schulze (Condorcet))"); the
fix is the one helper, ``governance.copy``, never a second hand-made plural.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from governance import copy
from governance.polls.methods import METHOD_NAMES
from tests.polls.test_lifecycle import committee  # noqa: F401  (a fixture)
from tests.web.test_polls_web import web  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
# Messages people read on pages and in forum posts: the web layer, the poll and document services,
# the eligibility rule. Left out: the command-line tools' reports (tally, crypto, audit, `flask forum
# sync`), the stand-in forum, and proposals/charter_rules.py, whose text is the charter itself, hashed
# into every published charter version (rewording it is a charter change, not a copy fix).
SOURCES = [p for p in sorted((ROOT / "governance").rglob("*.py"))
           if p.relative_to(ROOT).parts[1] in ("web", "polls", "proposals", "copy.py")
           and p.name not in ("charter_rules.py", "commands.py")] + [ROOT / "governance/identity/eligibility.py"]

TEMPLATE_MISTAKES = {
    "hand-made plural": re.compile(r"\{\{ *'s' if|\{\{ *\"s\" if|\(s\)"),
    "a count of days not through |plural": re.compile(r"\}\} days\b"),
    "'a' before a word that may start with a vowel": re.compile(r"\ban? \{\{"),
    "three to one for 3/4": re.compile(r"3:1|three to one"),
    "|capitalize on a message (it lower-cases month names)": re.compile(r"(reason|message|r)\|capitalize"),
}
SOURCE_MISTAKES = {
    "'a' before a poll kind": re.compile(r"\ba \{(data|poll|self)\.kind\}"),
    "a count of days not through plural()": re.compile(r"\{(?![A-Z_]+\})[^{}]*\} days\b"),  # constants are > 1
    "hand-made plural": re.compile(r"(?<!http)\(s\)"),
    ".capitalize() of a message (it lower-cases month names)": re.compile(r"\)\.capitalize\(\)"),
}


def _strings(path: Path) -> list[tuple[int, str]]:
    """The string literals of a module with their lines (f-strings as written)."""
    source = path.read_text()
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr | ast.Constant) and (isinstance(node, ast.JoinedStr)
                                                                or isinstance(node.value, str)):
            out.append((node.lineno, ast.get_source_segment(source, node) or ""))
    return sorted(set(out))


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_have_none_of_the_reported_mistakes(path):
    found = [f"{path.name}:{n}: {what}: {line.strip()[:100]}"
             for n, line in enumerate(path.read_text().splitlines(), 1)
             for what, pattern in TEMPLATE_MISTAKES.items() if pattern.search(line)]
    assert found == []


def test_messages_in_the_code_have_none_of_the_reported_mistakes():
    found = [f"{path.relative_to(ROOT)}:{line}: {what}: {text[:100]}"
             for path in SOURCES for line, text in _strings(path)
             for what, pattern in SOURCE_MISTAKES.items() if pattern.search(text)]
    # Method calls are not strings: catch ``.capitalize()`` on a message in code too.
    found += [f"{path.relative_to(ROOT)}: .capitalize()" for path in SOURCES
              if ").capitalize()" in path.read_text()]
    assert found == []


def test_the_scan_catches_each_mistake():
    """The patterns are not dead: each flags the sentence that was reported."""
    assert TEMPLATE_MISTAKES["hand-made plural"].search("{{ n }} voter{{ 's' if n != 1 }}")
    assert TEMPLATE_MISTAKES["a count of days not through |plural"].search("{{ rule.voting_days }} days")
    assert TEMPLATE_MISTAKES["'a' before a word that may start with a vowel"].search("hold a {{ kind }}")
    assert SOURCE_MISTAKES["'a' before a poll kind"].search('f"hold a {data.kind}"')
    assert SOURCE_MISTAKES["a count of days not through plural()"].search('f"at least {days} days"')


@pytest.mark.parametrize("kind", ["election", "decision", "referendum"])
def test_kinds_take_the_right_article(kind):
    assert copy.article(kind) == ("an election" if kind == "election" else f"a {kind}")


def test_one_day_is_a_day():
    from governance.identity.eligibility import Rule

    assert "at least 1 day old" in Rule(min_account_age_days=1).describe()
    assert "at least 2 days old" in Rule(min_account_age_days=2).describe()


def test_forum_posts_name_the_method_without_nested_brackets():
    from governance.models import Poll
    from governance.polls.outbox import announcement

    for method in ("schulze", "ranked-pairs", "irv", "meek"):
        poll = Poll(id=1, body="community", kind="election" if method == "meek" else "decision", method=method,
                    title="T", seats=2, eligibility={}, tie_seed="s")
        _title, raw = announcement(poll, "http://x")
        kind_line = next(line for line in raw.splitlines() if line.startswith("* Kind:"))
        assert "((" not in kind_line and "))" not in kind_line, kind_line
        assert METHOD_NAMES[method].split(" (")[0] in kind_line
    assert "election counted by Meek STV, 2 seats" in raw


def test_errors_on_the_poll_form_are_sentences(forum_app, web, session, committee):  # noqa: F811
    from tests.conftest import csrf_token, login

    login(forum_app, web, committee)
    token = csrf_token(web, "/polls/new")
    page = web.post("/polls/new", data={"csrf_token": token, "body": "community", "kind": "election",
                                        "method": "irv", "title": "", "seats": "2", "quorum": "-1"})
    assert page.status_code == 400
    items = re.findall(r"<li>(.*?)</li>", page.get_data(as_text=True).split('id="form-errors"')[1].split("</ul>")[0])
    assert items and all(re.match(r"[A-Z].*[.?!]$", item) for item in items), items
    assert "An election is counted with Meek STV, Scottish STV." in items  # not "A election"

"""Wording helpers for pages and messages: counts with the right plural, nouns with the right
article, messages as sentences, fractions and method names in words.

Boundary rule: plain Python (no Flask, no database, nothing from the project), so services and pure
rules use it as pages do; ``web.filters`` registers these as template
filters and views call them directly. Every count and every kind shown to people goes through
here, so "1 days" and "a election" cannot come back one template at a time (a test renders the
pages and scans the templates).
"""

from __future__ import annotations

import re
from fractions import Fraction


def N_(text: str) -> str:
    """Mark ``text`` for translation without translating it here (a pure module cannot know the
    reader's language): the page translates it with ``gettext(text)``. ``scripts/translations``
    extracts every ``N_("...")``.

    >>> N_("Meek STV")
    'Meek STV'
    """
    return text


class Message(str):
    """An English message that remembers how it was made, so a page can say it in the reader's
    language: ``Message("you are %(age)s", age=...)`` is the English text (a plain ``str`` to
    everything else), with ``msgid`` and ``params`` for ``web.i18n.translate``. Services stay
    pure and keep speaking English to logs, audit records and the command line.

    >>> m = Message("this poll needs trust level %(level)s", level=2)
    >>> m, m.msgid, m.params
    ('this poll needs trust level 2', 'this poll needs trust level %(level)s', {'level': 2})
    """

    msgid: str
    params: dict

    def __new__(cls, msgid: str, **params):
        made = super().__new__(cls, msgid % params if params else msgid)
        made.msgid, made.params = msgid, params
        return made


class Counted(str):
    """``plural()``'s answer ("3 days"), with the count and noun it was made from."""

    count: int
    noun: str
    plural_form: str | None


class Day(str):
    """A date as messages write it ("2 May 2024"), with the moment it was made from."""

    moment: object


class Capital(str):
    """A message with its first letter made capital (``capital()``), keeping the message it was made from."""

    inner: str


def capital(text: str) -> Capital:
    """``text`` with a capital first letter; a page capitalises it after translating ``text``.

    >>> capital("give the new closing time")
    'Give the new closing time'
    """
    made = Capital(text[:1].upper() + text[1:])
    made.inner = text
    return made


class Moment(str):
    """A time as messages write it ("05 December 2026 14:05 UTC"), with the moment it was made from."""

    moment: object


def moment(value) -> Moment:
    """A time (UTC) in words, as messages write it.

    >>> from datetime import datetime
    >>> moment(datetime(2026, 12, 5, 14, 5))
    '05 December 2026 14:05 UTC'
    """
    made = Moment(f"{value:%d %B %Y %H:%M} UTC")
    made.moment = value
    return made


def day(value) -> Day:
    """A date in words, as messages write it.

    >>> from datetime import datetime
    >>> day(datetime(2024, 5, 2))
    '2 May 2024'
    """
    made = Day(f"{value.day} {value:%B %Y}")
    made.moment = value
    return made


#: Plurals that do not just add "s".
IRREGULAR = {"person": "people", "ballot box": "ballot boxes", "abstention": "abstentions", "reply": "replies",
             "body": "bodies", "quorum": "quorums", "tie": "ties", "match": "matches", "class": "classes"}

#: Words spelled with a vowel that sound like a consonant, and the reverse.
_CONSONANT_SOUND = ("uni", "use", "user", "usual", "euro", "one", "once")
_VOWEL_SOUND = ("hour", "honest", "honour", "heir")


def plural_of(noun: str) -> str:
    """The plural of ``noun``.

    >>> plural_of("day"), plural_of("ballot"), plural_of("body"), plural_of("person")
    ('days', 'ballots', 'bodies', 'people')
    """
    if noun in IRREGULAR:
        return IRREGULAR[noun]
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``count`` and ``noun``, made plural unless the count is one.

    >>> plural(1, "day"), plural(0, "day"), plural(2, "voter"), plural(1_234, "ballot")
    ('1 day', '0 days', '2 voters', '1,234 ballots')
    """
    word = noun if count == 1 else (plural_form or plural_of(noun))
    number = f"{count:,}" if isinstance(count, int) else str(count)
    made = Counted(f"{number} {word}")
    made.count, made.noun, made.plural_form = count, noun, plural_form
    return made


def article(noun: str) -> str:
    """``noun`` with "a" or "an" before it.

    >>> article("election"), article("decision"), article("hour"), article("user"), article("SIG")
    ('an election', 'a decision', 'an hour', 'a user', 'an SIG')
    >>> article("signature"), article("URL"), article("IRV count")
    ('a signature', 'a URL', 'an IRV count')
    """
    word = noun.strip()
    lower = word.lower()
    acronym = len(word) > 1 and word[:2].isupper()
    if acronym:  # said letter by letter: "an SIG", "a URL"
        return f"{'an' if word[0] in 'AEFHILMNORSX' else 'a'} {word}"
    if lower.startswith(_VOWEL_SOUND):
        return f"an {word}"
    if lower.startswith(_CONSONANT_SOUND):
        return f"a {word}"
    return f"{'an' if lower[:1] in 'aeiou' else 'a'} {word}"


def sentence(text: str) -> str:
    """A message as a sentence: a capital first letter and a full stop.

    >>> sentence("enter a whole number"), sentence("Done."), sentence("is it?"), sentence("")
    ('Enter a whole number.', 'Done.', 'Is it?', '')
    """
    text = (text or "").strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?:…" else text + "."


_FRACTION_WORDS = {Fraction(1, 2): "half", Fraction(2, 3): "two thirds", Fraction(3, 4): "three quarters",
                   Fraction(3, 5): "three fifths", Fraction(1, 3): "one third", Fraction(1, 4): "one quarter"}


def fraction_words(text: str) -> str:
    """A threshold such as "3/4" in words, with the fraction beside it.

    >>> fraction_words("3/4"), fraction_words("2/3"), fraction_words("5/8")
    ('three quarters (3/4)', 'two thirds (2/3)', '5/8')
    """
    try:
        value = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        return str(text)
    words = _FRACTION_WORDS.get(value)
    return f"{words} ({value.numerator}/{value.denominator})" if words else f"{value.numerator}/{value.denominator}"


def method_phrase(kind: str, method_name: str) -> str:
    """A poll's kind and counting method in one phrase, without nested brackets.

    >>> method_phrase("decision", "Schulze (Condorcet)")
    'decision counted by the Schulze method (Condorcet)'
    >>> method_phrase("election", "Meek STV")
    'election counted by Meek STV'
    """
    name = method_name
    match = re.fullmatch(r"(\w[\w ]*?) \((.+)\)", method_name)
    if match:
        name = f"the {match.group(1)} method ({match.group(2)})"
    return f"{kind} counted by {name}"


def figure(value, places: int = 2) -> str:
    """A count for display: whole numbers as they are, others to ``places`` decimals.

    >>> figure(3), figure("11.250000001"), figure(0.374999999), figure("7")
    ('3', '11.25', '0.37', '7')
    """
    if value is None or value == "":
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    try:
        number = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return str(value)
    if number.denominator == 1:
        return f"{number.numerator:,}"
    shown = f"{float(number):,.{places}f}"
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


def percent(part: int, whole: int | None) -> str:
    """``part`` of ``whole`` as a percentage, or "" when the whole is unknown.

    >>> percent(3, 8), percent(0, 8), percent(2, None), percent(1, 3)
    ('38%', '0%', '', '33%')
    """
    if not whole:
        return ""
    return f"{round(100 * part / whole)}%"

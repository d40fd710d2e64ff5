"""Languages: which one a page is in, the footer's switch, and counts in words of that language.

The language of a request, first that applies: the one the reader chose with the footer's switch
(kept in the session), the locale of their forum account (read at login and kept in the session,
not in the database), their browser's Accept-Language (best match), English. Catalogues live in
``governance/translations`` (``scripts/translations`` extracts, updates and compiles them).

What stays English whatever the page's language: audit event texts (they are signed records),
the charter's own rules text (hashed into every published version) and the command-line tools.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, redirect, request, session
from flask_babel import Babel, get_locale, gettext, lazy_gettext, ngettext

from ..identity.redirects import safe_next

#: Languages shipped, the first being the one the source is written in.
LANGUAGES = ("en", "de")
NAMES = {"en": "English", "de": "Deutsch"}
#: Session keys: the reader's own choice, and the locale their forum account gave at login.
CHOSEN = "lang"
FORUM = "forum_locale"

babel = Babel()
bp = Blueprint("i18n", __name__)


def supported(value: object) -> str | None:
    """The shipped language a locale such as ``de_AT`` or ``de-CH`` names, or None.

    >>> supported("de_AT"), supported("de-CH"), supported("EN"), supported("fr"), supported(None)
    ('de', 'de', 'en', None, None)
    """
    if not isinstance(value, str) or not value:
        return None
    language = value.replace("-", "_").split("_")[0].lower()
    return language if language in LANGUAGES else None


def select_locale() -> str:
    """The language of this request (see the module's docstring)."""
    for key in (CHOSEN, FORUM):
        if (language := supported(session.get(key))) is not None:
            return language
    return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]


def current_language() -> str:
    """The active language's code, e.g. ``de``."""
    return str(get_locale() or LANGUAGES[0])


def count(number: int, singular: str, plural: str) -> str:
    """A count with the noun the language wants: ``count(n, '%(num)s ballot', '%(num)s ballots')``.

    English gives what ``copy.plural`` gives ("1 ballot", "1,234 ballots"); other languages the
    catalogue's forms, with the number grouped as that language groups it ("1.234 Stimmzettel").
    """
    return ngettext(singular, plural, number)


#: Words the code keeps as keys (kinds, statuses, change kinds), as pages show them.
WORDS = {
    "election": lazy_gettext("election"), "decision": lazy_gettext("decision"),
    "referendum": lazy_gettext("referendum"),
    "draft": lazy_gettext("draft"), "scheduled": lazy_gettext("scheduled"), "open": lazy_gettext("open"),
    "nominations": lazy_gettext("nominations"), "voting": lazy_gettext("voting"),
    "certifying": lazy_gettext("certifying"), "closed": lazy_gettext("closed"),
    "published": lazy_gettext("published"), "cancelled": lazy_gettext("cancelled"),
    "discussion": lazy_gettext("discussion"), "approved": lazy_gettext("approved"),
    "applied": lazy_gettext("applied"), "conflicted": lazy_gettext("conflicted"),
    "withdrawn": lazy_gettext("withdrawn"), "pending": lazy_gettext("pending"),
    "accepted": lazy_gettext("accepted"), "refused": lazy_gettext("refused"),
    "changed": lazy_gettext("changed"), "inserted": lazy_gettext("inserted"), "removed": lazy_gettext("removed"),
    "moved": lazy_gettext("moved"), "unchanged": lazy_gettext("unchanged"),
    "yes": lazy_gettext("yes"), "no": lazy_gettext("no"),
    "detail": lazy_gettext("detail"), "revision": lazy_gettext("revision"), "added": lazy_gettext("added"),
    "adopted": lazy_gettext("adopted"), "rejected": lazy_gettext("rejected"),
}


def word(key: object) -> str:
    """A kind or status key as the page's language says it (an unknown key as it is)."""
    return str(WORDS.get(key, key)) if isinstance(key, str) else str(key)


def translate(message: object) -> str:
    """A service's message in the page's language: a ``copy.Message`` by its msgid, with its
    counts, dates and nested messages said in that language too; any other text as it is (or by
    the catalogue, when it is one of its msgids)."""
    from .. import copy

    if isinstance(message, copy.Counted):
        from .filters import plural

        return plural(message.count, message.noun, message.plural_form)
    if isinstance(message, copy.Day):
        if current_language() == "en":
            return str(message)
        from babel.dates import format_date

        return format_date(message.moment, gettext("d MMMM y"), locale=current_language())
    if isinstance(message, copy.Capital):
        text = translate(message.inner)
        return text[:1].upper() + text[1:]
    if isinstance(message, copy.Moment):
        if current_language() == "en":
            return str(message)
        from datetime import UTC

        from babel.dates import format_datetime

        value = message.moment
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return format_datetime(value, gettext("dd MMMM y HH:mm 'UTC'"), tzinfo=UTC, locale=current_language())
    if isinstance(message, copy.Message):
        params = {key: translate(value) if isinstance(value, str) else value for key, value in message.params.items()}
        return gettext(message.msgid, **params) if params else gettext(message.msgid)
    if isinstance(message, str) and message:
        return gettext(message)  # a msgid marked where it was written (N_), or the text as it is
    return str(message) if message is not None else ""


def method_names() -> dict[str, str]:
    """The counting methods' names in the page's language."""
    from ..polls.methods import METHOD_NAMES

    return {key: gettext(name) for key, name in METHOD_NAMES.items()}


def unranked_meaning(method: str) -> str:
    """What leaving an option unranked means under ``method``, in the page's language."""
    from ..polls.methods import UNRANKED_MEANING

    text = UNRANKED_MEANING.get(method, "")
    return gettext(text) if text else ""


def kind_name(kind: str) -> str:
    """A poll's kind in the page's language."""
    return word(kind)


@bp.get("/language")
def switch():
    """The footer's switch: ``/language?lang=de&next=/polls`` keeps the choice and goes back."""
    language = request.args.get("lang", "")
    if language not in LANGUAGES:
        abort(400, description=gettext("There is no such language here."))
    session[CHOSEN] = language
    return redirect(safe_next(request.args.get("next")), 303)


def keep_choice_across(clear) -> None:
    """Run ``clear`` (the session's reset at login) without losing the reader's language choice."""
    chosen = session.get(CHOSEN)
    clear()
    if chosen in LANGUAGES:
        session[CHOSEN] = chosen


def init_app(app: Flask) -> None:
    """Set up Flask-Babel and the switch."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.policies["ext.i18n.trimmed"] = True  # {% trans %} blocks as one line of text
    app.register_blueprint(bp)
    app.add_template_global(current_language, "current_language")
    app.add_template_global(lambda: [(code, NAMES[code]) for code in LANGUAGES], "languages")
    app.add_template_filter(count, "count")
    app.add_template_filter(word, "word")
    app.add_template_filter(translate, "translate")
    app.add_template_global(lambda rule: rule.describe(translate), "describe_rule")

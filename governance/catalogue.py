"""The translation catalogues for texts made outside a request (forum messages the clock sends).

Boundary rule: Babel only (no Flask, no database), so services use it as pages use Flask-Babel.
``texts(None)`` and any language not shipped give the English the code is written in.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.support import NullTranslations, Translations

DIRECTORY = Path(__file__).resolve().parent / "translations"


class Texts:
    """``gettext`` and ``ngettext`` in one language, with ``%(name)s`` parameters filled in."""

    def __init__(self, translations: NullTranslations, language: str) -> None:
        self._t = translations
        self.language = language

    def gettext(self, msgid: str, **params) -> str:
        """``msgid`` in this language.

        >>> texts("de").gettext("Reminders"), texts(None).gettext("Reminders")
        ('Erinnerungen', 'Reminders')
        """
        text = self._t.gettext(msgid)
        return text % params if params else text

    def ngettext(self, singular: str, plural: str, number: int, **params) -> str:
        """The form for ``number``; ``%(num)s`` is the number."""
        params.setdefault("num", number)
        return self._t.ngettext(singular, plural, number) % params


@lru_cache(maxsize=8)
def texts(language: str | None) -> Texts:
    """The texts of ``language`` (``de``, ``de_AT``, ...), English when it is not shipped."""
    code = (language or "en").replace("-", "_").split("_")[0].lower()
    if code == "en" or not (DIRECTORY / code / "LC_MESSAGES" / "messages.mo").exists():
        return Texts(NullTranslations(), "en")
    return Texts(Translations.load(str(DIRECTORY), [code]), code)

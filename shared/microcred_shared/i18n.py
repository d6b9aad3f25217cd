"""Translations of the pages and e-mails, and the choice of language.

Catalogues are gettext ``.po`` files read with Babel from a package's ``locales/`` folder. The
language is an explicit choice, then the remembered one, then the browser's preference, then
English (the source language).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

#: Languages of the pages, as (code, name in that language); English is the source language.
LANGUAGES = (("en", "English"), ("pt", "Português"), ("de", "Deutsch"))
CODES = tuple(code for code, _ in LANGUAGES)
DEFAULT = "en"


def choose_language(query: str | None, cookie: str | None, accept_language: str) -> str:
    for explicit in (query, cookie):
        if explicit in CODES:
            return explicit
    preferred = []
    for part in accept_language.split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        if tag:
            preferred.append((weight, tag.replace("_", "-")))
    for _, tag in sorted(preferred, key=lambda item: -item[0]):
        language = tag.split("-")[0].lower()
        if language in CODES:
            return language
    return DEFAULT


def spoken(language: str | None) -> str:
    """The primary language of ``language`` (``pt-BR``: ``pt``) if spoken here, else English."""
    primary = (language or "").replace("_", "-").split("-")[0].lower()
    return primary if primary in CODES else DEFAULT


class Translator:
    """gettext for one language; untranslated messages stay in English."""

    def __init__(self, language: str, catalog: Catalog | None) -> None:
        self.language = language
        self._messages: dict[str, str] = {}
        if catalog is not None:
            for message in catalog:
                if message.id and isinstance(message.id, str) and message.string:
                    self._messages[message.id] = str(message.string)

    @staticmethod
    @functools.cache
    def load(package: str, language: str) -> Translator:
        """The translator of ``package``'s ``locales/<language>.po`` (English needs none)."""
        if language == DEFAULT:
            return Translator(language, None)
        source = resources.files(package) / "locales" / f"{language}.po"
        with source.open("rb") as handle:
            return Translator(language, read_po(handle, locale=Locale.parse(language)))

    def gettext(self, message: str, **variables: Any) -> str:
        translated = self._messages.get(message, message)
        return translated % variables if variables else translated

    def ngettext(self, singular: str, plural: str, count: int, **variables: Any) -> str:
        chosen = singular if count == 1 else plural
        return self.gettext(chosen, **{"num": count, **variables})

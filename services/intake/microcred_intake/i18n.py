"""Translations of intake's pages (``locales/*.po``); the machinery is shared."""

from __future__ import annotations

from microcred_shared.i18n import CODES, DEFAULT, LANGUAGES, choose_language
from microcred_shared.i18n import Translator as _SharedTranslator

__all__ = ["CODES", "DEFAULT", "LANGUAGES", "Translator", "choose_language"]


class Translator(_SharedTranslator):
    @classmethod
    def for_language(cls, language: str) -> _SharedTranslator:
        return cls.load("microcred_intake", language)

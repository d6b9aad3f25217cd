"""Rendering the notifier's pages and e-mails in the learner's language (Jinja2 + gettext)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from babel.dates import format_date
from jinja2 import Environment, PackageLoader, select_autoescape

from microcred_shared.i18n import DEFAULT, LANGUAGES, Translator, spoken

PACKAGE = "microcred_notifier"

templates = Environment(
    loader=PackageLoader(PACKAGE, "templates"),
    autoescape=select_autoescape(["html", "html.j2"]),
    extensions=["jinja2.ext.i18n"],
)


def translator(language: str | None) -> Translator:
    return Translator.load(PACKAGE, spoken(language))


def long_date(moment: date | datetime | None, language: str) -> str:
    if moment is None:
        return ""
    day = moment.date() if isinstance(moment, datetime) else moment
    return format_date(day, format="long", locale=spoken(language))


def render(name: str, language: str | None = DEFAULT, **context: Any) -> str:
    """``name`` rendered in ``language``; rendering is synchronous, so the install is safe."""
    speaking = translator(language)
    templates.install_gettext_callables(  # type: ignore[attr-defined]
        speaking.gettext, speaking.ngettext, newstyle=True
    )
    return templates.get_template(name).render(
        language=speaking.language,
        languages=LANGUAGES,
        long_date=lambda moment: long_date(moment, speaking.language),
        **context,
    )


def gettext(language: str | None, message: str, **variables: Any) -> str:
    return translator(language).gettext(message, **variables)

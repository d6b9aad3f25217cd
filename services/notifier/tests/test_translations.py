"""Every message of the notifier's pages and e-mails is translated, placeholders intact."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from babel.messages.pofile import read_po

from microcred_notifier.texts import render

PACKAGE = resources.files("microcred_notifier")
#: ``_('…')`` in templates and ``gettext(language, "…")`` in code.
_IN_TEMPLATES = re.compile(r"""_\(\s*(['"])((?:\\.|(?!\1).)*)\1""", re.DOTALL)
_IN_CODE = re.compile(r'(?:gettext\(\s*language,|translatable\()\s*"([^"]+)"')
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def messages() -> set[str]:
    found: set[str] = set()
    templates = PACKAGE / "templates"
    for folder in (templates, templates / "email"):
        for entry in folder.iterdir():
            if entry.name.endswith(".j2"):
                found |= {m.group(2) for m in _IN_TEMPLATES.finditer(entry.read_text())}
    for module in ("handlers.py", "claims.py", "pages.py"):
        found |= set(_IN_CODE.findall((PACKAGE / module).read_text()))
    return found


@pytest.mark.parametrize("language", ["pt", "de"])
def test_every_message_is_translated(language: str) -> None:
    with (PACKAGE / "locales" / f"{language}.po").open("rb") as handle:
        catalog = {m.id: m.string for m in read_po(handle) if m.id}
    wanted = messages()
    assert len(wanted) > 100  # the extraction found the pages' texts
    missing = sorted(m for m in wanted if not catalog.get(m))
    assert missing == []
    for message in wanted:
        assert set(_PLACEHOLDER.findall(str(catalog[message]))) == set(
            _PLACEHOLDER.findall(message)
        ), message


def test_a_page_renders_in_the_learner_s_language() -> None:
    page = render("claim_invalid.html.j2", "de", session=None, csrf="", intake_url="", path="/")
    assert '<html lang="de">' in page
    assert "This link does not work" not in page

"""Browser tests for server-rendered pages: Playwright on the machine's Chromium, axe-core for WCAG.

Loaded as a pytest plugin (``-p microcred_shared.testing.browser``). It gives a session-wide
``browser`` and a fresh ``page`` per test, both on Playwright's async API so they share the
session's event loop with the other async fixtures, and :func:`assert_accessible`.

Chromium is Debian's (``apt-get install -y chromium``, which ``make test`` does), or the
binary named by ``MICROCRED_TEST_CHROMIUM``; Playwright's own browser builds are never downloaded.
axe-core comes from npm into ``.cache/node`` (``make test``), or from ``MICROCRED_AXE_JS``.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from microcred_shared.stack.config import find_project_root

CHROMIUM_ENV = "MICROCRED_TEST_CHROMIUM"
AXE_JS_ENV = "MICROCRED_AXE_JS"
AXE_CORE_VERSION = "4.14.1"
AXE_JS_IN_PROJECT = Path(".cache/node/node_modules/axe-core/axe.min.js")
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Playwright waits 30 s by default; a server-rendered page that takes 10 s is already a failure.
DEFAULT_TIMEOUT_MS = 10_000
# How many offending elements each violation names in the assertion message.
TARGETS_SHOWN = 3

_RUN_AXE = """
async ({tags, disabled}) => {
  const rules = Object.fromEntries(disabled.map((id) => [id, {enabled: false}]));
  const results = await window.axe.run(document, {
    runOnly: {type: 'tag', values: tags},
    rules,
    resultTypes: ['violations'],
  });
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    helpUrl: v.helpUrl,
    targets: v.nodes.map(({target}) =>
      target.length === 1 && typeof target[0] === 'string' ? target[0] : JSON.stringify(target)),
  }));
}
"""


def chromium_executable() -> str:
    """The Chromium to drive: ``$MICROCRED_TEST_CHROMIUM``, else ``chromium`` on the PATH."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        if not (Path(configured).is_file() and os.access(configured, os.X_OK)):
            pytest.fail(f"{CHROMIUM_ENV}={configured} is not an executable file", pytrace=False)
        return configured
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "browser tests need Chromium and none is on the PATH: run `make test`, or "
            "`apt-get install -y chromium` (Debian's package), or set "
            f"{CHROMIUM_ENV} to a Chromium binary (Playwright's own browsers are not used)",
            pytrace=False,
        )
    return found


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium, once per session; Playwright gives it a fresh profile and removes it."""
    executable = chromium_executable()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page in a browser context of its own (no cookies or storage shared between tests)."""
    context = await browser.new_context()
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield await context.new_page()
    finally:
        await context.close()


@dataclass(frozen=True)
class Violation:
    """One axe-core rule that failed, with the selectors of the elements that failed it."""

    id: str
    impact: str | None
    help: str
    help_url: str
    targets: tuple[str, ...]

    def describe(self) -> str:
        shown = ", ".join(self.targets[:TARGETS_SHOWN])
        more = len(self.targets) - TARGETS_SHOWN
        if more > 0:
            shown += f" and {more} more"
        return f"{self.id} [{self.impact or 'unknown'}] {self.help}: {shown} ({self.help_url})"


def axe_js_path() -> Path:
    """Where ``axe.min.js`` is: ``$MICROCRED_AXE_JS``, else npm's install under ``.cache/node``."""
    configured = os.environ.get(AXE_JS_ENV)
    path = Path(configured) if configured else find_project_root() / AXE_JS_IN_PROJECT
    if not path.is_file():
        raise FileNotFoundError(
            f"axe-core is not installed ({path} is missing): run `make test`, or "
            f"`npm install --prefix .cache/node axe-core@{AXE_CORE_VERSION}` at the project "
            f"root, or set {AXE_JS_ENV} to an axe.min.js"
        )
    return path


@functools.cache
def _read_script(path: Path) -> str:
    return path.read_text(encoding="utf-8")


async def _inject_axe(page: Page) -> None:
    if await page.evaluate("() => typeof window.axe === 'object' && !!window.axe.run"):
        return
    # Evaluated through the DevTools protocol rather than added as a <script> element, so that a
    # page's Content-Security-Policy (which should forbid inline scripts) does not block it.
    await page.evaluate(_read_script(axe_js_path()) + "\n;void 0")


def _violation(raw: dict[str, Any]) -> Violation:
    return Violation(
        id=str(raw["id"]),
        impact=None if raw.get("impact") is None else str(raw["impact"]),
        help=str(raw["help"]),
        help_url=str(raw["helpUrl"]),
        targets=tuple(str(target) for target in raw["targets"]),
    )


async def axe_violations(
    page: Page, *, rules_disabled: Sequence[str] = (), tags: Sequence[str] = WCAG_TAGS
) -> list[Violation]:
    """Run axe-core on the page as it is now; the WCAG 2.0/2.1 A and AA rules by default."""
    await _inject_axe(page)
    raw = await page.evaluate(_RUN_AXE, {"tags": list(tags), "disabled": list(rules_disabled)})
    return [_violation(item) for item in raw]


async def assert_accessible(page: Page, *, rules_disabled: tuple[str, ...] = ()) -> None:
    """Fail, naming each violation, unless axe-core finds the page WCAG 2.1 A and AA clean."""
    violations = await axe_violations(page, rules_disabled=rules_disabled)
    if violations:
        lines = "\n".join(f"  - {violation.describe()}" for violation in violations)
        raise AssertionError(
            f"{len(violations)} accessibility violation(s) on {page.url}:\n{lines}"
        )

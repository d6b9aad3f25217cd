"""The browser harness: Chromium drives pages, axe-core finds WCAG violations, Tab moves focus.

The pages are served from a local HTTP server with the Content-Security-Policy the services send,
so axe-core is shown to run where inline scripts are forbidden.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.async_api import Page

from microcred_shared.testing.browser import assert_accessible, axe_violations

pytestmark = pytest.mark.e2e

# The policy intake's pages are served with.
CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"

ACCESSIBLE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Submit evidence</title></head>
<body>
  <main>
    <h1>Submit evidence</h1>
    <p style="color:#1a1a1a;background:#ffffff">Describe what you learned.</p>
    <form method="post" action="/submit">
      <label for="title">Title</label>
      <input id="title" name="title" type="text">
      <button type="submit">Send</button>
    </form>
    <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="A blank square">
  </main>
  <script>window.inlineScriptRan = true;</script>
</body>
</html>"""

INACCESSIBLE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Broken page</title></head>
<body>
  <main>
    <h1>Broken page</h1>
    <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
    <input type="text" name="q">
    <p style="color:#bbbbbb;background:#ffffff">Hard to read grey text.</p>
  </main>
</body>
</html>"""

KEYBOARD = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Keyboard</title></head>
<body>
  <p>Some text that cannot take focus.</p>
  <a id="first" href="#main">Skip to content</a>
  <button id="second" type="button">Menu</button>
  <main id="main"><h1>Keyboard</h1></main>
</body>
</html>"""

PAGES = {"/accessible": ACCESSIBLE, "/inaccessible": INACCESSIBLE, "/keyboard": KEYBOARD}


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGES.get(self.path)
        if body is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        data = body.encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_an_accessible_page_passes(page: Page, site: str) -> None:
    await page.goto(f"{site}/accessible")
    await assert_accessible(page)


async def test_axe_runs_although_the_csp_forbids_inline_scripts(page: Page, site: str) -> None:
    await page.goto(f"{site}/accessible")
    assert await page.evaluate("() => window.inlineScriptRan") is None  # the CSP is in force
    await assert_accessible(page)
    assert await page.evaluate("() => typeof window.axe.run") == "function"


async def test_violations_are_named(page: Page, site: str) -> None:
    await page.goto(f"{site}/inaccessible")
    with pytest.raises(AssertionError) as failure:
        await assert_accessible(page)
    message = str(failure.value)
    assert "image-alt" in message
    assert "label" in message
    assert "color-contrast" in message
    assert "/inaccessible" in message
    violations = {violation.id: violation for violation in await axe_violations(page)}
    assert set(violations) == {"image-alt", "label", "color-contrast"}
    assert violations["image-alt"].targets == ("img",)
    assert violations["label"].targets == ("input",)


async def test_rules_can_be_disabled(page: Page, site: str) -> None:
    await page.goto(f"{site}/inaccessible")
    await assert_accessible(page, rules_disabled=("image-alt", "label", "color-contrast"))


async def test_tab_focuses_the_first_link_then_the_button(page: Page, site: str) -> None:
    await page.goto(f"{site}/keyboard")
    await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement.id") == "first"
    await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement.id") == "second"


async def test_set_content_needs_no_server(page: Page) -> None:
    await page.set_content(ACCESSIBLE)
    assert await page.title() == "Submit evidence"
    await assert_accessible(page)

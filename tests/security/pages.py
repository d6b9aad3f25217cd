"""What the browser-facing security tests look for in pages: form tokens, markup, CSP."""

from __future__ import annotations

import re

import httpx

#: Stored markup that would run in a page if it were not escaped.
PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(1)>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
RAW_MARKERS = ("<script>alert(1)", "<img src=x", "onerror=alert(1)>")

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def script_sources(policy: str) -> list[str]:
    """The sources a Content-Security-Policy allows scripts from (``script-src``, else default)."""
    directives = {}
    for directive in policy.split(";"):
        if directive.strip():
            name, *values = directive.split()
            directives[name.lower()] = values
    return directives.get("script-src", directives.get("default-src", ["*"]))


def assert_shown_escaped(page: httpx.Response, *, count: int = 1) -> None:
    """The payload appears only escaped, and the page's CSP would stop inline script anyway."""
    assert page.status_code == 200, page.text[:500]
    for marker in RAW_MARKERS:
        assert marker not in page.text, marker
    assert page.text.count(ESCAPED) >= count, page.text
    assert_no_inline_script(page)


def assert_no_inline_script(page: httpx.Response) -> None:
    policy = page.headers.get("content-security-policy", "")
    assert policy, "no Content-Security-Policy"
    sources = script_sources(policy)
    for loose in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"):
        assert loose not in sources, (loose, policy)
    assert "frame-ancestors 'none'" in policy

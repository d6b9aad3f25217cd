"""The sign-in handoff: intake tells the learner's wallet (the notifier) who the browser is.

The notifier sends a browser without a wallet session to
``GET /auth/handoff?to=notifier&state=<S>&next=<P>``. Intake checks every parameter first (a bad
one gets a 400 page and nothing else happens), sends a browser that is not logged in to its login
page (which comes back here after the login), and gives a logged-in one a page whose form posts
to ``{notifier_url}/wallet/session`` a two-minute access token of the logged-in person, the
notifier's ``state`` (which the notifier compares with the cookie it set, so that no one else's
form is accepted) and ``next`` (where the wallet continues). A script allowed by a per-response
nonce submits the form at once; without scripts the learner presses the button.

Only the configured notifier receives tokens: the target is a name, never a URL.
"""

from __future__ import annotations

import re
import secrets
from http import HTTPStatus
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from microcred_intake.deps import accounts_of
from microcred_intake.pages import context, local_path, see

router = APIRouter(include_in_schema=False)

#: The sites intake hands a signed-in browser to, by name.
TARGETS = frozenset({"notifier"})
STATE = re.compile(r"[A-Za-z0-9_-]{16,128}")
#: Lifetime of the token the form carries: the browser posts it at once.
HANDOFF_TOKEN_SECONDS = 120


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what a Content-Security-Policy names."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def handoff_policy(nonce: str, target: str) -> str:
    """The page's Content-Security-Policy: one script, by nonce; forms to here and ``target``."""
    return (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"script-src 'nonce-{nonce}'; form-action 'self' {origin(target)}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def _private(response: Response) -> Response:
    """The handoff's responses carry a token or a state: never cached, never in a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _one(request: Request, name: str) -> str | None:
    """The query parameter ``name`` if given exactly once."""
    values = request.query_params.getlist(name)
    return values[0] if len(values) == 1 else None


@router.get("/auth/handoff")
async def handoff(request: Request) -> Response:
    page = await context(request)
    target, state = _one(request, "to"), _one(request, "state")
    next_path = local_path(_one(request, "next"))
    if target not in TARGETS or state is None or not STATE.fullmatch(state) or next_path is None:
        return _private(
            page.render(
                "pages/message.html.j2",
                HTTPStatus.BAD_REQUEST,
                title=page._("This sign-in link is not valid"),
                heading=page._("This sign-in link is not valid"),
                message=page._(
                    "The link that brought you here is incomplete or was changed. Go back to "
                    "your credentials and open them again."
                ),
            )
        )
    query = urlencode({"to": target, "state": state, "next": next_path})
    if page.user is None:
        return _private(see("/login?" + urlencode({"next": f"/auth/handoff?{query}"})))

    notifier_url: str = request.app.state.notifier_url
    nonce = secrets.token_urlsafe(18)
    response = page.render(
        "pages/handoff.html.j2",
        title=page._("Continue to your credentials"),
        action=f"{notifier_url}/wallet/session",
        token=await accounts_of(request).token_for(page.user, HANDOFF_TOKEN_SECONDS),
        state=state,
        next_path=next_path,
        nonce=nonce,
        # The language links keep the handoff's parameters.
        language_query=query + "&",
    )
    response.headers["Content-Security-Policy"] = handoff_policy(nonce, notifier_url)
    return _private(response)

"""A ceiling on the size of a request's body, enforced while it arrives.

Each evidence file is measured against ``max_file_bytes`` only once the form is parsed, and the
form parser spools every file to disk first: without a ceiling on the whole body, one request
of any size would be read (and written to the temporary directory) before its 413.
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from microcred_shared.http import problem_response

#: Room for the form's text fields and the multipart framing, beyond the files themselves.
FORM_ALLOWANCE = 1024 * 1024


class BodyLimit:
    """Refuse (413) a body larger than ``max_bytes``: declared so at once, or as it streams."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = problem_response(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "Request too large",
                f"the body exceeds {self.max_bytes} bytes",
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(
                        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                        f"the body exceeds {self.max_bytes} bytes",
                    )
            return message

        await self.app(scope, limited, send)

"""Hostile evidence uploads to intake, on the real servers.

Oversized files and bodies (streamed, never built in memory), wrong bytes behind a right
extension, path tricks in file names, huge form fields, and a client that trickles its upload.
Every refusal is a 4xx problem response that leaves no evidence record, no S3 object and no
evidence-submitted event; file names that are accepted are stored under safe names, inside the
learner's own prefix.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import pytest
import uvicorn
from pymongo import AsyncMongoClient

from microcred_intake.limits import FORM_ALLOWANCE
from microcred_intake.testing import Harness, evidence_form
from microcred_shared.contracts import topics
from microcred_shared.demo import minimal_pdf
from microcred_shared.testing.kafka import read_topic
from microcred_shared.testing.servers import Servers
from tests.security.conftest import MAX_FILE_BYTES

pytestmark = pytest.mark.integration

BOUNDARY = "microcred-security-0b5e"
CHUNK = 64 * 1024
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,119}")


fields = evidence_form


def text_part(name: str, value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + data
        + b"\r\n"
    )


def file_head(filename: bytes, content_type: bytes = b"application/pdf") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="'.encode()
        + filename
        + b'"\r\nContent-Type: '
        + content_type
        + b"\r\n\r\n"
    )


def multipart(
    form: dict[str, str], files: Iterable[tuple[bytes, bytes]] = (), *, extra: bytes = b""
) -> bytes:
    """A multipart body written byte for byte: file names reach intake exactly as given."""
    body = b"".join(text_part(k, v) for k, v in form.items()) + extra
    for filename, content in files:
        body += file_head(filename) + content + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


class Stream:
    """A multipart body of one file of ``size`` bytes, made as it is read; counts what was read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pdf = minimal_pdf(f"big {uuid.uuid4()}")
        for piece in (multipart(fields())[: -len(f"--{BOUNDARY}--\r\n")], file_head(b"b.pdf")):
            self.sent += len(piece)
            yield piece
        remaining = self.size
        first = pdf + b"0" * max(0, CHUNK - len(pdf))
        while remaining > 0:
            chunk = first[:remaining] if remaining == self.size else b"0" * min(CHUNK, remaining)
            remaining -= len(chunk)
            self.sent += len(chunk)
            yield chunk
        tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.sent += len(tail)
        yield tail


async def post(intake: Harness, content: Any, **headers: str) -> httpx.Response:
    return await intake.http.post(
        f"/institutions/{intake.institution_id}/evidence",
        content=content,
        headers={**HEADERS, **intake.learner.auth, **headers},
    )


def assert_problem(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == response.status_code
    assert response.json()["title"]


async def evidence_count(intake: Harness) -> int:
    client: AsyncMongoClient[Any] = AsyncMongoClient(intake.servers.mongodb_uri)
    try:
        return await client[intake.settings.mongodb_database]["evidence"].count_documents({})
    finally:
        await client.close()


async def assert_nothing_stored(intake: Harness, servers: Servers) -> None:
    """No record, no object, and no event: a good upload now is the institution's only event."""
    assert await intake.objects.keys() == []
    assert await evidence_count(intake) == 0
    good = await post(intake, multipart(fields(), [(b"ok.pdf", minimal_pdf("ok"))]))
    assert good.status_code == 201, good.text
    good_id = good.json()["id"]
    records = await read_topic(
        servers.kafka,
        topics.EVIDENCE_SUBMITTED,
        keep=lambda r: r.tenant == intake.institution_id,
        until=lambda kept: any(r.json()["data"]["evidence_id"] == good_id for r in kept),
    )
    assert [r.json()["data"]["evidence_id"] for r in records] == [good_id]


# --- size -----------------------------------------------------------------------------------------


async def test_oversized_files_and_bodies_are_refused_without_reading_them_all(
    intake: Harness, servers: Servers
) -> None:
    assert intake.settings.max_file_bytes == MAX_FILE_BYTES
    ceiling = intake.settings.max_files_per_evidence * MAX_FILE_BYTES + FORM_ALLOWANCE

    # One byte over the file limit, streamed: the file is measured and refused.
    over_by_one = Stream(MAX_FILE_BYTES + 1)
    assert_problem(await post(intake, over_by_one), 413)

    # Far over what any upload may be, streamed without a length: reading stops at the ceiling.
    endless = Stream(64 * 1024 * 1024)
    assert_problem(await post(intake, endless), 413)
    assert endless.sent <= ceiling + 2 * CHUNK, endless.sent

    # Declared too large: refused before a byte of it is read.
    declared = Stream(64 * 1024 * 1024)
    assert_problem(await post(intake, declared, **{"Content-Length": str(10 * 2**30)}), 413)
    assert declared.sent == 0

    # Too many files (each small) is a form error.
    many = [(f"f{i}.pdf".encode(), minimal_pdf(f"many {i}")) for i in range(11)]
    assert_problem(await post(intake, multipart(fields(), many)), 422)

    await assert_nothing_stored(intake, servers)


# --- content --------------------------------------------------------------------------------------

DISGUISED = {
    "ELF executable as .pdf": (b"certificate.pdf", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200),
    "PE executable as .pdf": (b"certificate.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200),
    "HTML as .pdf": (b"certificate.pdf", b"<html><script>alert(1)</script></html>"),
    "HTML with a PDF's name and a leading space": (b"c.pdf", b" %PDF-1.7 <script>x</script>"),
    "SVG as .png": (b"photo.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    "shell script as .jpg": (b"photo.jpg", b"#!/bin/sh\nrm -rf /\n"),
    "ZIP, not accepted by the institution, as .pdf": (b"c.pdf", b"PK\x03\x04" + b"\x00" * 100),
}


async def test_wrong_bytes_behind_a_right_extension_are_refused(
    intake: Harness, servers: Servers
) -> None:
    answers = {
        case: await post(intake, multipart(fields(), [DISGUISED[case]])) for case in DISGUISED
    }
    for answer in answers.values():
        assert_problem(answer, 415)
        assert "judged by its content" in answer.json()["detail"]
    await assert_nothing_stored(intake, servers)


async def test_a_pdf_carrying_markup_is_served_as_a_pdf_attachment(intake: Harness) -> None:
    polyglot = b"%PDF-1.7\n<html><script>alert(document.cookie)</script></html>\n%%EOF\n"
    stored = await post(intake, multipart(fields(), [(b"page.html", polyglot)]))
    assert stored.status_code == 201, stored.text
    download = await intake.http.get(
        f"/institutions/{intake.institution_id}/evidence/{stored.json()['id']}/files/0",
        headers=intake.learner.auth,
    )
    assert download.content == polyglot
    assert download.headers["content-type"] == "application/pdf"  # judged by content, not name
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith("attachment;")


# --- names ----------------------------------------------------------------------------------------

TRICKY_NAMES = [
    b"../../etc/passwd",
    b"../../../../tmp/evil.pdf",
    b"..\\..\\windows\\x.pdf",
    b"/absolute/path.pdf",
    b"..",
    b"evil\x00.pdf",
    b"a" * 5000 + b".pdf",
    b"line\r\nX-Injected: 1.pdf",
    "\u202egpj.exe.pdf".encode(),  # right-to-left override
    "résumé ﬁnal.pdf".encode(),
    b'quote".pdf',
    b"%2e%2e%2fencoded.pdf",
]


async def test_path_tricks_in_file_names_store_safe_names_inside_the_learner_s_prefix(
    intake: Harness,
) -> None:
    prefix = f"{intake.institution_id}/{intake.learner.user_id}/"
    for index, name in enumerate(TRICKY_NAMES):
        answer = await post(intake, multipart(fields(), [(name, minimal_pdf(f"name {index}"))]))
        if answer.status_code != 201:  # a name the form parser cannot take: a clean refusal
            assert_problem(answer, 400, 422)
            continue
        record = answer.json()
        [stored] = record["files"]
        assert SAFE_NAME.fullmatch(stored["filename"]), (name, stored["filename"])
        assert stored["key"] == f"{prefix}{record['id']}/00-{stored['filename']}"
        download = await intake.http.get(
            f"/institutions/{intake.institution_id}/evidence/{record['id']}/files/0",
            headers=intake.learner.auth,
        )
        assert download.status_code == 200
        assert download.headers["content-disposition"] == (
            f'attachment; filename="{stored["filename"]}"'
        )
        assert "x-injected" not in download.headers
    keys = await intake.objects.keys()
    assert keys
    assert all(key.startswith(prefix) and ".." not in key.split("/") for key in keys), keys
    assert all(len(key.split("/")) == 4 for key in keys), keys


# --- form fields ----------------------------------------------------------------------------------

HUGE_FIELDS: dict[str, tuple[dict[str, str], bytes, tuple[int, ...]]] = {
    "title of 301 characters": (fields(title="t" * 301), b"", (422,)),
    "title of 900 KiB": (fields(title="t" * 900 * 1024), b"", (422,)),
    "title of 1.5 MiB (over the parser's part limit)": (
        fields(title="t" * 1536 * 1024),
        b"",
        (400,),
    ),
    "title with a line break": (fields(title="a\r\nBcc: all@example.org"), b"", (422,)),
    "description of 10,001 characters": (fields(description="d" * 10_001), b"", (422,)),
    "provider of 301 characters": (fields(provider="p" * 301), b"", (422,)),
    "2,000 extra fields": (
        fields(),
        b"".join(text_part(f"x{i}", "1") for i in range(2000)),
        (400,),
    ),
}


async def test_huge_form_fields_are_refused(intake: Harness, servers: Servers) -> None:
    for case, (form, extra, statuses) in HUGE_FIELDS.items():
        body = multipart(form, [(b"c.pdf", minimal_pdf(case))], extra=extra)
        answer = await post(intake, body)
        assert_problem(answer, *statuses)
        assert len(answer.content) < 4096, case  # the value is not echoed back
    await assert_nothing_stored(intake, servers)


# --- a slow client --------------------------------------------------------------------------------


async def test_a_trickling_upload_holds_one_connection_and_nothing_else(
    intake: Harness, servers: Servers
) -> None:
    """A client sending its body a few bytes at a time, then giving up.

    The server keeps serving others meanwhile, reads the body into the form parser's spool (not
    memory), and when the client goes away nothing is stored and the connection is freed.
    Note: neither uvicorn nor h11 has a timeout for a body that is still arriving, so the
    connection stays as long as the client keeps trickling; only a reverse proxy in front (its
    body read timeout) bounds that time. ``BodyLimit`` bounds how much such a client can send.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(intake.app, lifespan="off", log_config=None, timeout_keep_alive=1)
    )
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        body = multipart(fields(), [(b"slow.pdf", minimal_pdf("slow") + b"0" * 4096)])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = (
            f"POST /institutions/{intake.institution_id}/evidence HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {intake.learner.token}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as other:
            for offset in range(0, len(body) // 2, 16):
                writer.write(body[offset : offset + 16])
                await writer.drain()
                await asyncio.sleep(0.03)
                if offset % 320 == 0:
                    started = time.monotonic()
                    answer = await other.get(
                        f"/institutions/{intake.institution_id}/evidence",
                        headers=intake.learner.auth,
                    )
                    assert answer.status_code == 200
                    assert time.monotonic() - started < 2
        with pytest.raises(TimeoutError):  # still waiting for the rest: no answer yet
            await asyncio.wait_for(reader.read(1), 0.3)
        writer.close()
        await writer.wait_closed()
        deadline = time.monotonic() + 10
        while server.server_state.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not server.server_state.connections
    finally:
        server.should_exit = True
        await serving
    await assert_nothing_stored(intake, servers)

"""Intake's rules on file names and file types."""

from __future__ import annotations

import pytest

from microcred_intake.domain import object_key, sanitise_filename, sniff_content_type

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("certificate.pdf", "certificate.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/absolute/path/cv.pdf", "cv.pdf"),
        ("résumé final (2).pdf", "resume_final_2_.pdf"),
        ("\x00\x1b[31mred.png", "31mred.png"),
        ("....", "file"),
        ("", "file"),
        (None, "file"),
        ("a" * 500 + ".pdf", "a" * 120),
    ],
)
def test_names_are_made_safe(given: str | None, expected: str) -> None:
    assert sanitise_filename(given) == expected


def test_object_keys_cannot_escape_their_prefix() -> None:
    key = object_key("inst", "learner", "ev", 0, sanitise_filename("../../other/x.pdf"))
    assert key == "inst/learner/ev/00-x.pdf"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n\x00", "image/png"),
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"<html><script>", None),
        (b"MZ\x90\x00", None),
        (b"", None),
    ],
)
def test_types_come_from_the_bytes(head: bytes, expected: str | None) -> None:
    assert sniff_content_type(head) == expected

"""The SMTP sink's messages come back in the order they arrived, within one second too."""

from __future__ import annotations

from pathlib import Path

import pytest

from microcred_shared.stack.smtp_sink import read_messages

pytestmark = pytest.mark.unit


def test_messages_of_one_second_are_ordered_by_their_microseconds(tmp_path: Path) -> None:
    for sub in ("new", "cur", "tmp"):
        (tmp_path / sub).mkdir()
    # Python's Maildir names; as text, "M98765" sorts after "M123456" though it came first.
    arrivals = [
        ("1699999999.M999999P7Q1.sink", "first"),
        ("1700000000.M98765P7Q2.sink", "second"),
        ("1700000000.M123456P7Q3.sink", "third"),
    ]
    for name, subject in reversed(arrivals):
        (tmp_path / "new" / name).write_text(f"Subject: {subject}\n\nbody\n")
    assert [str(m["Subject"]) for m in read_messages(tmp_path)] == ["first", "second", "third"]

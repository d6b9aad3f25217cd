"""Test vectors from outside this project (``SOURCE.md`` says where each comes from)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).parent


def read_vector(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))

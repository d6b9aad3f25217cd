"""``python -m rule_based_reviewer``: run the reviewer until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import ValidationError

from rule_based_reviewer.app import build_app
from rule_based_reviewer.settings import ReviewerSettings


def main() -> None:
    try:
        settings = ReviewerSettings()
    except ValidationError as invalid:
        sys.stderr.write(f"invalid REVIEWER_* settings:\n{invalid}\n")
        raise SystemExit(2) from invalid
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("rule_based_reviewer").info(
        "deciding for %s as %s; trusted providers: %s",
        settings.institution_id,
        settings.reviewer_id,
        ", ".join(settings.trusted_providers) or "none",
    )
    asyncio.run(build_app(settings).run())


if __name__ == "__main__":
    main()

"""One log line per event, on stderr, for the API and the worker alike."""

from __future__ import annotations

import logging
import os


def configure_logging() -> None:
    level = os.environ.get("IMPORTER_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s", force=False
    )

"""Logging to `logs/coop-batch.log`: one line per file, rotated daily, kept `keep_days` days.

A scheduled run has nobody watching the console, so everything that matters goes
to the log file (UTF-8, readable in Notepad); the console gets only the summary.
"""

from __future__ import annotations

import logging
from logging.handlers import TimedRotatingFileHandler
from pathlib import Path

LOGGER_NAME = "coop_batch"
LOG_FILE = "coop-batch.log"


def setup_logging(log_dir: Path, keep_days: int = 30) -> logging.Logger:
    """Attach one rotating file handler for this log folder (idempotent across runs in one process)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    target = (log_dir / LOG_FILE).resolve()
    for handler in list(logger.handlers):
        if isinstance(handler, TimedRotatingFileHandler):
            if Path(handler.baseFilename) == target:
                return logger
            logger.removeHandler(handler)
            handler.close()
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = TimedRotatingFileHandler(
        target, when="midnight", backupCount=keep_days, encoding="utf-8", delay=True
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    logger.propagate = False
    return logger


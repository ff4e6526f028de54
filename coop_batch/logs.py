"""Logging to `logs/coop-batch.log`: one line per file, rotated daily, kept `keep_days` days.

A scheduled run has nobody watching the console, so everything that matters goes
to the log file (UTF-8, readable in Notepad); the console gets only the summary.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from logging.handlers import TimedRotatingFileHandler
from pathlib import Path

from .seoul import SEOUL

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
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    formatter.converter = _seoul  # the reports' clock, also on a server kept in UTC
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    logger.propagate = False
    _prune(log_dir, keep_days)
    return logger


def _seoul(seconds: float | None) -> time.struct_time:
    return datetime.fromtimestamp(time.time() if seconds is None else seconds, SEOUL).timetuple()


def _prune(log_dir: Path, keep_days: int) -> None:
    """Rotated logs older than `keep_days` days go: the handler keeps a count of files, which is
    days only when there is a run every day."""
    oldest = time.time() - keep_days * 86400
    for path in log_dir.glob(f"{LOG_FILE}.*"):
        try:
            if path.stat().st_mtime < oldest:
                path.unlink()
        except OSError:  # pragma: no cover - in use or gone: the next run tries again
            pass

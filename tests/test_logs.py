"""logs/coop-batch.log: Seoul time on every line, rotated files kept by age."""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

from coop_batch.logs import LOG_FILE, setup_logging
from coop_batch.seoul import SEOUL


def test_log_lines_carry_seoul_time_whatever_the_machines_zone(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TZ", "UTC")  # a server kept in UTC (cron)
    time.tzset()
    try:
        logger = setup_logging(tmp_path / "logs")
        logger.info("한 줄")
        for handler in logger.handlers:
            handler.flush()
        line = (tmp_path / "logs" / LOG_FILE).read_text(encoding="utf-8").splitlines()[-1]
        stamp = datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SEOUL)
        assert abs(datetime.now(SEOUL) - stamp) < timedelta(minutes=1) and line.endswith("INFO 한 줄")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
        for handler in list(logging.getLogger("coop_batch").handlers):
            logging.getLogger("coop_batch").removeHandler(handler)
            handler.close()


def test_rotated_logs_older_than_keep_days_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    old, recent = folder / f"{LOG_FILE}.2016-01-01", folder / f"{LOG_FILE}.2016-03-01"
    for path, age_days in ((old, 50), (recent, 3)):
        path.write_text("x", encoding="utf-8")
        then = time.time() - age_days * 86400
        os.utime(path, (then, then))
    try:
        setup_logging(folder, keep_days=30)
        assert not old.exists() and recent.exists()
    finally:
        for handler in list(logging.getLogger("coop_batch").handlers):
            logging.getLogger("coop_batch").removeHandler(handler)
            handler.close()

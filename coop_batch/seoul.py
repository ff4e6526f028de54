"""Asia/Seoul, the one clock of the project: what "today", "Friday 18:00" and a file's arrival mean.

A module of its own (no pydantic, no other imports of ours) so that the reader path, the ledger
codec and the lock can use it without importing the settings."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

SEOUL = ZoneInfo("Asia/Seoul")


def seoul_time(now: datetime | None = None) -> datetime:
    """`now` (in any zone) as Seoul time; the current time when None."""
    return (now or datetime.now(SEOUL)).astimezone(SEOUL)

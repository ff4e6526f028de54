"""`coop-batch status`: who owes what, from the ledger as it stands — read-only.

It takes no run lock (a run may be going on; committed rows are what we show) and writes no
file: the ledger is opened read-only, and when no other connection has it open (no `-wal` file
beside it) as `immutable`, so that SQLite does not even create its `-shm`/`-wal` companions.
The computation is the nightly run's own (`tracking.compute_tracking` over the merged accepted
submissions), so `status` and the master workbook agree.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from urllib.parse import quote

from .config import Workspace
from .ledger import Ledger, LedgerError
from .merge import Source, merge
from .rules import load_rules
from .tracking import Tracking, compute_tracking, submitted_from


def open_readonly(path: Path) -> Ledger:
    """The ledger for reading only; `LedgerError` (Korean) when it cannot be read."""
    path = Path(path)
    wal = path.with_name(path.name + "-wal")
    # `immutable` skips locking and the WAL: right only while no connection is writing, which the
    # absence of the -wal file shows (WAL mode keeps it for as long as any connection is open).
    query = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    try:
        db = sqlite3.connect(_uri(path, query), uri=True)
        db.row_factory = sqlite3.Row
        db.execute("SELECT 1 FROM files LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        raise LedgerError(
            f"접수 대장 {path}을(를) 읽을 수 없습니다({exc}). 'coop-batch run'을 한 번 실행해 대장을 만들거나, "
            f"'coop-batch doctor'로 작업 폴더를 점검해 주세요."
        ) from None
    return Ledger(db, path)


def _uri(path: Path, query: str) -> str:
    """An SQLite URI for any absolute path: `/srv/x`, `C:/x` and a share's `//server/share/x`
    (an empty authority, so SQLite hands the UNC path to Windows as it is); odd characters escaped."""
    text = path.resolve().as_posix()
    if not text.startswith("/"):
        text = "/" + text  # C:/... → /C:/...
    return f"file://{quote(text, safe='/:')}?{query}"


def load_tracking(workspace: Workspace, as_of: date) -> Tracking | None:
    """The tracking as of `as_of`; None when the workspace has no ledger yet (never run).

    Raises `RulesError` for invalid rules and `LedgerError` for an unreadable ledger."""
    rules = load_rules(workspace.settings.policy_year, workspace.rules_dir)
    if not workspace.ledger_path.is_file():
        return None
    ledger = open_readonly(workspace.ledger_path)
    try:
        records = ledger.all_records()  # one query, as the nightly run reads them (not one per file)
        submitted = submitted_from(ledger.accepted_files(), lambda sha: records.get(sha, []))
    except sqlite3.Error as exc:
        raise LedgerError(f"접수 대장 {workspace.ledger_path}을(를) 읽는 중 오류가 났습니다({exc}). 잠시 뒤 다시 실행해 주세요.") from None
    finally:
        ledger.close()
    merged = merge([Source(s.name, s.kind, s.records, s.department) for s in submitted])
    return compute_tracking(merged.data, submitted, rules, as_of)

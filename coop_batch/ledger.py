"""The ledger: every processed file, every run, the validated records and the mail queue, in SQLite.

Design notes (the why):
- One row in `files` per processed inbox file: accepted, rejected or duplicate.  A *deferred* file
  (still copying, open in Excel, unreadable) gets no row: it stays in the inbox untouched, may not
  even be hashable, and is retried next run; the run lists it in its summary instead.  So every
  `files` row has a content hash and is filed (moved) exactly once — `unfiled()` is precisely the
  set of rows whose move a crash interrupted.
- A row is committed *before* its file is moved (`record_file` then `inbox.file_into` then
  `mark_filed`): a crash leaves the file in the inbox with a committed row, which the next run's
  recovery files without processing it again.
- Validated records are stored once per accepted content hash (`record_sets` + `records`), tagged
  with the template-schema and rules versions they were validated under, so a night with few new
  files rebuilds the master from here without re-reading the archive, and a version change can
  list what must be revalidated (`stale_records`).
- Record values round-trip exactly through a tagged JSON encoding (`encode_json`): date, datetime,
  Decimal, tuple and dicts with non-str or `$` keys are tagged objects; float is refused (money is
  never float).  An aware datetime comes back with a fixed UTC offset (same instant, no zone name).
- Timestamps are ISO 8601 in Asia/Seoul with the offset and whole seconds, so that text order is
  time order.  Naive datetimes are a bug and raise.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path, PurePath
from typing import Any

# SEOUL, now_seoul, encode_json and decode_json are also re-exported: callers import them from here
from .ledger_codec import SEOUL, decode_json, decode_many, encode_json, encode_record, now_seoul, to_iso  # noqa: F401
from .ledger_rows import (  # re-exported: callers import the row types from here
    FileEntry,
    FileRow,
    FileStatus,
    LedgerError,
    MailRow,
    MailStatus,
    RunRow,
    RunStatus,
    _from_row,
    _migrate_to_1,
    _relative_posix,
    row_reader,
)
from .schema import TEMPLATE_VERSION

BUSY_TIMEOUT_MS = 10_000
_IN_LIMIT = 500  # values per `IN (...)`: old SQLite builds allow 999 parameters
# The order accepted files are merged in (later ones win), as SQL and as a sort key on `FileRow`s
# (the ISO text of arrived_at / first_seen is in Seoul time throughout: the order of the instants).
_ACCEPTED_ORDER = "arrived_at, first_seen, id"


def _in_parts(values: Sequence[str]) -> Iterator[tuple[tuple[str, ...], str]]:
    """`values` without repeats, in parts of `_IN_LIMIT`: (the part, its `?, ?, ...` placeholders)."""
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), _IN_LIMIT):
        part = tuple(unique[start : start + _IN_LIMIT])
        yield part, ", ".join("?" * len(part))


def _select_files(db: sqlite3.Connection, where: str, params: Sequence[Any] = (), order: str = "id") -> list[FileRow]:
    cursor = db.cursor()
    cursor.row_factory = None  # plain tuples: `row_reader` reads by position
    cursor.execute(f"SELECT * FROM files WHERE {where} ORDER BY {order}", params)
    build = row_reader(FileRow, [d[0] for d in cursor.description])  # cached: a dict lookup
    return [build(r) for r in cursor]


# How to get the ledger back, or a new one that knows every filed file (run, doctor, status, mail).
_REBUILD = ("보관된 파일(archive, quarantine)을 inbox로 옮긴 뒤 실행하면 모두 다시 받아 대장을 새로 만듭니다(도착 시각은 "
            "그날로 기록됨).")
DAMAGED_FIX = f"PC 백업에서 대장 파일을 되돌려 주세요. 되돌릴 수 없으면 이 파일을 다른 이름으로 옮기고, {_REBUILD}"


def lost_ledger(path: Path, filed: Sequence[Path]) -> tuple[str, str] | None:
    """(what is wrong, how to fix it) when the ledger must not be made anew, else None: it is missing
    or empty while `filed` (archive/, quarantine/) holds files — a run would start an empty ledger
    and mail a 0원 report over the real one, every filed file forgotten."""
    try:
        if path.is_file() and path.stat().st_size > 0:
            return None
    except OSError:
        return None  # Ledger.open says what is wrong with it
    received = (name for root in filed for _folder, _dirs, files in os.walk(root) for name in files
                if not name.endswith(".txt"))  # a quarantine note is no file received
    if next(received, None) is None:
        return None  # a new workspace: nothing was ever filed
    state = "비어 있습니다(0바이트)" if path.is_file() else "없습니다"
    return (
        f"접수 대장 {path}이(가) {state}. 그런데 {', '.join(str(r) for r in filed)}에는 이미 받은 파일이 있어, 이대로 "
        f"실행하면 빈 대장으로 포상금 0원인 결과를 만들게 됩니다.",
        f"대장을 옮기거나 지웠다면 제자리로(PC 백업에서) 되돌려 주세요. 되돌릴 수 없으면 {_REBUILD}",
    )


def read_history(path: Path) -> list[FileRow]:
    """`Ledger.history()` of a ledger a run holds open, for a helper process of that run: read
    only (no migration, no pragma that writes), and waiting out a write as `Ledger.open` does."""
    if not Path(path).is_file():  # (connect would create it)
        return []
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        db.execute("PRAGMA query_only = ON")
        return _select_files(db, "1")
    finally:
        db.close()


def accepted_order(row: FileRow) -> tuple[Any, ...]:
    """`_ACCEPTED_ORDER` for a row already read (`run` sorts the history it has instead of a query)."""
    return (row.arrived_at, row.first_seen, row.id)


# _MIGRATIONS[i] takes user_version i to i + 1 (the tables themselves: ledger_rows._SCHEMA_1)
_MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_to_1]


class Ledger:
    """`with Ledger.open(ws.ledger_path) as ledger: ...` — one connection, explicit transactions."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        self._depth = 0  # transaction nesting (savepoints inside)

    # --- open / close ---

    @classmethod
    def open(cls, path: Path | str) -> Ledger:
        """Open (creating and migrating as needed); `LedgerError` for a file that is not a usable ledger."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(
                f"접수 대장 {path}을(를) 열 수 없습니다({exc}). 폴더가 있고 쓰기 권한이 있는지 확인해 주세요."
            ) from None
        ledger = cls(db, path)
        try:
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA foreign_keys = ON")
            # WAL lets `status`/`doctor` read while a run writes; some network drives refuse it,
            # and then SQLite keeps its rollback journal, which is still correct.
            db.execute("PRAGMA journal_mode = WAL")
            # FULL: a committed row must survive a power cut, since the file is moved after it.
            db.execute("PRAGMA synchronous = FULL")
            ledger._migrate()
        except sqlite3.DatabaseError as exc:
            db.close()
            raise LedgerError(
                f"접수 대장 {path}을(를) 읽을 수 없습니다({exc}). 파일이 손상되었거나 접수 대장이 아닙니다. "
                f"백업본으로 바꾸거나, 이 파일을 다른 이름으로 옮겨 두고 다시 실행해 새 대장을 만들어 주세요."
            ) from None
        except BaseException:  # LedgerError, or a bug in a migration: never leave the file open
            db.close()
            raise
        return ledger

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        target = len(_MIGRATIONS)
        if version > target:
            raise LedgerError(
                f"접수 대장 {self.path}은(는) 더 새 버전의 coop-batch가 만든 것입니다(대장 버전 {version}, "
                f"이 프로그램은 {target}까지). coop-batch를 최신 버전으로 업데이트해 주세요."
            )
        for step in range(version, target):
            with self.transaction():
                _MIGRATIONS[step](self._db)
                self._db.execute(f"PRAGMA user_version = {step + 1}")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def damage(self) -> str | None:
        """SQLite's own check of every page (`doctor`; ~20 ms for a year of 5,000 files), None when sound.
        `open` reads only the header: a file damaged further in opens, then fails at a query."""
        try:
            found = self._db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            return str(exc)
        return None if found == "ok" else str(found)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing; nestable (inner blocks are savepoints).  Group many `record_file` calls
        in one to save fsyncs; the files are then moved after the outer block commits."""
        if self._depth:
            name = f"sp{self._depth}"
            self._db.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._db.execute(f"ROLLBACK TO {name}")
                self._db.execute(f"RELEASE {name}")
                raise
            else:
                self._db.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0

    @contextmanager
    def _unsynced(self) -> Iterator[None]:
        """Commits inside skip the fsync: WAL with `synchronous = NORMAL` may lose the last commits on
        a power cut but never corrupts the file.  A rollback journal (no WAL) keeps FULL."""
        if self._depth or self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            yield
            return
        self._db.execute("PRAGMA synchronous = NORMAL")
        try:
            yield
        finally:
            self._db.execute("PRAGMA synchronous = FULL")

    # --- runs ---

    def start_run(self, as_of: date, started: datetime | None = None) -> int:
        """A new run; runs still marked 'running' died (the caller holds the workspace lock)."""
        with self.transaction():
            self._db.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
            cursor = self._db.execute(
                "INSERT INTO runs (started, as_of) VALUES (?, ?)",
                (to_iso(started or now_seoul()), as_of.isoformat()),
            )
        return int(cursor.lastrowid)  # type: ignore[arg-type]

    def unfinished_runs(self, current: int) -> set[int]:
        """The runs since the last one that finished which died or stopped on an error: what they
        left undone after filing (the review copies) is the current run's to do."""
        rows = self._db.execute(
            "SELECT id FROM runs WHERE status IN ('interrupted', 'failed') AND id < ? AND id > "
            "(SELECT COALESCE(MAX(id), 0) FROM runs WHERE status IN ('ok', 'rejected'))",
            (current,),
        )
        return {int(row[0]) for row in rows}

    def finish_run(
        self,
        run_id: int,
        status: RunStatus | str,
        exit_code: int,
        summary: dict[str, Any],
        problems: int | None = None,
        finished: datetime | None = None,
    ) -> None:
        """`problems` defaults to the number of problems recorded on this run's files."""
        status = RunStatus(status)
        if problems is None:
            problems = sum(len(row.problems) for row in self.files_of_run(run_id))
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE runs SET finished = ?, status = ?, exit_code = ?, summary = ?, problems = ? WHERE id = ?",
                (to_iso(finished or now_seoul()), status.value, exit_code, encode_json(summary), problems, run_id),
            )
            if cursor.rowcount != 1:
                raise KeyError(f"no run {run_id}")

    def run(self, run_id: int) -> RunRow | None:
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _from_row(RunRow, row) if row else None

    def last_run(self, before: int | None = None) -> RunRow | None:
        """The latest finished run (optionally: older than run `before`)."""
        row = self._db.execute(
            "SELECT * FROM runs WHERE finished IS NOT NULL AND id < ? ORDER BY id DESC LIMIT 1",
            (before if before is not None else 2**62,),
        ).fetchone()
        return _from_row(RunRow, row) if row else None

    # --- files ---

    def find_by_hash(self, sha256: str) -> FileRow | None:
        """The first accepted or rejected row with this content: what a resubmission duplicates."""
        rows = self._files("sha256 = ? AND status IN ('accepted', 'rejected')", (sha256,), "id LIMIT 1")
        return rows[0] if rows else None

    def find_by_hashes(self, hashes: Sequence[str]) -> dict[str, FileRow]:
        """`find_by_hash` for many contents in one query per 500: hash → its first accepted or
        rejected row (hashes without one are left out)."""
        found: dict[str, FileRow] = {}
        for part, marks in _in_parts(hashes):
            rows = self._files(f"sha256 IN ({marks}) AND status IN ('accepted', 'rejected')", part)
            for row in rows:  # by id: the first one wins
                found.setdefault(row.sha256, row)
        return found

    def record_file(self, entry: FileEntry, records: list[dict[str, Any]] | None = None) -> int:
        """Store the file row and, for an accepted file whose content has no current record set,
        its validated records — in one transaction.  Returns the file id."""
        return self.record_files([(entry, records)])[0]

    def record_files(self, batch: Sequence[tuple[FileEntry, list[dict[str, Any]] | None]]) -> list[int]:
        """`record_file` for each (entry, records) in order, in one transaction; returns their ids.

        One `executemany` for the rows and one for the records: a savepoint, a record-set query and
        three statements per file cost ~0.1 ms each.  The ids are given explicitly, from the
        largest + 1 as SQLite itself would, since the write lock (BEGIN IMMEDIATE) is held."""
        for entry, records in batch:
            if records is not None and entry.status is not FileStatus.ACCEPTED:
                raise ValueError(f"records given for a {entry.status.value} file")
        if not batch:
            return []
        with self.transaction():
            first = int(self._db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM files").fetchone()[0])
            ids = list(range(first, first + len(batch)))
            rows = []
            for file_id, (entry, _) in zip(ids, batch):
                mtime, first_seen, arrived_at = entry.stamps
                problems = "[]" if not entry.problems else json.dumps(
                    [p.as_dict() for p in entry.problems], ensure_ascii=False
                )
                rows.append((
                    file_id, entry.run_id, entry.sha256, entry.original_path, entry.name, entry.size, mtime,
                    first_seen, arrived_at, entry.kind, entry.department, entry.status.value, entry.duplicate_of,
                    entry.template_version, entry.rules_version, problems,
                ))
            self._db.executemany(
                """INSERT INTO files (id, run_id, sha256, original_path, name, size, mtime, first_seen, arrived_at,
                       kind, department, status, duplicate_of, template_version, rules_version, problems)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                rows,
            )
            with_records = [(entry, records) for entry, records in batch if records is not None]
            if with_records:
                self._store_new_sets(with_records)
        return ids

    def _store_new_sets(self, batch: Sequence[tuple[FileEntry, list[dict[str, Any]]]]) -> None:
        """The record sets `record_file` stores, one by one in order: a set only where the content has
        no set current under the entry's rules version (a later entry's set replaces an earlier one's)."""
        held: dict[str, tuple[str, str]] = {}  # hash → (rules_version, template_version) of its set
        for part, marks in _in_parts([entry.sha256 for entry, _ in batch]):
            rows = self._db.execute(
                f"SELECT sha256, rules_version, template_version FROM record_sets WHERE sha256 IN ({marks})", part
            )
            held.update((sha, (rules, template)) for sha, rules, template in rows)
        todo: dict[str, tuple[str, list[dict[str, Any]], str]] = {}
        for entry, records in batch:
            current = (entry.rules_version, TEMPLATE_VERSION)
            if held.get(entry.sha256) != current:
                held[entry.sha256] = current
                todo[entry.sha256] = (entry.kind, records, entry.rules_version)
        if todo:
            self._store_sets([(sha, kind, records, rules) for sha, (kind, records, rules) in todo.items()])

    def _store_sets(
        self,
        sets: Sequence[tuple[str, str, list[dict[str, Any]], str]],
        template_version: str = TEMPLATE_VERSION,
    ) -> None:
        """(Re)place the record sets (sha256, kind, records, rules_version), in one transaction."""
        encode = encode_record
        encoded = [(sha, seq, encode(record)) for sha, _, records, _ in sets for seq, record in enumerate(records)]
        stored_at = to_iso(now_seoul())
        with self.transaction():
            self._db.executemany("DELETE FROM record_sets WHERE sha256 = ?", [(s[0],) for s in sets])
            self._db.executemany(
                "INSERT INTO record_sets (sha256, kind, template_version, rules_version, rows, stored_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(sha, kind, template_version, rules, len(records), stored_at) for sha, kind, records, rules in sets],
            )
            self._db.executemany("INSERT INTO records (sha256, seq, data) VALUES (?, ?, ?)", encoded)

    def mark_filed(self, file_id: int, filed_path: str | PurePath) -> None:
        """Record where the file now lives, relative to the workspace (after `inbox.file_into`).

        Committed without an fsync (WAL only): a power cut can lose this commit but nothing with it,
        since the row it updates was synced before the move and `_recover` finds the filed file again."""
        self.mark_filed_many([(file_id, filed_path)])

    def mark_filed_many(self, filed: Sequence[tuple[int, str | PurePath]]) -> None:
        """`mark_filed` for a batch of moved files, in one transaction (same no-fsync reasoning)."""
        params = [(_relative_posix(path, "filed_path"), file_id) for file_id, path in filed]
        if not params:
            return
        with self._unsynced(), self.transaction():
            # one executemany: `rowcount` is then the sum, so a shortfall is traced to its id after
            cursor = self._db.executemany("UPDATE files SET filed_path = ? WHERE id = ?", params)
            if cursor.rowcount != len(params):
                for _, file_id in params:
                    if self._db.execute("SELECT 1 FROM files WHERE id = ?", (file_id,)).fetchone() is None:
                        raise KeyError(f"no file {file_id}")

    def file(self, file_id: int) -> FileRow | None:
        row = self._db.execute("SELECT * FROM files WHERE id = ?", (file_id,)).fetchone()
        return _from_row(FileRow, row) if row else None

    def _files(self, where: str, params: Sequence[Any] = (), order: str = "id") -> list[FileRow]:
        return _select_files(self._db, where, params, order)

    def unfiled(self) -> list[FileRow]:
        """Committed rows whose file was not moved yet: a crash came between commit and move."""
        return self._files("filed_path IS NULL")

    def accepted_files(self, kinds: Sequence[str] = ()) -> list[FileRow]:
        """What the master is rebuilt from, oldest first (so that later ones win in the merge);
        only those of `kinds` when given (no need to build every row to find the few lists)."""
        if kinds:
            marks = ", ".join("?" * len(kinds))
            return self._files(f"status = 'accepted' AND kind IN ({marks})", tuple(kinds), _ACCEPTED_ORDER)
        return self._files("status = 'accepted'", order=_ACCEPTED_ORDER)

    def files_of_run(self, run_id: int) -> list[FileRow]:
        return self._files("run_id = ?", (run_id,))

    def history(self) -> list[FileRow]:
        """Every processed file in the order it was recorded (the 제출이력 sheet)."""
        return self._files("1")

    # --- validated records (one set per accepted content hash) ---

    def store_records(
        self,
        sha256: str,
        kind: str,
        records: list[dict[str, Any]],
        rules_version: str,
        template_version: str = TEMPLATE_VERSION,
    ) -> None:
        """(Re)place the record set of one content hash, e.g. after revalidating a stale one.
        `template_version` is the template schema the records were validated against (the code's)."""
        self._store_sets([(sha256, kind, records, rules_version)], template_version)

    def records_of(self, sha256: str) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT data FROM records WHERE sha256 = ? ORDER BY seq", (sha256,))
        return decode_many([r[0] for r in rows])

    def all_records(self) -> dict[str, list[dict[str, Any]]]:
        """Every stored record set: content hash → `records_of(hash)`, in one query and one parse
        (a night over 5,000 filed files: 5,000 queries and parses otherwise)."""
        cursor = self._db.cursor()
        cursor.row_factory = None
        rows = cursor.execute("SELECT sha256, data FROM records ORDER BY sha256, seq").fetchall()
        out: dict[str, list[dict[str, Any]]] = {}
        for (sha, _), value in zip(rows, decode_many([data for _, data in rows])):
            held = out.get(sha)
            if held is None:
                out[sha] = [value]
            else:
                held.append(value)
        return out

    def stale_records(self, rules_version: str, template_version: str = TEMPLATE_VERSION) -> list[str]:
        """Hashes of accepted files whose records are missing or were validated under other versions."""
        # NOT EXISTS on the record set's key, in id order, then each hash once: no GROUP BY sort
        rows = self._db.execute(
            """SELECT f.sha256 FROM files f WHERE f.status = 'accepted' AND NOT EXISTS (
                   SELECT 1 FROM record_sets s
                   WHERE s.sha256 = f.sha256 AND s.rules_version = ? AND s.template_version = ?)
               ORDER BY f.id""",
            (rules_version, template_version),
        )
        return list(dict.fromkeys(r[0] for r in rows))

    # --- mails (so that none is sent twice) ---

    def add_mail(self, run_id: int | None, path: str | PurePath, subject: str, created: datetime | None = None) -> int:
        with self.transaction():
            cursor = self._db.execute(
                "INSERT INTO mails (run_id, path, subject, created) VALUES (?, ?, ?, ?)",
                (run_id, _relative_posix(path, "mail path"), subject, to_iso(created or now_seoul())),
            )
        return int(cursor.lastrowid)  # type: ignore[arg-type]

    def mark_mail(self, mail_id: int, sent: bool, error: str = "", when: datetime | None = None) -> None:
        """Record one send attempt: sent, or failed with `error` (kept for the next run's retry)."""
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE mails SET status = ?, attempts = attempts + 1, last_error = ?, sent_at = ? "
                "WHERE id = ? AND status != 'sent'",
                (
                    (MailStatus.SENT if sent else MailStatus.FAILED).value,
                    "" if sent else error,
                    to_iso(when or now_seoul()) if sent else None,
                    mail_id,
                ),
            )
            if cursor.rowcount != 1:
                raise KeyError(f"no unsent mail {mail_id}")

    def unsent_mails(self) -> list[MailRow]:
        rows = self._db.execute("SELECT * FROM mails WHERE status != 'sent' ORDER BY id")
        return [_from_row(MailRow, r) for r in rows]

    def mail(self, mail_id: int) -> MailRow | None:
        row = self._db.execute("SELECT * FROM mails WHERE id = ?", (mail_id,)).fetchone()
        return _from_row(MailRow, row) if row else None

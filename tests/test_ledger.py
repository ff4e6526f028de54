"""The SQLite ledger: schema and migrations, runs, files, exact records, recovery queries, mails."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path, PureWindowsPath
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coop_batch import ledger as ledger_mod
from coop_batch.errors import Problem
from coop_batch.ledger import (
    SEOUL,
    FileEntry,
    FileStatus,
    Ledger,
    LedgerError,
    MailStatus,
    RunStatus,
    decode_json,
    encode_json,
)
from coop_batch.schema import TEMPLATE_VERSION

T0 = datetime(2016, 3, 4, 2, 0, 0, tzinfo=SEOUL)


def sha(n: int) -> str:
    return f"{n:064x}"


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    with Ledger.open(tmp_path / "ledger.sqlite") as opened:
        yield opened


def entry(run_id: int, n: int, status: FileStatus = FileStatus.ACCEPTED, **kw: Any) -> FileEntry:
    defaults: dict[str, Any] = dict(
        run_id=run_id,
        sha256=sha(n),
        original_path=f"총무과/주간실적_{n}.xlsx",
        size=1000 + n,
        mtime=T0 - timedelta(hours=5),
        first_seen=T0,
        arrived_at=T0 - timedelta(hours=5),
        status=status,
        kind="weekly",
        department="총무과",
        template_version="1.0",
        rules_version="2016.1",
    )
    defaults.update(kw)
    return FileEntry(**defaults)


RECORDS = [
    {
        "_row": 7,
        "project": "안전도시 만들기",
        "report_date": date(2016, 3, 4),
        "prize_won": 120_000_000,
        "points": Decimal("12.50"),
        "departments": ["총무과", "안전관리과"],
        "done": True,
        "memo": None,
    },
    {"_row": 8, "project": "=1+2", "report_date": date(2016, 2, 29), "prize_won": 0, "points": Decimal("0")},
]


# --- open, schema, migrations ---


def test_open_creates_schema_with_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        assert ledger.schema_version == len(ledger_mod._MIGRATIONS) == 1
        db = ledger._db
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == ledger_mod.BUSY_TIMEOUT_MS
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"runs", "files", "record_sets", "records", "mails"} <= tables
    with Ledger.open(path) as again:  # reopening keeps the version and does not migrate twice
        assert again.schema_version == 1


def test_migration_hook_runs_each_step_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        run_id = ledger.start_run(date(2016, 3, 4), T0)
    calls: list[int] = []

    def to_2(db: sqlite3.Connection) -> None:
        calls.append(1)
        db.execute("ALTER TABLE files ADD COLUMN note TEXT NOT NULL DEFAULT ''")

    monkeypatch.setattr(ledger_mod, "_MIGRATIONS", [*ledger_mod._MIGRATIONS, to_2])
    with Ledger.open(path) as ledger:
        assert ledger.schema_version == 2
        assert ledger.run(run_id) is not None  # data kept
        columns = [r[1] for r in ledger._db.execute("PRAGMA table_info(files)")]
        assert "note" in columns
    with Ledger.open(path):
        pass
    assert calls == [1]


def test_failed_migration_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger.open(path).close()

    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("bug in migration")

    monkeypatch.setattr(ledger_mod, "_MIGRATIONS", [*ledger_mod._MIGRATIONS, broken])
    with pytest.raises(RuntimeError):
        Ledger.open(path)
    monkeypatch.undo()
    with Ledger.open(path) as ledger:
        assert ledger.schema_version == 1
        assert ledger._db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0


def test_newer_ledger_is_refused_in_korean(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(LedgerError, match="최신 버전으로 업데이트"):
        Ledger.open(path)


def test_not_a_database_is_refused_in_korean(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(LedgerError, match="접수 대장") as info:
        Ledger.open(path)
    assert "백업본" in str(info.value)


# --- exact JSON ---

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.dates()
    # aware datetimes come back with a fixed offset (ISO 8601 carries no zone name)
    | st.datetimes(timezones=st.sampled_from([timezone(timedelta(hours=9)), timezone.utc]) | st.none())
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4)
    | st.lists(inner, max_size=4).map(tuple)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    | st.dictionaries(st.integers(), inner, max_size=3),
    max_leaves=12,
)


def same(a: Any, b: Any) -> bool:
    """Equal AND of the same types all the way down (Decimal('1.50') is not Decimal('1.5'))."""
    if type(a) is not type(b):
        return False
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, datetime):
        return a == b and a.utcoffset() == b.utcoffset()
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


@given(values)
def test_json_round_trips_exactly(value: Any) -> None:
    assert same(decode_json(encode_json(value)), value)


def test_json_tags_cannot_be_forged_by_data() -> None:
    record = {"$date": "2016-03-04", "$dec": "1.5", "normal": {"$tuple": [1]}}
    assert same(decode_json(encode_json(record)), record)
    assert same(decode_json(encode_json(RECORDS)), RECORDS)


def test_json_refuses_float_and_unknown_types() -> None:
    with pytest.raises(TypeError, match="float"):
        encode_json({"prize_won": 1.5})
    with pytest.raises(TypeError):
        encode_json({"x": {1, 2}})


# --- runs ---


def test_run_lifecycle_and_last_run(ledger: Ledger) -> None:
    assert ledger.last_run() is None
    first = ledger.start_run(date(2016, 3, 3), T0 - timedelta(days=1))
    row = ledger.run(first)
    assert row is not None and row.status is RunStatus.RUNNING and row.finished is None
    assert ledger.last_run() is None  # not finished yet
    ledger.record_file(entry(first, 1, FileStatus.REJECTED, problems=[Problem("required", column="사업명")]))
    ledger.finish_run(first, RunStatus.REJECTED, 1, {"seen": 1, "total_won": Decimal("100")}, finished=T0)
    done = ledger.last_run()
    assert done is not None and done.id == first
    assert done.status is RunStatus.REJECTED and done.exit_code == 1
    assert done.finished == T0 and done.as_of == date(2016, 3, 3)
    assert done.summary == {"seen": 1, "total_won": Decimal("100")}
    assert done.problems == 1  # counted from the run's files
    second = ledger.start_run(date(2016, 3, 4), T0)
    ledger.finish_run(second, "ok", 0, {}, problems=0, finished=T0 + timedelta(minutes=1))
    assert ledger.last_run().id == second
    assert ledger.last_run(before=second).id == first
    with pytest.raises(KeyError):
        ledger.finish_run(999, RunStatus.OK, 0, {})


def test_a_run_left_running_is_marked_interrupted(ledger: Ledger) -> None:
    died = ledger.start_run(date(2016, 3, 3), T0)
    now = ledger.start_run(date(2016, 3, 4), T0 + timedelta(days=1))
    assert ledger.run(died).status is RunStatus.INTERRUPTED
    assert ledger.run(now).status is RunStatus.RUNNING


def test_timestamps_are_iso_with_seoul_offset(ledger: Ledger) -> None:
    utc_start = datetime(2016, 3, 3, 17, 30, 15, 999, tzinfo=timezone.utc)  # 02:30:15 next day in Seoul
    run_id = ledger.start_run(date(2016, 3, 4), utc_start)
    raw = ledger._db.execute("SELECT started FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    assert raw == "2016-03-04T02:30:15+09:00"
    with pytest.raises(ValueError, match="naive"):
        ledger.start_run(date(2016, 3, 4), datetime(2016, 3, 4, 2, 0))


# --- files ---


def test_record_accepted_file_with_records(ledger: Ledger) -> None:
    run_id = ledger.start_run(date(2016, 3, 4), T0)
    file_id = ledger.record_file(entry(run_id, 1), RECORDS)
    row = ledger.file(file_id)
    assert row is not None
    assert row.status is FileStatus.ACCEPTED and row.name == "주간실적_1.xlsx"
    assert row.original_path == "총무과/주간실적_1.xlsx"
    assert row.arrived_at == T0 - timedelta(hours=5) and row.first_seen == T0
    assert row.filed_path is None and row.problems == ()
    assert same(ledger.records_of(sha(1)), RECORDS)
    assert ledger.find_by_hash(sha(1)) == row
    assert ledger.find_by_hash(sha(2)) is None


def test_duplicate_and_rejected_rows(ledger: Ledger) -> None:
    run_id = ledger.start_run(date(2016, 3, 4), T0)
    problem = Problem("bad-date", file="주간실적_3.xlsx", sheet="주간실적", cell="C7", column="보고일", params={"value": "3월"})
    rejected = ledger.record_file(entry(run_id, 3, FileStatus.REJECTED, problems=[problem]))
    first = ledger.record_file(entry(run_id, 1), RECORDS)
    dup = ledger.record_file(entry(run_id, 1, FileStatus.DUPLICATE, duplicate_of=first, original_path="다시보냄.xlsx"))
    assert ledger.find_by_hash(sha(1)).id == first  # the duplicate never shadows the original
    assert ledger.find_by_hash(sha(3)).id == rejected
    row = ledger.file(rejected)
    assert row.problems[0]["cell"] == "C7" and row.problems[0]["code"] == "bad-date"
    assert row.problems[0]["message"] == problem.message and "3월" in row.problems[0]["message"]
    assert row.problem_objects() == [problem]
    assert ledger.file(dup).duplicate_of == first
    assert [r.id for r in ledger.history()] == [rejected, first, dup]
    assert [r.id for r in ledger.files_of_run(run_id)] == [rejected, first, dup]
    with pytest.raises(sqlite3.IntegrityError):  # duplicate_of must name a real file
        ledger.record_file(entry(run_id, 4, FileStatus.DUPLICATE, duplicate_of=12345))


def test_record_file_is_one_transaction(ledger: Ledger) -> None:
    run_id = ledger.start_run(date(2016, 3, 4), T0)
    with pytest.raises(TypeError):
        ledger.record_file(entry(run_id, 1), [{"prize_won": 0.1}])  # fails after the row insert
    assert ledger.history() == []
    assert ledger.records_of(sha(1)) == []


def test_records_only_for_accepted_files(ledger: Ledger) -> None:
    run_id = ledger.start_run(date(2016, 3, 4), T0)
    with pytest.raises(ValueError):
        ledger.record_file(entry(run_id, 1, FileStatus.REJECTED), RECORDS)
    assert ledger.history() == []


@pytest.mark.parametrize(
    "change, message",
    [
        ({"sha256": "ABC"}, "sha256"),
        ({"status": FileStatus.DEFERRED}, "deferred"),
        ({"status": FileStatus.DUPLICATE}, "duplicate_of"),
        ({"duplicate_of": 1}, "duplicate_of"),
        ({"arrived_at": T0 + timedelta(seconds=1)}, "arrived_at"),
        ({"mtime": datetime(2016, 3, 4)}, "naive"),
        ({"original_path": "/srv/inbox/x.xlsx"}, "relative"),
        ({"original_path": "C:\\inbox\\x.xlsx"}, "relative"),
        ({"size": -1}, "size"),
    ],
)
def test_file_entry_refuses_bugs(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        entry(1, 1, **change)


def test_file_entry_normalises_paths() -> None:
    assert entry(1, 1, original_path=PureWindowsPath("총무과\\a.xlsx")).original_path == "총무과/a.xlsx"
    assert entry(1, 1, original_path="총무과\\b.xlsx").name == "b.xlsx"


def test_unfiled_until_marked_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        run_id = ledger.start_run(date(2016, 3, 4), T0)
        a = ledger.record_file(entry(run_id, 1), RECORDS)
        b = ledger.record_file(entry(run_id, 2, FileStatus.REJECTED))
        ledger.mark_filed(a, Path("archive") / "2016" / "03" / "주간실적_1.xlsx")
        with pytest.raises(ValueError):
            ledger.mark_filed(b, tmp_path / "quarantine" / "x.xlsx")  # absolute: a bug
        with pytest.raises(KeyError):
            ledger.mark_filed(999, "archive/x.xlsx")
    # the process "crashed" before moving b: the next run finds it
    with Ledger.open(path) as ledger:
        assert [r.id for r in ledger.unfiled()] == [b]
        assert ledger.file(a).filed_path == "archive/2016/03/주간실적_1.xlsx"
        ledger.mark_filed(b, "quarantine\\주간실적_2.xlsx")
        assert ledger.unfiled() == []
        assert ledger.file(b).filed_path == "quarantine/주간실적_2.xlsx"


def test_process_dying_inside_a_transaction_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        run_id = ledger.start_run(date(2016, 3, 4), T0)
    script = textwrap.dedent(
        f"""
        import os
        from datetime import datetime, timedelta
        from pathlib import Path
        from coop_batch.ledger import Ledger, FileEntry, FileStatus, SEOUL
        t = datetime(2016, 3, 4, 2, tzinfo=SEOUL)
        ledger = Ledger.open(Path({str(path)!r}))
        e = FileEntry({run_id}, "{sha(1)}", "a.xlsx", 1, t, t, t, FileStatus.ACCEPTED, kind="weekly")
        ledger.record_file(e, [{{"_row": 3}}])
        with ledger.transaction():
            e2 = FileEntry({run_id}, "{sha(2)}", "b.xlsx", 1, t, t, t, FileStatus.ACCEPTED, kind="weekly")
            ledger.record_file(e2, [{{"_row": 3}}])
            os._exit(7)
        """
    )
    assert subprocess.run([sys.executable, "-c", script], timeout=60).returncode == 7
    with Ledger.open(path) as ledger:
        assert [r.sha256 for r in ledger.history()] == [sha(1)]
        assert [r.sha256 for r in ledger.unfiled()] == [sha(1)]
        assert ledger.records_of(sha(2)) == []


def test_nested_transactions_are_savepoints(ledger: Ledger) -> None:
    run_id = ledger.start_run(date(2016, 3, 4), T0)
    with ledger.transaction():
        ledger.record_file(entry(run_id, 1), RECORDS)
        with pytest.raises(TypeError):
            ledger.record_file(entry(run_id, 2), [{"bad": 1.0}])
        ledger.record_file(entry(run_id, 3))
    assert [r.sha256 for r in ledger.history()] == [sha(1), sha(3)]


def test_reader_sees_committed_rows_while_writer_is_busy(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as writer, Ledger.open(path) as reader:
        run_id = writer.start_run(date(2016, 3, 4), T0)
        writer.record_file(entry(run_id, 1))
        with writer.transaction():
            writer.record_file(entry(run_id, 2))
            assert [r.sha256 for r in reader.history()] == [sha(1)]  # WAL: no blocking, no dirty read
        assert [r.sha256 for r in reader.history()] == [sha(1), sha(2)]


def test_accepted_files_in_arrival_order(ledger: Ledger) -> None:
    run_id = ledger.start_run(date(2016, 3, 4), T0)
    late = ledger.record_file(entry(run_id, 1, arrived_at=T0 - timedelta(hours=1)))
    early = ledger.record_file(entry(run_id, 2, arrived_at=T0 - timedelta(days=3)))
    ledger.record_file(entry(run_id, 3, FileStatus.REJECTED))
    ledger.record_file(entry(run_id, 2, FileStatus.DUPLICATE, duplicate_of=early))
    tie_a = ledger.record_file(entry(run_id, 4, arrived_at=T0 - timedelta(hours=1)))
    assert [r.id for r in ledger.accepted_files()] == [early, late, tie_a]
    # the run sorts the history it already read by the same key (ledger.accepted_order)
    from coop_batch.run import _accepted

    assert [r.id for r in _accepted(list(reversed(ledger.history())))] == [early, late, tie_a]


# --- record sets and their versions ---


def test_one_record_set_per_content_and_stale_versions(ledger: Ledger) -> None:
    run_id = ledger.start_run(date(2016, 3, 4), T0)
    ledger.record_file(entry(run_id, 1), RECORDS)
    ledger.record_file(entry(run_id, 2))  # accepted, records not stored yet
    ledger.record_file(entry(run_id, 3, FileStatus.REJECTED))
    assert ledger.stale_records("2016.1") == [sha(2)]
    # the same content again under the same versions keeps the first set
    ledger.record_file(entry(run_id, 1, original_path="again.xlsx"), [{"_row": 99}])
    assert same(ledger.records_of(sha(1)), RECORDS)
    # a new rules version or template schema makes every set stale
    assert ledger.stale_records("2016.2") == [sha(1), sha(2)]
    assert ledger.stale_records("2016.1", template_version=TEMPLATE_VERSION + "x") == [sha(1), sha(2)]
    ledger.store_records(sha(1), "weekly", RECORDS[:1], "2016.2")
    ledger.store_records(sha(2), "weekly", [], "2016.2")
    assert ledger.stale_records("2016.2") == []
    assert same(ledger.records_of(sha(1)), RECORDS[:1])
    assert ledger.records_of(sha(2)) == []
    # an accepted file under other versions replaces its set when recorded with records
    ledger.record_file(entry(run_id, 1, original_path="third.xlsx", rules_version="2016.3"), RECORDS)
    assert same(ledger.records_of(sha(1)), RECORDS)
    assert ledger.stale_records("2016.3") == [sha(2)]


# --- mails ---


def test_mail_queue_never_sends_twice(ledger: Ledger) -> None:
    run_id = ledger.start_run(date(2016, 3, 4), T0)
    mail_id = ledger.add_mail(run_id, Path("outbox") / "mail" / "통합현황_20160304.eml", "[기획예산과] 통합현황", T0)
    assert [m.id for m in ledger.unsent_mails()] == [mail_id]
    ledger.mark_mail(mail_id, sent=False, error="Connection refused")
    mail = ledger.mail(mail_id)
    assert mail.status is MailStatus.FAILED and mail.attempts == 1 and mail.last_error == "Connection refused"
    assert mail.path == "outbox/mail/통합현황_20160304.eml" and mail.created == T0
    assert [m.id for m in ledger.unsent_mails()] == [mail_id]  # retried next run
    ledger.mark_mail(mail_id, sent=True, when=T0 + timedelta(days=1))
    mail = ledger.mail(mail_id)
    assert mail.status is MailStatus.SENT and mail.attempts == 2 and mail.sent_at == T0 + timedelta(days=1)
    assert ledger.unsent_mails() == []
    with pytest.raises(KeyError):
        ledger.mark_mail(mail_id, sent=True)
    with pytest.raises(sqlite3.IntegrityError):
        ledger.add_mail(run_id, "outbox/mail/통합현황_20160304.eml", "again")


# --- fast paths (performance round 3) against the slow paths they shortcut ---

from hypothesis import settings  # noqa: E402

from coop_batch.ledger_codec import _encode, decode_many, encode_record  # noqa: E402
from coop_batch.ledger_rows import FileRow, RunRow, _relative_posix, row_reader  # noqa: E402


def _slow_encode(value: Any) -> str:
    """`encode_json` as it was: the general walk, then json.dumps."""
    import json

    return json.dumps(_encode(value), ensure_ascii=False, separators=(",", ":"))


class _Str(str):
    pass


class _Int(int):
    pass


flat_values = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.dates()
    | st.datetimes(timezones=st.sampled_from([timezone(timedelta(hours=9)), timezone.utc]) | st.none())
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.floats(allow_nan=False)  # refused by both
    | st.text(max_size=3).map(_Str) | st.integers().map(_Int)  # subclasses: the general path
    | st.lists(st.text(max_size=3), max_size=2) | st.tuples(st.integers())
)
record_keys = st.text(max_size=4) | st.sampled_from(["$date", "$dec", "$tuple", "$map", "_row"]) | st.integers()


@settings(max_examples=300)
@given(st.dictionaries(record_keys, flat_values, max_size=6) | values)
def test_encode_record_is_byte_for_byte_encode_json(record: Any) -> None:
    try:
        expected: Any = _slow_encode(record)
    except TypeError as exc:
        expected = (TypeError, str(exc))
    try:
        got: Any = encode_record(record) if isinstance(record, dict) else encode_json(record)
    except TypeError as exc:
        got = (TypeError, str(exc))
    assert got == expected


@given(st.lists(values, max_size=6))
def test_decode_many_is_decode_json_each(items: list[Any]) -> None:
    texts = [encode_json(v) for v in items]
    decoded = decode_many(texts)
    assert len(decoded) == len(texts) and all(same(a, decode_json(t)) for a, t in zip(decoded, texts))


@pytest.mark.parametrize(
    "texts",
    [
        ['{"a":1}', '{"b":', '2}'],  # one row cut in two: each alone raises
        ['{"a":1}', "1,2"],  # joined, this would parse as three values for two rows
        ['{"a":1}', ""],
        ['{"a":1}', " {} "],  # decode_json tolerates the blanks: so must the fallback
    ],
)
def test_decode_many_on_damaged_rows_does_what_decode_json_each_does(texts: list[str]) -> None:
    try:
        expected: Any = [decode_json(t) for t in texts]
    except ValueError as exc:
        expected = type(exc)
    try:
        got: Any = decode_many(texts)
    except ValueError as exc:
        got = type(exc)
    assert got == expected


def _slow_relative_posix(value: Any, what: str) -> str:
    from pathlib import PurePath, PurePosixPath

    text = value.as_posix() if isinstance(value, PurePath) else str(value).replace("\\", "/")
    if not text or PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute():
        raise ValueError(f"{what} must be a relative path, got {value!r}")
    return text


@settings(max_examples=500)
@given(st.text(alphabet="/\\:.aC1 가", max_size=6))
def test_relative_path_fast_check_agrees_with_purepaths(text: str) -> None:
    def outcome(check: Any) -> Any:
        try:
            return check(text, "p")
        except ValueError as exc:
            return str(exc)

    assert outcome(_relative_posix) == outcome(_slow_relative_posix)


@settings(max_examples=300)
@given(st.text(alphabet="/.a가", min_size=1, max_size=6).filter(lambda t: not t.startswith("/")))
def test_entry_name_agrees_with_purepath(text: str) -> None:
    from pathlib import PurePosixPath

    assert entry(1, 1, original_path=text).name == PurePosixPath(text).name


def _slow_row(cls: type, row: sqlite3.Row) -> Any:
    """Rows as `_from_row` built them before: by name, through the dataclass constructor."""
    import json

    from coop_batch.ledger_rows import _CONVERT

    extra = {FileRow: {"status": FileStatus, "problems": lambda t: tuple(json.loads(t))},
             RunRow: {"status": RunStatus, "summary": decode_json}}[cls]
    convert = {**_CONVERT, **extra}
    values = {}
    from dataclasses import fields

    for f in fields(cls):
        value = row[f.name]
        values[f.name] = convert[f.name](value) if value is not None and f.name in convert else value
    return cls(**values)


def test_row_reader_builds_what_the_constructor_builds(ledger: Ledger) -> None:
    run_id = ledger.start_run(date(2016, 3, 4), T0)
    problem = Problem("bad-date", file="a.xlsx", sheet="주간실적", cell="C7", column="보고일", params={"value": "3월"})
    first = ledger.record_file(entry(run_id, 1), RECORDS)
    ledger.record_file(entry(run_id, 2, FileStatus.REJECTED, problems=[problem], kind="", department=""))
    ledger.record_file(entry(run_id, 1, FileStatus.DUPLICATE, duplicate_of=first, original_path="b.xlsx"))
    ledger.mark_filed(first, "archive/2016/03/주간실적_1.xlsx")
    ledger.finish_run(run_id, RunStatus.OK, 0, {"won": Decimal("1.50")}, finished=T0)
    raw = ledger._db.execute("SELECT * FROM files ORDER BY id").fetchall()
    fast = ledger.history()
    assert fast == [_slow_row(FileRow, r) for r in raw]
    for got, want in zip(fast, (_slow_row(FileRow, r) for r in raw)):
        assert {k: type(v) for k, v in vars(got).items()} == {k: type(v) for k, v in vars(want).items()}
        assert got.problem_objects() == want.problem_objects() and hash(got.status) == hash(want.status)
    run_row = ledger._db.execute("SELECT * FROM runs").fetchone()
    assert ledger.run(run_id) == _slow_row(RunRow, run_row)
    # a table with more columns than the row type names (a later migration): the extra is ignored
    build = row_reader(FileRow, ["extra", *run_row.keys()][:1] + list(raw[0].keys()))
    assert build((None, *tuple(raw[0]))) == fast[0]


def _old_record_file(db: sqlite3.Connection, e: FileEntry, records: list[dict[str, Any]] | None) -> int:
    """`record_file` as it was, statement by statement (the reference for `record_files`)."""
    import json

    from coop_batch.ledger import to_iso

    cursor = db.execute(
        """INSERT INTO files (run_id, sha256, original_path, name, size, mtime, first_seen, arrived_at,
               kind, department, status, duplicate_of, template_version, rules_version, problems)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (e.run_id, e.sha256, e.original_path, e.name, e.size, to_iso(e.mtime), to_iso(e.first_seen),
         to_iso(e.arrived_at), e.kind, e.department, e.status.value, e.duplicate_of, e.template_version,
         e.rules_version, json.dumps([p.as_dict() for p in e.problems], ensure_ascii=False)),
    )
    current = db.execute(
        "SELECT 1 FROM record_sets WHERE sha256 = ? AND rules_version = ? AND template_version = ?",
        (e.sha256, e.rules_version, TEMPLATE_VERSION),
    ).fetchone()
    if records is not None and current is None:
        db.execute("DELETE FROM record_sets WHERE sha256 = ?", (e.sha256,))
        db.execute("INSERT INTO record_sets (sha256, kind, template_version, rules_version, rows, stored_at) "
                   "VALUES (?, ?, ?, ?, ?, 'x')", (e.sha256, e.kind, TEMPLATE_VERSION, e.rules_version, len(records)))
        db.executemany("INSERT INTO records (sha256, seq, data) VALUES (?, ?, ?)",
                       [(e.sha256, i, _slow_encode(r)) for i, r in enumerate(records)])
    return int(cursor.lastrowid)


def _tables(db: sqlite3.Connection) -> tuple[list[Any], ...]:
    return (
        [tuple(r) for r in db.execute("SELECT * FROM files ORDER BY id")],
        [tuple(r) for r in db.execute("SELECT sha256, kind, template_version, rules_version, rows FROM record_sets ORDER BY sha256")],
        [tuple(r) for r in db.execute("SELECT * FROM records ORDER BY sha256, seq")],
    )


# one step of a night: (content number, status, rules version, records or None)
steps = st.lists(
    st.tuples(
        st.integers(1, 4),
        st.sampled_from([FileStatus.ACCEPTED, FileStatus.REJECTED, FileStatus.DUPLICATE]),
        st.sampled_from(["2016.1", "2016.2"]),
        st.none() | st.lists(st.fixed_dictionaries({"_row": st.integers(2, 9), "project": st.text(max_size=4)}),
                             max_size=3),
    ),
    max_size=10,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(steps, min_size=1, max_size=3))
def test_record_files_is_record_file_one_by_one(tmp_path_factory: pytest.TempPathFactory, nights: list[Any]) -> None:
    folder = tmp_path_factory.mktemp("batch")
    with Ledger.open(folder / "fast.sqlite") as fast, Ledger.open(folder / "slow.sqlite") as slow:
        for night in nights:
            run_id = fast.start_run(date(2016, 3, 4), T0)
            assert slow.start_run(date(2016, 3, 4), T0) == run_id
            batch, first_id = [], {}
            next_id = fast._db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM files").fetchone()[0]
            for n, status, rules, records in night:
                prior = fast.find_by_hash(sha(n))  # recorded on an earlier night, or in this batch
                original = prior.id if prior is not None else first_id.get(n)
                if status is FileStatus.DUPLICATE and original is None:
                    status = FileStatus.ACCEPTED
                e = entry(run_id, n, status, rules_version=rules,
                          duplicate_of=original if status is FileStatus.DUPLICATE else None)
                batch.append((e, records if status is FileStatus.ACCEPTED else None))
                if status is not FileStatus.DUPLICATE:
                    first_id.setdefault(n, next_id + len(batch) - 1)
            with slow.transaction():
                expected_ids = [_old_record_file(slow._db, e, r) for e, r in batch]
            assert fast.record_files(batch) == expected_ids
            assert _tables(fast._db) == _tables(slow._db)
            first_rows = {  # `find_by_hash` as it was: one query per content
                sha(n): _slow_row(FileRow, row) for n in range(6) if (row := slow._db.execute(
                    "SELECT * FROM files WHERE sha256 = ? AND status IN ('accepted', 'rejected') ORDER BY id LIMIT 1",
                    (sha(n),)).fetchone()) is not None
            }
            assert fast.find_by_hashes([sha(n) for n in range(6)]) == first_rows
            assert fast.all_records() == {s: fast.records_of(s) for s in fast.all_records()}
            assert set(fast.all_records()) == {r[0] for r in fast._db.execute("SELECT sha256 FROM record_sets WHERE rows > 0")}


def test_record_files_is_all_or_nothing(ledger: Ledger) -> None:
    run_id = ledger.start_run(date(2016, 3, 4), T0)
    with pytest.raises(TypeError):  # the second file's records fail after both rows are written
        ledger.record_files([(entry(run_id, 1), RECORDS), (entry(run_id, 2), [{"prize_won": 0.5}])])
    assert ledger.history() == [] and ledger.all_records() == {}
    assert ledger.record_files([]) == []

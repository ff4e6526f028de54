"""The inbox: scanning (owner/temp files, subfolders, settle time), hashing, arrival time, filing, notes."""

from __future__ import annotations

import errno
import hashlib
import os
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from coop_batch import inbox as inbox_mod
from coop_batch.errors import Problem
from coop_batch.inbox import (
    SEOUL,
    archive_dir,
    arrival_from_stat,
    arrival_time,
    file_into,
    find_filed,
    is_ignored,
    note_path,
    scan,
    sha256_of,
    stat_and_sha256,
    write_note,
)

SETTLE = 120.0


def put(path: Path, data: bytes = b"PK\x03\x04 workbook", age: float | None = None, now: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if age is not None:
        os.utime(path, (now - age, now - age))
    return path


@pytest.fixture
def now() -> float:
    # a fixed clock well after the files' real creation, so that only the mtimes set here matter
    return time.time() + 10_000


@pytest.fixture
def mixed_inbox(tmp_path: Path, now: float) -> Path:
    inbox = tmp_path / "inbox"
    old = 3600.0
    put(inbox / "주간실적_총무과.xlsx", age=old, now=now)
    put(inbox / "안전관리과" / "자체추진계획.xlsx", age=old, now=now)  # department's own folder
    put(inbox / "안전관리과" / "2016" / "담당자지정.XLSX", age=old, now=now)
    put(inbox / "보고서.hwp", age=old, now=now)  # odd file: a candidate, to be rejected with a reason
    put(inbox / "포상금배분.xlsx", age=30, now=now)  # still copying
    put(inbox / "평가결과.xlsx", age=old, now=now)
    put(inbox / "~$평가결과.xlsx", b"owner", age=old, now=now)  # Excel: it is open
    put(inbox / "유공직원 추천 명단 최종본.xlsx", age=old, now=now)
    put(inbox / "~$직원 추천 명단 최종본.xlsx", b"owner", age=old, now=now)  # Excel, long name form
    put(inbox / "자치행정과" / "contacts.xlsx", age=old, now=now)
    put(inbox / "자치행정과" / ".~lock.contacts.xlsx#", b"lo", age=old, now=now)  # LibreOffice: open
    for junk in ("~WRL0001.tmp", "저장중.tmp", "Thumbs.db", "desktop.ini", ".DS_Store", ".숨김.xlsx", "메모.txt"):
        put(inbox / junk, b"junk", age=old, now=now)
    put(inbox / ".git" / "HEAD.xlsx", age=old, now=now)  # hidden folder: not entered
    return inbox


def names(paths: list[Path], inbox: Path) -> list[str]:
    return [p.relative_to(inbox).as_posix() for p in paths]


def test_scan_sorts_files_into_buckets(mixed_inbox: Path, now: float) -> None:
    result = scan(mixed_inbox, SETTLE, now=now)
    assert names(result.ready, mixed_inbox) == [
        "보고서.hwp",
        "안전관리과/2016/담당자지정.XLSX",
        "안전관리과/자체추진계획.xlsx",
        "주간실적_총무과.xlsx",
    ]
    assert names(result.unsettled, mixed_inbox) == ["포상금배분.xlsx"]
    assert names(result.open_elsewhere, mixed_inbox) == [
        "유공직원 추천 명단 최종본.xlsx",
        "자치행정과/contacts.xlsx",
        "평가결과.xlsx",
    ]
    assert result.owners[mixed_inbox / "평가결과.xlsx"].name == "~$평가결과.xlsx"
    assert result.owners[mixed_inbox / "자치행정과" / "contacts.xlsx"].name == ".~lock.contacts.xlsx#"
    ignored = set(names(result.ignored, mixed_inbox))
    assert ignored == {
        "~$평가결과.xlsx",
        "~$직원 추천 명단 최종본.xlsx",
        "자치행정과/.~lock.contacts.xlsx#",
        "~WRL0001.tmp",
        "저장중.tmp",
        "Thumbs.db",
        "desktop.ini",
        ".DS_Store",
        ".숨김.xlsx",
        "메모.txt",
    }
    # counted = every candidate exactly once; ignored files are not counted
    counted = names(result.candidates, mixed_inbox)
    assert len(counted) == len(set(counted)) == 8
    assert not ignored & set(counted)
    assert names(result.waiting, mixed_inbox) == sorted(
        names(result.unsettled + result.open_elsewhere, mixed_inbox), key=lambda n: (n.casefold(), n)
    )


def test_scan_touches_nothing(mixed_inbox: Path, now: float) -> None:
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in mixed_inbox.rglob("*") if p.is_file()}
    scan(mixed_inbox, SETTLE, now=now)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in mixed_inbox.rglob("*") if p.is_file()}
    assert after == before


def test_settle_boundary_and_later_pickup(tmp_path: Path, now: float) -> None:
    inbox = tmp_path / "inbox"
    put(inbox / "a.xlsx", age=SETTLE - 1, now=now)
    put(inbox / "b.xlsx", age=SETTLE, now=now)
    result = scan(inbox, SETTLE, now=now)
    assert names(result.unsettled, inbox) == ["a.xlsx"]
    assert names(result.ready, inbox) == ["b.xlsx"]
    later = scan(inbox, SETTLE, now=now + 5)  # the next run picks it up
    assert names(later.ready, inbox) == ["a.xlsx", "b.xlsx"]
    assert scan(inbox, 0, now=now).unsettled == []


def test_copy_keeping_an_old_mtime_still_waits(tmp_path: Path) -> None:
    # Windows copies keep the source's mtime; the copy's creation (Windows) / change (POSIX) time is new
    inbox = tmp_path / "inbox"
    path = put(inbox / "주간실적.xlsx")
    os.utime(path, (time.time() - 86_400, time.time() - 86_400))
    assert names(scan(inbox, SETTLE).unsettled, inbox) == ["주간실적.xlsx"]


def test_owner_file_case_and_exact_names(tmp_path: Path, now: float) -> None:
    inbox = tmp_path / "inbox"
    put(inbox / "Report.xlsx", age=999, now=now)
    put(inbox / "~$REPORT.xlsx", age=999, now=now)  # Windows names are case-insensitive
    put(inbox / "other.xlsx", age=999, now=now)
    put(inbox / "~$other.xlsx.bak", age=999, now=now)  # not an owner of other.xlsx
    result = scan(inbox, SETTLE, now=now)
    assert names(result.open_elsewhere, inbox) == ["Report.xlsx"]
    assert names(result.ready, inbox) == ["other.xlsx"]


def test_an_owner_file_over_a_day_old_is_taken_for_a_leftover(tmp_path: Path, now: float) -> None:
    inbox = tmp_path / "inbox"
    put(inbox / "주간.xlsx", age=999, now=now)
    put(inbox / "~$주간.xlsx", age=inbox_mod.STALE_OWNER_SECONDS + 60, now=now)
    put(inbox / "계획.xlsx", age=999, now=now)
    put(inbox / "~$계획.xlsx", age=inbox_mod.STALE_OWNER_SECONDS - 60, now=now)
    result = scan(inbox, SETTLE, now=now)
    assert names(result.ready, inbox) == ["주간.xlsx"]
    assert {p.name: o.name for p, o in result.stale_owners.items()} == {"주간.xlsx": "~$주간.xlsx"}
    assert names(result.open_elsewhere, inbox) == ["계획.xlsx"]


def test_waiting_problems_say_why(mixed_inbox: Path, now: float) -> None:
    problems = scan(mixed_inbox, SETTLE, now=now).waiting_problems()
    by_file = {p.file: p for p in problems}
    assert by_file["포상금배분.xlsx"].code == "file-still-copying"
    assert by_file["평가결과.xlsx"].code == "file-open-elsewhere"
    assert "'~$평가결과.xlsx'" in by_file["평가결과.xlsx"].message
    assert not any(p.is_error for p in problems)


def test_paths_inside_the_inbox_are_those_relative_to_gives(tmp_path: Path, now: float) -> None:
    inbox = tmp_path / "받은 파일함"
    names = ["a.xlsx", "기획예산과/주간 실적.xlsx", "기획예산과/하위 폴더/B.xlsx", "A.xlsx", "z/y/x/깊은.xlsx"]
    if os.sep == "/":
        names.append("역슬래시\\이름.xlsx")  # a legal name on POSIX, not a folder
    for name in names:
        put(inbox / name, age=1000, now=now)
    found = scan(inbox, settle_seconds=0, now=now)
    assert sorted(found.relative(p) for p in found.ready) == sorted(names)
    for path in found.ready:
        assert found.relative(path) == path.relative_to(inbox).as_posix()
    assert found.relative(inbox / "그 밖의.xlsx") == "그 밖의.xlsx"  # not from the scan: worked out
    keys = [found.relative(p) for p in found.ready]
    assert keys == sorted(keys, key=lambda k: (k.casefold(), k))


def test_missing_inbox_is_empty(tmp_path: Path) -> None:
    result = scan(tmp_path / "nope", SETTLE)
    assert result.candidates == [] and result.ignored == []


def test_is_ignored_by_windows_attributes() -> None:
    assert is_ignored("보고.xlsx", attributes=2)  # FILE_ATTRIBUTE_HIDDEN
    assert is_ignored("보고.xlsx", attributes=4)  # FILE_ATTRIBUTE_SYSTEM
    assert not is_ignored("보고.xlsx", attributes=32)  # FILE_ATTRIBUTE_ARCHIVE
    assert is_ignored("~ABC123.TMP") and is_ignored("THUMBS.DB") and not is_ignored("보고.csv")


# --- hashing and opening ---


def test_sha256_is_streamed_and_exact(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = put(tmp_path / "큰파일.xlsx", data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()


def test_stat_and_sha256_from_one_open(tmp_path: Path) -> None:
    path = put(tmp_path / "a.xlsx")
    st, sha = stat_and_sha256(path)
    assert (st.st_size, st.st_mtime) == (path.stat().st_size, path.stat().st_mtime)
    assert sha == sha256_of(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert stat_and_sha256(tmp_path / "missing.xlsx") is None
    assert stat_and_sha256(tmp_path) is None  # a folder cannot be read as a file


# --- arrival time ---


def test_arrival_time_is_mtime_clamped_to_first_seen(tmp_path: Path) -> None:
    first_seen = datetime(2016, 3, 5, 2, 0, tzinfo=SEOUL)
    friday_night = datetime(2016, 3, 4, 23, 59, 30, tzinfo=SEOUL)
    path = put(tmp_path / "주간실적.xlsx")
    os.utime(path, (friday_night.timestamp(), friday_night.timestamp()))
    arrived = arrival_time(path, first_seen)
    if not hasattr(path.stat(), "st_birthtime") and os.name != "nt":
        assert arrived == friday_night
    assert arrived <= first_seen and arrived.tzinfo is not None
    assert arrived.utcoffset() == timedelta(hours=9)
    future = first_seen + timedelta(days=2)  # a PC with a wrong clock
    os.utime(path, (future.timestamp(), future.timestamp()))
    assert arrival_time(path, first_seen) == first_seen


def test_arrival_uses_creation_time_where_the_os_gives_one() -> None:
    first_seen = datetime(2016, 3, 7, 2, 0, tzinfo=SEOUL)
    old = datetime(2016, 2, 1, 9, 0, tzinfo=SEOUL).timestamp()  # the source's mtime, kept by the copy
    copied = datetime(2016, 3, 4, 18, 0, tzinfo=SEOUL).timestamp()
    edited = datetime(2016, 3, 6, 10, 0, tzinfo=SEOUL).timestamp()
    # macOS / Python 3.12+ on Windows: st_birthtime
    birth = SimpleNamespace(st_mtime=old, st_ctime=edited, st_birthtime=copied)
    assert arrival_from_stat(birth, first_seen).timestamp() == copied
    # Windows, Python 3.11: st_ctime is the creation time
    win = SimpleNamespace(st_mtime=old, st_ctime=copied)
    assert arrival_from_stat(win, first_seen, windows=True).timestamp() == copied
    # saved over in place after creation: the content arrived with the later mtime
    saved = SimpleNamespace(st_mtime=edited, st_ctime=copied)
    assert arrival_from_stat(saved, first_seen, windows=True).timestamp() == edited
    # POSIX without a creation time: st_ctime is a change time, not used
    posix = SimpleNamespace(st_mtime=old, st_ctime=copied)
    assert arrival_from_stat(posix, first_seen, windows=False).timestamp() == old
    # never later than the ledger's first sight, whatever the clocks say
    utc_first_seen = first_seen.astimezone(timezone.utc)
    ahead = SimpleNamespace(st_mtime=first_seen.timestamp() + 60, st_ctime=copied)
    assert arrival_from_stat(ahead, utc_first_seen, windows=True) == first_seen
    assert arrival_from_stat(ahead, utc_first_seen, windows=True).tzinfo is SEOUL


# --- filing ---

HASH = "1a2b3c4d" + "0" * 56


def test_archive_dir(tmp_path: Path) -> None:
    assert archive_dir(tmp_path, date(2016, 3, 4)) == tmp_path / "2016" / "03"
    utc_evening = datetime(2016, 2, 29, 16, 30, tzinfo=timezone.utc)  # 2016-03-01 01:30 in Seoul
    assert archive_dir(tmp_path, utc_evening) == tmp_path / "2016" / "03"


def test_file_into_moves_keeping_the_name(tmp_path: Path) -> None:
    src = put(tmp_path / "inbox" / "총무과" / "주간실적.xlsx", b"content-1")
    dest_dir = tmp_path / "archive" / "2016" / "03"
    final = file_into(src, dest_dir, HASH)
    assert final == dest_dir / "주간실적.xlsx"
    assert final.read_bytes() == b"content-1" and not src.exists()


def test_file_into_never_overwrites(tmp_path: Path) -> None:
    dest_dir = tmp_path / "archive"
    existing = put(dest_dir / "주간실적.xlsx", b"earlier")
    first = file_into(put(tmp_path / "inbox" / "주간실적.xlsx", b"second"), dest_dir, HASH)
    assert first == dest_dir / "1a2b3c4d_주간실적.xlsx"
    second = file_into(put(tmp_path / "inbox" / "주간실적.xlsx", b"third"), dest_dir, HASH)
    assert second == dest_dir / "1a2b3c4d_주간실적(2).xlsx"
    assert existing.read_bytes() == b"earlier"
    assert first.read_bytes() == b"second" and second.read_bytes() == b"third"
    assert sorted(p.name for p in dest_dir.iterdir()) == sorted(
        ["주간실적.xlsx", "1a2b3c4d_주간실적.xlsx", "1a2b3c4d_주간실적(2).xlsx"]
    )


def test_file_into_across_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = put(tmp_path / "inbox" / "a.xlsx", b"data", age=5000, now=time.time())
    mtime = src.stat().st_mtime

    def cross_device(a: object, b: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(inbox_mod.os, "replace", cross_device)
    monkeypatch.setattr(inbox_mod, "_rename_noreplace", lambda *args: None)  # the portable path, as on Windows
    final = file_into(src, tmp_path / "other-disk", HASH)
    assert final.read_bytes() == b"data" and not src.exists()
    assert final.stat().st_mtime == pytest.approx(mtime)  # shutil.move semantics: metadata kept


def test_failed_cross_device_move_leaves_the_file_in_one_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = put(tmp_path / "inbox" / "a.xlsx", b"data")
    real_unlink = os.unlink

    def cross_device(a: object, b: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def locked_source(path: object, *args: object, **kwargs: object) -> None:
        if Path(path) == src:  # type: ignore[arg-type]
            raise PermissionError(errno.EACCES, "in use by another process")
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(inbox_mod.os, "replace", cross_device)
    monkeypatch.setattr(inbox_mod, "_rename_noreplace", lambda *args: None)  # the portable path, as on Windows
    monkeypatch.setattr(inbox_mod.os, "unlink", locked_source)
    with pytest.raises(PermissionError):
        file_into(src, tmp_path / "archive", HASH)
    assert src.read_bytes() == b"data"
    assert list((tmp_path / "archive").iterdir()) == []


def test_failed_move_leaves_no_placeholder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        file_into(tmp_path / "inbox" / "gone.xlsx", tmp_path / "archive", HASH)
    assert list((tmp_path / "archive").iterdir()) == []


def _sharing_violation(errors: int, monkeypatch: pytest.MonkeyPatch, winerror: int = 32) -> list[float]:
    """The portable move (as on Windows), whose first `errors` replaces fail as when another process
    holds the file open; returns the pauses taken."""
    real, pauses, calls = os.replace, [], []

    def replace(src, dst):
        calls.append(src)
        if len(calls) <= errors:
            exc = PermissionError(errno.EACCES, "다른 프로세스가 파일을 사용 중입니다")
            exc.winerror = winerror  # (set by Windows itself there)
            raise exc
        return real(src, dst)

    monkeypatch.setattr(inbox_mod, "_rename_noreplace", lambda *args: None)
    monkeypatch.setattr(inbox_mod.os, "replace", replace)
    monkeypatch.setattr(inbox_mod.time, "sleep", pauses.append)
    return pauses


def test_a_file_held_open_for_a_moment_is_moved_once_it_is_let_go(tmp_path: Path, monkeypatch) -> None:
    pauses = _sharing_violation(2, monkeypatch)
    src = put(tmp_path / "inbox" / "a.xlsx", b"data")
    target = file_into(src, tmp_path / "archive", HASH)
    assert target == tmp_path / "archive" / "a.xlsx" and target.read_bytes() == b"data" and not src.exists()
    assert pauses == [0.05, 0.1]


@pytest.mark.parametrize("winerror", [5, 33])  # access denied (a scan of the placeholder), lock violation
def test_a_file_held_open_for_good_stays_where_it_was(tmp_path: Path, monkeypatch, winerror: int) -> None:
    pauses = _sharing_violation(99, monkeypatch, winerror=winerror)
    src = put(tmp_path / "inbox" / "a.xlsx", b"data")
    with pytest.raises(PermissionError):
        file_into(src, tmp_path / "archive", HASH)
    assert pauses == list(inbox_mod._MOVE_PAUSES)
    assert src.read_bytes() == b"data" and list((tmp_path / "archive").iterdir()) == []


def test_across_devices_a_source_held_open_for_a_moment_is_removed_once_let_go(tmp_path: Path, monkeypatch) -> None:
    real_unlink, pauses, calls = os.unlink, [], []

    def cross_device(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def unlink(path, *args, **kwargs):
        if Path(path).name == "a.xlsx" and Path(path).parent.name == "inbox" and len(calls) < 2:
            calls.append(path)
            exc = PermissionError(errno.EACCES, "다른 프로세스가 파일을 사용 중입니다")
            exc.winerror = 32
            raise exc
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(inbox_mod, "_rename_noreplace", lambda *args: None)
    monkeypatch.setattr(inbox_mod.os, "replace", cross_device)
    monkeypatch.setattr(inbox_mod.os, "unlink", unlink)
    monkeypatch.setattr(inbox_mod.time, "sleep", pauses.append)
    src = put(tmp_path / "inbox" / "a.xlsx", b"data")
    target = file_into(src, tmp_path / "archive", HASH)
    assert target.read_bytes() == b"data" and not src.exists() and pauses == [0.05, 0.1]


def test_other_move_errors_are_not_tried_again(tmp_path: Path, monkeypatch) -> None:
    pauses = _sharing_violation(99, monkeypatch, winerror=3)  # path not found: waiting will not help
    src = put(tmp_path / "inbox" / "a.xlsx", b"data")
    with pytest.raises(PermissionError):
        file_into(src, tmp_path / "archive", HASH)
    assert pauses == [] and src.exists()


def test_find_filed_after_a_crash(tmp_path: Path) -> None:
    dest_dir = tmp_path / "archive"
    put(dest_dir / "주간실적.xlsx", b"someone else's")
    data = b"mine"
    digest = hashlib.sha256(data).hexdigest()
    final = file_into(put(tmp_path / "inbox" / "주간실적.xlsx", data), dest_dir, digest)
    assert find_filed(dest_dir, "주간실적.xlsx", digest) == final
    assert find_filed(dest_dir, "주간실적.xlsx", "f" * 64) is None
    assert find_filed(tmp_path / "nowhere", "주간실적.xlsx", digest) is None
    again = file_into(put(tmp_path / "inbox" / "주간실적.xlsx", b"mine too"), dest_dir, digest)
    assert again.name == f"{digest[:8]}_주간실적(2).xlsx"
    assert find_filed(dest_dir, "주간실적.xlsx", hashlib.sha256(b"mine too").hexdigest()) is None  # other prefix
    assert find_filed(dest_dir, "주간실적.xlsx", digest) == final


# --- notes ---


def test_note_is_korean_utf8_bom_crlf(tmp_path: Path) -> None:
    problems = [
        Problem("bad-date", file="주간실적.xlsx", sheet="주간실적", cell="C7", column="보고일", params={"value": "3월 4일"}),
        Problem("required", file="주간실적.xlsx", sheet="주간실적", cell="B9", column="사업명"),
        Problem("old-template", file="주간실적.xlsx", params={"found": "0.9", "expected": "1.0"}),
    ]
    filed = tmp_path / "quarantine" / "주간실적.xlsx"
    note = note_path(filed)
    assert note == tmp_path / "quarantine" / "주간실적.xlsx_오류.txt"
    write_note(note, "총무과/주간실적.xlsx", problems, "반려 사유:\n고쳐서 다시 보내 주세요.")
    raw = note.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.count(b"\n") == raw.count(b"\r\n") > 0 and b"\r\r" not in raw
    text = raw.decode("utf-8-sig")
    lines = text.split("\r\n")
    assert lines[0] == "반려 사유:" and lines[1] == "고쳐서 다시 보내 주세요."
    assert "파일: 총무과/주간실적.xlsx" in lines
    assert "1. " + problems[0].line() in lines
    assert "주간실적!C7" in text and "3월 4일" in text and "[경고]" in text
    assert "문제: 3건" in lines


@pytest.mark.skipif(inbox_mod._renameat2() is None, reason="renameat2 is Linux-only")
@pytest.mark.parametrize(
    "taken",
    [
        [],
        ["주간실적.xlsx"],
        ["주간실적.xlsx", "1a2b3c4d_주간실적.xlsx", "1a2b3c4d_주간실적(2).xlsx"],
        ["주간실적.xlsx", "1a2b3c4d_주간실적(2).xlsx"],  # a gap: the prefixed name is free again
        ["1a2b3c4d_주간실적.xlsx"],  # the plain name is free
    ],
)
def test_rename_tries_the_names_the_portable_move_picks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         taken: list[str]) -> None:
    """The renameat2 path and the portable path (O_EXCL) walk the same names in the same order."""
    picked = []
    for portable in (False, True):
        dest_dir = tmp_path / str(portable) / "archive"
        for name in taken:
            put(dest_dir / name, b"earlier")
        if portable:
            monkeypatch.setattr(inbox_mod, "_rename_noreplace", lambda *args: None)
        final = file_into(put(tmp_path / str(portable) / "inbox" / "주간실적.xlsx", b"new"), dest_dir, HASH)
        assert final.read_bytes() == b"new"
        assert all((dest_dir / name).read_bytes() == b"earlier" for name in taken)
        picked.append(final.name)
    assert picked[0] == picked[1]


def test_filed_path_by_text_is_relative_to(tmp_path: Path) -> None:
    """`run_filing._filed_path` spells `relative_to(root).as_posix()` by text for a file right in its folder."""
    from coop_batch.run_filing import _filed_path

    root = tmp_path / "ws"
    archive = root / "archive" / "2016" / "12"
    folders: dict[Path, tuple[str, str]] = {}
    for dest_dir, target in [
        (archive, archive / "주간실적.xlsx"),
        (archive, archive / "1a2b3c4d_주간실적(2).xlsx"),
        (archive, archive / "sub" / "a.xlsx"),  # not right in the folder: the exact way
        (archive, root / "quarantine" / "a.xlsx"),  # elsewhere
        (root / "quarantine", root / "quarantine" / "a b.xlsx"),
        (root, root / "a.xlsx"),  # the folder is the root itself
        (archive, archive),
    ]:
        assert _filed_path(root, dest_dir, target, folders) == target.relative_to(root).as_posix()
    with pytest.raises(ValueError):
        _filed_path(root, tmp_path / "elsewhere", tmp_path / "elsewhere" / "a.xlsx", {})


# --- names too long for what the run adds to them ---


def test_a_long_name_is_cut_to_leave_room_for_what_the_run_adds() -> None:
    long_name = "나" * 79 + ".xlsx"  # 242 bytes: legal, but not with `_검토결과.txt` after it
    cut = inbox_mod.fit_name(long_name)
    assert cut.endswith("~.xlsx") and cut.startswith("나" * 60)
    assert len(cut.encode()) <= inbox_mod.NAME_BYTES - inbox_mod.NAME_ROOM
    assert len(f"12345678_{cut}_검토결과.txt".encode()) <= 255 and len(f"{cut}(99)_오류.txt".encode()) <= 255
    assert inbox_mod.fit_name(cut) == cut and inbox_mod.fit_name("주간실적.xlsx") == "주간실적.xlsx"
    odd = inbox_mod.fit_name("가" * 90)  # no extension: cut whole, never in the middle of a syllable
    assert odd.endswith("~") and set(odd[:-1]) == {"가"}


def test_a_long_named_file_is_filed_cut_and_found_again(tmp_path: Path) -> None:
    src = tmp_path / "inbox" / ("나" * 79 + ".xlsx")
    src.parent.mkdir()
    src.write_bytes(b"content")
    sha = hashlib.sha256(b"content").hexdigest()
    filed = inbox_mod.file_into(src, tmp_path / "archive", sha)
    assert filed.name == inbox_mod.fit_name(src.name) and filed.read_bytes() == b"content"
    assert inbox_mod.find_filed(tmp_path / "archive", src.name, sha) == filed
    inbox_mod.write_note(inbox_mod.note_path(filed), src.name, [])
    assert inbox_mod.note_path(filed).is_file()


def test_a_link_in_the_inbox_is_filed_as_the_file_it_points_to(tmp_path: Path) -> None:
    """A moved link would vanish with its target: the archive must hold the bytes that were read."""
    outside = tmp_path / "밖" / "원본.xlsx"
    outside.parent.mkdir()
    outside.write_bytes(b"workbook bytes")
    link = tmp_path / "inbox" / "주간실적.xlsx"
    link.parent.mkdir()
    link.symlink_to(outside)
    sha = hashlib.sha256(b"workbook bytes").hexdigest()
    filed = inbox_mod.file_into(link, tmp_path / "archive", sha)
    assert not filed.is_symlink() and filed.read_bytes() == b"workbook bytes"
    assert not os.path.lexists(link) and outside.read_bytes() == b"workbook bytes"  # the original is not ours
    outside.unlink()
    assert filed.read_bytes() == b"workbook bytes"

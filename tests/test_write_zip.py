"""The workbook package compressed on two threads (`write_zip`): the same bytes as zipfile."""

from __future__ import annotations

import io
import zipfile
import zlib
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter.workbook as xw
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coop_batch import write_zip
from coop_batch.write import ColumnSpec, SheetSpec, write_workbook
from coop_batch.write_zip import PackageZip, threaded_zip

AS_OF = datetime(2016, 3, 31, 9, 0)


def big_sheets() -> list[SheetSpec]:
    columns = [ColumnSpec("번호", "int"), ColumnSpec("부서"), ColumnSpec("날짜", "date"), ColumnSpec("내용")]
    rows = [[i, f"부서{i % 13}", date(2016, 1, 1 + i % 28), f"○ 추진실적: 회의 {i}회 개최 & <검토>"] for i in range(3000)]
    return [SheetSpec("주간실적", columns, rows), SheetSpec("제출이력", columns, rows[::-1]), SheetSpec("빈 표", columns, [])]


@contextmanager
def without_threads(workbook=None):
    yield


def test_a_workbook_packed_on_threads_is_the_same_bytes_as_zipfiles(tmp_path: Path, monkeypatch):
    used: list[PackageZip] = []
    real_init = PackageZip.__init__
    monkeypatch.setattr(PackageZip, "__init__", lambda self, *a, **k: (used.append(self), real_init(self, *a, **k))[1])
    early: list[str] = []
    real_take = PackageZip.take_early
    monkeypatch.setattr(PackageZip, "take_early", lambda self, name: (early.append(name), real_take(self, name))[1])
    copied: list[int] = []
    real_copy = write_zip._copy_kept_rows
    monkeypatch.setattr(write_zip, "_copy_kept_rows", lambda ws: (copied.append(ws.index), real_copy(ws))[1])
    monkeypatch.setattr(write_zip.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(write_zip, "EARLY_ROWS_BYTES", 1 << 40)  # no rows packed early: see below
    threaded = write_workbook(tmp_path / "threaded.xlsx", big_sheets(), created=AS_OF).path
    assert len(used) == 1, "the threaded package was not used"
    # each sheet's part taken as soon as it was assembled; the kept rows copied as bytes
    assert len(set(early)) == 3 and copied == [0, 1, 2]
    assert xw.ZipFile is zipfile.ZipFile  # given back
    monkeypatch.setattr(write_zip, "threaded_zip", without_threads)
    plain = write_workbook(tmp_path / "plain.xlsx", big_sheets(), created=AS_OF).path
    assert len(used) == 1
    assert threaded.read_bytes() == plain.read_bytes()
    with zipfile.ZipFile(threaded) as archive:
        assert archive.testzip() is None
    assert openpyxl.load_workbook(threaded)["제출이력"]["A2"].value == 2999


def parts_of(path: Path) -> list[tuple[str, bytes, int, int, tuple[int, ...]]]:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        return [(i.filename, archive.read(i), i.CRC, i.file_size, i.date_time) for i in archive.infolist()]


def test_big_tables_rows_packed_early_join_their_parts_stream(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(write_zip.os, "cpu_count", lambda: 2)
    packed: list[write_zip.PackedRows] = []
    real_take = write_zip.RowPacker.take

    def take(self, ws):
        real_take(self, ws)
        if hasattr(ws, "_coop_rows"):
            packed.append(ws._coop_rows)

    monkeypatch.setattr(write_zip.RowPacker, "take", take)
    early = write_workbook(tmp_path / "early.xlsx", big_sheets(), created=AS_OF).path
    assert len(packed) == 2  # 주간실적 and 제출이력 (3,000 rows each); the empty table has none
    raw = early.read_bytes()
    for rows in packed:
        assert rows.data.startswith(b"<row") and len(rows.data) >= write_zip.EARLY_ROWS_BYTES
        assert rows.packed.result() in raw  # the segment went into the archive as it was packed
    monkeypatch.setattr(write_zip, "threaded_zip", without_threads)
    plain = write_workbook(tmp_path / "plain.xlsx", big_sheets(), created=AS_OF).path
    assert parts_of(early) == parts_of(plain)  # the same parts, read back: only their deflate differs
    assert openpyxl.load_workbook(early)["제출이력"]["A2"].value == 2999


def test_rows_are_not_packed_early_on_one_core_or_for_a_small_table(tmp_path: Path, monkeypatch):
    taken: list[object] = []
    real_take = write_zip.RowPacker.take
    monkeypatch.setattr(write_zip.RowPacker, "take",
                        lambda self, ws: (real_take(self, ws), taken.append(getattr(ws, "_coop_rows", None)))[0])
    monkeypatch.setattr(write_zip.os, "cpu_count", lambda: 1)
    write_workbook(tmp_path / "one.xlsx", big_sheets(), created=AS_OF)
    assert taken == [None, None, None]
    monkeypatch.setattr(write_zip.os, "cpu_count", lambda: 2)
    taken.clear()
    columns, rows = big_sheets()[0].columns, big_sheets()[0].rows
    write_workbook(tmp_path / "small.xlsx", [SheetSpec("작은 표", columns, rows[:50])], created=AS_OF)
    assert taken == [None]


def done(value: bytes) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


@settings(max_examples=60, deadline=None)
@given(head=st.binary(max_size=2000), rows=st.binary(max_size=5000), tail=st.binary(max_size=2000),
       repeat=st.integers(1, 40))
def test_a_part_deflated_around_its_packed_rows_reads_back_whole(head, rows, tail, repeat):
    rows = rows * repeat  # long runs too: back-references may not reach across the segments
    part = head + rows + tail
    packed = write_zip.PackedRows(rows, done(write_zip._deflate(rows, zlib.Z_SYNC_FLUSH)))
    stream = write_zip._deflate_around(part, len(head), packed)
    assert zlib.decompress(stream, -15) == part
    if rows:
        assert packed.packed.result() in stream


def test_a_part_whose_bytes_are_not_the_packed_rows_is_deflated_whole():
    rows = b"<row r='1'/>" * 100
    packed = write_zip.PackedRows(rows, done(b"not deflate at all"))
    part = b"<head/>" + rows.replace(b"1", b"2") + b"<tail/>"
    assert write_zip._deflate_around(part, 7, packed) == write_zip._deflate(part)
    assert write_zip._deflate_around(b"<head/>", 7, packed) == write_zip._deflate(b"<head/>")  # shorter than the rows


NAMES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/\\"), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.tuples(NAMES, st.binary(max_size=3000) | st.text(max_size=500)), max_size=6, unique_by=lambda p: p[0]),
       deflate=st.booleans())
def test_any_parts_give_the_bytes_zipfile_gives(parts, deflate):
    compression = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    ours, theirs = io.BytesIO(b"stub"), io.BytesIO(b"stub")  # an archive after other bytes, too
    ours.seek(0, 2)
    theirs.seek(0, 2)
    mine = PackageZip(ours, "w", compression=compression, allowZip64=True)
    with zipfile.ZipFile(theirs, "w", compression=compression, allowZip64=True) as reference:
        for name, data in parts:
            info = zipfile.ZipInfo(f"xl/{name}", (1980, 1, 1, 0, 0, 0))
            info.compress_type = compression
            reference.writestr(info, data)
            mine.writestr(zipfile.ZipInfo(f"xl/{name}", (1980, 1, 1, 0, 0, 0)), data)
    mine.close()
    assert ours.getvalue() == theirs.getvalue()


def test_files_handed_over_are_read_at_once(tmp_path: Path):
    """xlsxwriter removes each part's file as soon as `write` returns."""
    out = tmp_path / "p.zip"
    archive = PackageZip(str(out), "w", compression=zipfile.ZIP_DEFLATED)
    for name in ("a.xml", "b.xml"):
        part = tmp_path / name
        part.write_text(f"<{name}/>" * 1000, "utf-8")
        archive.write(str(part), f"xl/{name}")
        part.unlink()
    archive.close()
    with zipfile.ZipFile(out) as check:
        assert check.namelist() == ["xl/a.xml", "xl/b.xml"] and check.read("xl/b.xml") == b"<b.xml/>" * 1000


def test_a_package_too_big_to_hold_goes_through_zipfile_part_by_part(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(write_zip, "_BUFFER", 200_000)  # about one sheet of big_sheets(): the rest streams
    monkeypatch.setattr(write_zip.os, "cpu_count", lambda: 2)
    spilled: list[PackageZip] = []
    real = PackageZip._spilled
    monkeypatch.setattr(PackageZip, "_spilled", lambda self, size: (spilled.append(self), real(self, size))[1])
    bounded = write_workbook(tmp_path / "bounded.xlsx", big_sheets(), created=AS_OF).path
    assert spilled and spilled[0]._direct is not None and spilled[0]._parts == []
    monkeypatch.setattr(write_zip, "threaded_zip", without_threads)
    plain = write_workbook(tmp_path / "plain.xlsx", big_sheets(), created=AS_OF).path
    assert bounded.read_bytes() == plain.read_bytes()


def test_an_archive_past_zip_limits_is_left_to_zipfile(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(write_zip, "_BUFFER", 10)
    out = tmp_path / "big.zip"
    archive = PackageZip(str(out), "w", compression=zipfile.ZIP_DEFLATED)
    archive.writestr(zipfile.ZipInfo("a.xml", (1980, 1, 1, 0, 0, 0)), b"x" * 100)
    archive.close()
    with zipfile.ZipFile(out) as check:
        assert check.read("a.xml") == b"x" * 100


def test_the_swap_is_undone_on_failure_and_skipped_where_it_does_not_fit(monkeypatch):
    monkeypatch.setattr(write_zip.os, "cpu_count", lambda: 2)
    with pytest.raises(RuntimeError):
        with threaded_zip():
            assert xw.ZipFile is PackageZip
            raise RuntimeError("boom")
    assert xw.ZipFile is zipfile.ZipFile
    monkeypatch.setattr(write_zip.os, "cpu_count", lambda: 1)  # one core: nothing to gain
    with threaded_zip():
        assert xw.ZipFile is zipfile.ZipFile
    monkeypatch.setattr(write_zip.os, "cpu_count", lambda: 2)
    with threaded_zip():  # nested (another writer already swapped): left as it is
        with threaded_zip():
            assert xw.ZipFile is PackageZip
        assert xw.ZipFile is PackageZip
    assert xw.ZipFile is zipfile.ZipFile


def test_a_failing_compression_fails_the_write_and_leaves_no_file(tmp_path: Path, monkeypatch):
    def broken(data: bytes, *end: int) -> bytes:
        raise MemoryError("no room")

    monkeypatch.setattr(write_zip, "_deflate", broken)
    monkeypatch.setattr(write_zip.os, "cpu_count", lambda: 2)
    with pytest.raises(Exception):
        write_workbook(tmp_path / "out" / "x.xlsx", big_sheets()[:1], created=AS_OF)
    assert list((tmp_path / "out").iterdir()) == []

"""The demo's files that are not standard templates, and how a file is made to look as if it arrived.

- `csv_bytes`: a weekly report saved as CSV (what Excel writes on a Korean PC) — renamed .xlsx by the demo.
- `handmade_weekly`: a weekly report typed in Excel without the template (openpyxl; no `_meta`, a title
  row, shuffled and spaced-out headers, a text date).  Its bytes are fixed: openpyxl would stamp the
  zip entries and `modified` with the clock, so entries get one fixed timestamp here.
- `set_arrival`: the file's mtime, and on Windows its creation time, which is what the run reads there.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any


def set_arrival(path: Path, when: datetime, *, windows: bool = os.name == "nt") -> None:
    """Make `path` look as if it arrived at `when`: mtime (and atime), and on Windows the creation
    time too, because there the run takes arrival from the creation time."""
    ns = int(when.timestamp()) * 1_000_000_000
    os.utime(path, ns=(ns, ns))
    if windows:
        _set_creation_time_windows(path, when.timestamp())


def to_filetime(timestamp: float) -> int:
    """POSIX seconds → Windows FILETIME (100 ns ticks since 1601-01-01 UTC)."""
    return int(timestamp * 10_000_000) + 116_444_736_000_000_000


def _set_creation_time_windows(path: Path, timestamp: float) -> None:  # pragma: no cover - Windows only
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.CreateFileW.restype = wintypes.HANDLE
    kernel32.CreateFileW.argtypes = (
        wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID,
        wintypes.DWORD, wintypes.DWORD, wintypes.HANDLE,
    )
    kernel32.SetFileTime.argtypes = (wintypes.HANDLE, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    file_write_attributes, share_all, open_existing = 0x100, 0x7, 3
    handle = kernel32.CreateFileW(str(path), file_write_attributes, share_all, None, open_existing, 0x80, None)
    if handle in (None, wintypes.HANDLE(-1).value):
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        ticks = to_filetime(timestamp)
        created = wintypes.FILETIME(ticks & 0xFFFFFFFF, ticks >> 32)
        if not kernel32.SetFileTime(handle, ctypes.byref(created), None, None):
            raise ctypes.WinError(ctypes.get_last_error())
    finally:
        kernel32.CloseHandle(handle)


_WEEKLY_FIELDS = ("report_date", "project", "department", "progress", "issues", "measures", "requests")


def csv_bytes(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """What Excel writes for 'CSV (쉼표로 분리)' on a Korean PC: cp949, CRLF, quoted where needed."""
    import csv

    from .schema import KIND_BY_ID

    kind = KIND_BY_ID["weekly"]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(kind.column(f).title for f in _WEEKLY_FIELDS)
    for row in rows:
        writer.writerow("" if row.get(f) is None else str(row[f]) for f in _WEEKLY_FIELDS)
    return buffer.getvalue().encode("cp949")


# A header typed by hand: shuffled, spaced out as in the seed, and an extra column the reader ignores.
_HANDMADE_HEADER = (("사 업 명", "project"), ("보 고 일", "report_date"), ("부 서 명", "department"),
                    ("추 진 실 적", "progress"), ("협조사항", "requests"), ("문 제 점", "issues"),
                    ("대 책", "measures"), ("비 고", None))


def handmade_weekly(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """A weekly report typed in Excel without the template: openpyxl, no `_meta`, a title row."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.writer.excel import ExcelWriter

    first = rows[0]
    report_day: date = first["report_date"]
    wb = Workbook()
    ws = wb.active
    ws.title = "주간 실적"
    ws.append(["2016년 시·자치구 공동협력사업 주간 추진실적 보고"])
    ws.append([f"{first['department']}  /  {report_day.year}. {report_day.month}. {report_day.day}."])
    ws.append([])
    ws.append([title for title, _ in _HANDMADE_HEADER])
    for row in rows:
        values = []
        for _, key in _HANDMADE_HEADER:
            value = row.get(key) if key else None
            if key == "report_date":  # typed as text, the seed's way
                value = f"{value.year}. {value.month}. {value.day}."
            values.append(value)
        ws.append(values)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(_HANDMADE_HEADER))
    ws["A1"].font = Font(name="맑은 고딕", size=14, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center")
    for col, width in zip("ABCDEFGH", (40, 14, 12, 60, 24, 24, 24, 8)):
        ws.column_dimensions[col].width = width
    stamp = datetime.combine(report_day, time(10, 30))
    wb.properties.creator = first["department"]
    wb.properties.created = wb.properties.modified = stamp
    buffer = io.BytesIO()
    with _FixedTimeZip(buffer, "w", zipfile.ZIP_DEFLATED, stamp=stamp) as archive:
        ExcelWriter(wb, archive).write_data()  # not save(): that would stamp `modified` with now()
    return buffer.getvalue()


class _FixedTimeZip(zipfile.ZipFile):
    """A ZipFile whose entries all carry one fixed timestamp, so the bytes do not depend on the clock."""

    def __init__(self, *args: Any, stamp: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stamp = stamp.timetuple()[:6]

    def writestr(self, zinfo_or_arcname: Any, data: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(zinfo_or_arcname, str):
            zinfo_or_arcname = zipfile.ZipInfo(zinfo_or_arcname, date_time=self._stamp)
            zinfo_or_arcname.compress_type = self.compression
        super().writestr(zinfo_or_arcname, data, *args, **kwargs)

    def write(self, filename: Any, arcname: Any = None, *args: Any, **kwargs: Any) -> None:
        # openpyxl streams worksheets through a temporary file, which would carry its own mtime.
        self.writestr(arcname or str(filename), Path(filename).read_bytes())

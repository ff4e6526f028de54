"""The package of a workbook, its parts compressed on two threads.

xlsxwriter's `close()` zips the parts one after another: 0.15 s of a 5,000-file master (two
sheets of ~4 MB each) on one core while the other waits.  zlib lets go of the GIL while it
compresses, so `PackageZip` compresses each part on a thread and writes the archive when it is
closed: the same bytes as `zipfile.ZipFile` (same headers, same deflate level;
tests/test_write_zip.py compares them), in about half the time.

xlsxwriter assembles every part before it hands the first one over, so a worksheet's part is
taken as soon as it is assembled (`threaded_zip(workbook)`): its compression then runs while the
sheets after it are assembled, not after them all (−60 ms of a 5,000-file master).  The rows a
constant_memory sheet kept in its temp file are copied into the part as bytes, not decoded and
encoded again as text (−35 ms).

The rows of a big table are deflated even earlier (`RowPacker`): as soon as the table is written,
on a thread, while the sheets after it are written (−35 ms of a night of 20 files over 5,000).  They
become one segment of their part's deflate stream, ended by a sync flush on a byte boundary, so the
part's own stream takes them in as they are (as pigz joins the pieces it compresses apart): the
archive then differs from zipfile's in those bytes only, and reads back the same.

It stands in for `zipfile.ZipFile` inside `xlsxwriter.workbook` only while `threaded_zip()` is
active, and only for what xlsxwriter 3 asks of it (`write`, `writestr`, `close`, `compression`).
"""

from __future__ import annotations

import os
import shutil
import struct
import threading
import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # pragma: no cover
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

_END = struct.Struct("<4s4H2LH")  # end of central directory (zipfile.structEndArchive)
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # central directory entry (zipfile.structCentralDir)
# Parts held at most: past this the rest goes through zipfile as it comes (bounded memory; and far below
# the 2 GiB where an archive needs zip64, which `_write` does not write: zipfile does, past it).
_BUFFER = 256 << 20
# Rows packed early: from a table of this much XML on (~4 ms to deflate; a 5,000-file master has two
# of ~4 MB), and at most this much held per workbook (what a part holds stays within `_BUFFER`).
EARLY_ROWS_BYTES = 256 << 10
_EARLY_BUFFER = 64 << 20
_SWAP = threading.Lock()
_OPEN = threading.local()  # .archive: the PackageZip xlsxwriter opened on this thread, in threaded_zip()


def _deflate(data: bytes | memoryview, end: int = zlib.Z_FINISH) -> bytes:
    """What zipfile writes for a part: raw deflate at zlib's default level.  With `end=Z_SYNC_FLUSH`,
    a segment that another deflate stream may go on from (no final block, ends on a byte)."""
    packer = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(end)


class PackedRows(NamedTuple):
    """A sheet's rows as its row file held them when its table ended, and their deflate segment."""

    data: bytes
    packed: Future[bytes]


def _deflate_around(data: bytes, offset: int, rows: PackedRows) -> bytes:
    """A part's deflate stream, with `rows` (at `offset`) taken in as they were packed: the part
    before them and after them are deflated here.  The whole part is deflated anew where the bytes at
    `offset` are not the rows packed (never so, but a part must not depend on it)."""
    if not data.startswith(rows.data, offset):
        return _deflate(data)
    view = memoryview(data)
    head = _deflate(view[:offset], zlib.Z_SYNC_FLUSH)
    return head + rows.packed.result() + _deflate(view[offset + len(rows.data):])


class RowPacker:
    """Deflates the rows of a workbook's big tables as each table is done (see the module's docstring):
    `take(ws)` after a table; `threaded_zip(workbook)` then splices them into the parts."""

    def __init__(self) -> None:
        self.usable = _threads_usable()
        self._held = 0

    def take(self, ws: Worksheet) -> None:
        """The rows `ws` has in its row file (constant_memory), deflated on a thread of their own from
        now on (it ends with its deflating: nothing to shut down, whatever becomes of the workbook)."""
        rows = getattr(ws, "row_data_fh", None)
        if not self.usable or rows is None or getattr(ws, "row_data_fh_closed", True):
            return
        rows.flush()
        buffer = rows.buffer
        end = buffer.tell()  # the row file only grows: what is in it now starts the sheetData copied at close
        if end < EARLY_ROWS_BYTES or self._held + end > _EARLY_BUFFER:
            return
        buffer.seek(0)
        data = buffer.read(end)
        buffer.seek(end)
        self._held += end
        packed: Future[bytes] = Future()
        threading.Thread(target=_deflate_into, args=(packed, data), name="coop-rows", daemon=True).start()
        ws._coop_rows = PackedRows(data, packed)


def _deflate_into(packed: Future[bytes], data: bytes) -> None:
    try:
        packed.set_result(_deflate(data, zlib.Z_SYNC_FLUSH))
    except BaseException as exc:  # (MemoryError): the part's deflate raises it at the close
        packed.set_exception(exc)


class PackageZip:
    """`zipfile.ZipFile(file, "w", compression=..., allowZip64=...)` as xlsxwriter uses it."""

    def __init__(self, file: str | os.PathLike[str] | IO[bytes], mode: str = "w",
                 compression: int = zipfile.ZIP_DEFLATED, allowZip64: bool = True) -> None:
        if mode != "w" or compression not in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED):
            raise ValueError(f"PackageZip writes new deflated or stored archives, not mode={mode!r}")
        self.file, self.compression, self.allow_zip64 = file, compression, allowZip64
        self._parts: list[tuple[zipfile.ZipInfo, bytes, Future[bytes] | None]] = []
        self._held = 0
        self._direct: zipfile.ZipFile | None = None  # a package too big to hold: zipfile, part by part
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="coop-zip")
        self._early: dict[str, tuple[bytes, Future[bytes] | None]] = {}  # file → its bytes, being packed
        self._rows: dict[str, tuple[int, PackedRows]] = {}  # file → the rows packed early, and where they are
        _OPEN.archive = self

    def rows_at(self, filename: str, offset: int, rows: PackedRows) -> None:
        """The part `filename` will hold `rows`, packed early, at `offset`."""
        if self.compression == zipfile.ZIP_DEFLATED:
            self._rows[filename] = (offset, rows)

    def _packing(self, filename: str, data: bytes) -> Future[bytes] | None:
        """The compression of a part's bytes, started (None: stored)."""
        if self.compression != zipfile.ZIP_DEFLATED:
            return None
        spliced = self._rows.pop(filename, None)
        if spliced is not None:
            return self._pool.submit(_deflate_around, data, *spliced)
        return self._pool.submit(_deflate, data)

    def take_early(self, filename: str) -> None:
        """A part's file, complete, that `write` will be handed later: read and start packing it
        now.  Skipped (left to `write`) where holding it would pass the bound."""
        if self._direct is not None or filename in self._early:
            return
        size = os.path.getsize(filename)
        if self._held + sum(len(d) for d, _ in self._early.values()) + size > _BUFFER:
            return
        with open(filename, "rb") as handle:
            data = handle.read()
        self._early[filename] = (data, self._packing(filename, data))

    def write(self, filename: str, arcname: str) -> None:
        """A part from a file xlsxwriter removes as soon as this returns: read now, compress meanwhile."""
        early = self._early.pop(filename, None)
        if self._spilled(os.path.getsize(filename)):
            if early is not None and early[1] is not None:
                early[1].cancel()
            self._direct.write(filename, arcname)  # type: ignore[union-attr]
            return
        info = zipfile.ZipInfo.from_file(filename, arcname)
        if early is not None:
            self._add(info, *early)
            return
        with open(filename, "rb") as handle:
            data = handle.read()
        self._add(info, data, self._packing(filename, data))

    def writestr(self, info: zipfile.ZipInfo, data: bytes | str) -> None:
        data = data.encode("utf-8") if isinstance(data, str) else data
        if self._spilled(len(data)):
            self._direct.writestr(info, data)  # type: ignore[union-attr]
            return
        self._add(info, data)

    def _spilled(self, size: int) -> bool:
        """Whether the parts now go straight to zipfile: once holding `size` more would pass `_BUFFER`
        (a master of 5,000 files is 9 MB of XML; xlsxwriter's constant_memory must stay constant)."""
        if self._direct is None and (self._held + size > _BUFFER or len(self._parts) >= 0xFFFF):
            self._direct = zipfile.ZipFile(self.file, "w", compression=self.compression, allowZip64=self.allow_zip64)
            for info, data, _ in self._parts:
                self._direct.writestr(info, data)
            self._parts.clear()
        self._held += size
        return self._direct is not None

    def _add(self, info: zipfile.ZipInfo, data: bytes, packing: Future[bytes] | None | bool = True) -> None:
        """`packing`: the compression already started for `data` (None: stored), or True to start it."""
        info.compress_type = self.compression
        if not info.external_attr:  # as zipfile does: ?rw-------
            info.external_attr = 0o600 << 16
        if packing is True:
            packing = self._pool.submit(_deflate, data) if self.compression == zipfile.ZIP_DEFLATED else None
        self._parts.append((info, data, packing))

    def close(self) -> None:
        if getattr(_OPEN, "archive", None) is self:
            _OPEN.archive = None
        self._early.clear()
        self._rows.clear()
        if self._direct is not None:
            self._pool.shutdown(cancel_futures=True)
            self._direct.close()
            return
        try:
            parts = [(info, data, future.result() if future else data) for info, data, future in self._parts]
        finally:
            self._pool.shutdown()
        if hasattr(self.file, "write"):
            self._write(self.file, parts)  # type: ignore[arg-type]
        else:
            with open(self.file, "wb") as out:
                self._write(out, parts)

    @staticmethod
    def _write(out: IO[bytes], parts: list[tuple[zipfile.ZipInfo, bytes, bytes]]) -> None:
        central: list[bytes] = []
        offset = out.tell() if out.seekable() else 0  # zipfile's offsets count from the file's start
        for info, data, packed in parts:
            # As zipfile.ZipFile.write on a seekable file: no data descriptor, sizes in the header.
            info.flag_bits = 0
            info.file_size, info.compress_size, info.CRC = len(data), len(packed), zlib.crc32(data)
            info.header_offset = offset
            header = info.FileHeader(False)
            out.write(header)
            out.write(packed)
            central.append(_central_entry(info))
            offset += len(header) + len(packed)
        directory = b"".join(central)
        out.write(directory)
        out.write(_END.pack(b"PK\x05\x06", 0, 0, len(parts), len(parts), len(directory), offset, 0))


def _central_entry(info: zipfile.ZipInfo) -> bytes:
    """One central directory entry, as `zipfile.ZipFile._write_end_record` writes it (no zip64)."""
    dt = info.date_time
    dosdate = (dt[0] - 1980) << 9 | dt[1] << 5 | dt[2]
    dostime = dt[3] << 11 | dt[4] << 5 | (dt[5] // 2)
    try:
        name, flags = info.filename.encode("ascii"), info.flag_bits
    except UnicodeEncodeError:
        name, flags = info.filename.encode("utf-8"), info.flag_bits | 0x800
    return _CENTRAL.pack(
        b"PK\x01\x02", info.create_version, info.create_system, info.extract_version, info.reserved,
        flags, info.compress_type, dostime, dosdate, info.CRC, info.compress_size, info.file_size,
        len(name), len(info.extra), len(info.comment), 0, info.internal_attr, info.external_attr,
        info.header_offset,
    ) + name + info.extra + info.comment


@contextmanager
def threaded_zip(workbook: Workbook | None = None) -> Iterator[None]:
    """xlsxwriter's `close()` inside this block writes its package with `PackageZip`; with
    `workbook`, its worksheets' parts are taken as soon as each is assembled.

    Only where that is what xlsxwriter would otherwise use (`zipfile.ZipFile`, xlsxwriter 3) and
    there is a second core; the swap is held under a lock, so nested or concurrent writers in
    other threads see either the original or the stand-in, never a half-restored module."""
    import xlsxwriter.workbook as xw

    if not _threads_usable() or not _SWAP.acquire(blocking=False):
        yield
        return
    try:
        xw.ZipFile = PackageZip  # type: ignore[misc,assignment]
        _OPEN.archive = None
        for ws in workbook.worksheets() if workbook is not None else ():
            _hand_over_early(ws)
        yield
    finally:
        xw.ZipFile = zipfile.ZipFile  # type: ignore[misc]
        _OPEN.archive = None
        _SWAP.release()


def _threads_usable() -> bool:
    """Whether `threaded_zip` stands in here: xlsxwriter 3 zipping with zipfile, and a second core."""
    import xlsxwriter
    import xlsxwriter.workbook as xw

    return (
        xlsxwriter.__version__.split(".")[0] == "3"
        and (os.cpu_count() or 1) >= 2
        and getattr(xw, "ZipFile", None) is zipfile.ZipFile
    )


def _hand_over_early(ws: Worksheet) -> None:
    """Once `ws` has assembled its part (its file closed), the open PackageZip takes it; its kept rows
    go into the part as bytes.  Left as it is where this xlsxwriter's worksheet differs."""
    assemble = getattr(ws, "_assemble_xml_file", None)
    if getattr(ws, "is_chartsheet", False) or not callable(assemble):  # pragma: no cover - another xlsxwriter
        return

    def assemble_and_hand_over() -> None:
        assemble()
        archive, name = getattr(_OPEN, "archive", None), getattr(getattr(ws, "fh", None), "name", None)
        if archive is not None and isinstance(name, str):
            archive.take_early(name)

    ws._assemble_xml_file = assemble_and_hand_over  # type: ignore[method-assign]
    if getattr(ws, "constant_memory", False) and callable(getattr(ws, "_write_optimized_sheet_data", None)):
        ws._write_optimized_sheet_data = lambda: _copy_kept_rows(ws)  # type: ignore[method-assign]


def _copy_kept_rows(ws: Worksheet) -> None:
    """xlsxwriter's `_write_optimized_sheet_data`, copying bytes: both files are UTF-8 text files of
    this process, so their bytes are the text.  (On Windows text files hold CRLF where the text has
    LF, and so does the part, as with xlsxwriter's own copy; rows rendered ahead keep their LF, which
    XML reads the same.)"""
    if ws.dim_rowmin is None:
        ws._xml_empty_tag("sheetData")
        return
    ws._xml_start_tag("sheetData")
    rows, out = ws.row_data_fh, ws.fh
    rows.flush()
    out.flush()
    packed, archive = ws.__dict__.pop("_coop_rows", None), getattr(_OPEN, "archive", None)
    if packed is not None and archive is not None:
        archive.rows_at(out.name, out.buffer.tell(), packed)  # the row file's start lands here
    rows.buffer.seek(0)
    shutil.copyfileobj(rows.buffer, out.buffer, 1 << 20)
    rows.close()
    os.unlink(ws.row_data_filename)
    ws._xml_end_tag("sheetData")

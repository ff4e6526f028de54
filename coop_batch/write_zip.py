"""The package of a workbook, its parts compressed on two threads.

xlsxwriter's `close()` zips the parts one after another: 0.15 s of a 5,000-file master (two
sheets of ~4 MB each) on one core while the other waits.  zlib lets go of the GIL while it
compresses, so `PackageZip` compresses each part on a thread as xlsxwriter hands it over and
writes the archive when it is closed: the same bytes as `zipfile.ZipFile` (same headers, same
deflate level; tests/test_write_zip.py compares them), in about half the time.

It stands in for `zipfile.ZipFile` inside `xlsxwriter.workbook` only while `threaded_zip()` is
active, and only for what xlsxwriter 3 asks of it (`write`, `writestr`, `close`, `compression`).
"""

from __future__ import annotations

import os
import struct
import threading
import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import IO

_END = struct.Struct("<4s4H2LH")  # end of central directory (zipfile.structEndArchive)
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # central directory entry (zipfile.structCentralDir)
# Parts held at most: past this the rest goes through zipfile as it comes (bounded memory; and far below
# the 2 GiB where an archive needs zip64, which `_write` does not write: zipfile does, past it).
_BUFFER = 256 << 20
_SWAP = threading.Lock()


def _deflate(data: bytes) -> bytes:
    """What zipfile writes for a part: raw deflate at zlib's default level."""
    packer = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


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

    def write(self, filename: str, arcname: str) -> None:
        """A part from a file xlsxwriter removes as soon as this returns: read now, compress meanwhile."""
        if self._spilled(os.path.getsize(filename)):
            self._direct.write(filename, arcname)  # type: ignore[union-attr]
            return
        info = zipfile.ZipInfo.from_file(filename, arcname)
        with open(filename, "rb") as handle:
            self._add(info, handle.read())

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

    def _add(self, info: zipfile.ZipInfo, data: bytes) -> None:
        info.compress_type = self.compression
        if not info.external_attr:  # as zipfile does: ?rw-------
            info.external_attr = 0o600 << 16
        deflate = self.compression == zipfile.ZIP_DEFLATED
        self._parts.append((info, data, self._pool.submit(_deflate, data) if deflate else None))

    def close(self) -> None:
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
def threaded_zip() -> Iterator[None]:
    """xlsxwriter's `close()` inside this block writes its package with `PackageZip`.

    Only where that is what xlsxwriter would otherwise use (`zipfile.ZipFile`, xlsxwriter 3) and
    there is a second core; the swap is held under a lock, so nested or concurrent writers in
    other threads see either the original or the stand-in, never a half-restored module."""
    import xlsxwriter
    import xlsxwriter.workbook as xw

    usable = (
        xlsxwriter.__version__.split(".")[0] == "3"
        and (os.cpu_count() or 1) >= 2
        and getattr(xw, "ZipFile", None) is zipfile.ZipFile
    )
    if not usable or not _SWAP.acquire(blocking=False):
        yield
        return
    try:
        xw.ZipFile = PackageZip  # type: ignore[misc,assignment]
        yield
    finally:
        xw.ZipFile = zipfile.ZipFile  # type: ignore[misc]
        _SWAP.release()

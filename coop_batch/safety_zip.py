"""The zip structure of a submitted package, read without trusting it (for `safety.py`).

The central directory is parsed here rather than by zipfile: counts are bounded before anything
is built, and nothing is decoded that the checks do not need (zipfile's ZipInfo objects cost more
than the whole check on a small file).  Every offset is checked against the file before use.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from .safety_limits import Limits, _Refused

# Central-directory file header (46 bytes), only the fields the checks use: signature, flags, method,
# crc, compressed and inflated size, name/extra/comment lengths, local header offset.
_CD_RECORD = struct.Struct("<4s4xHH4xLLLHHH8xL")
_CD_ENTRY_MAX = 46 + 1024  # one record with a generous name/extra allowance


class _Source:
    """The file's bytes by offset: from memory when it was read whole, else from the open file.
    An offset outside the bytes in memory goes to the file, so that odd offsets fail as they do there."""

    __slots__ = ("data", "fp", "size")

    def __init__(self, fp: BinaryIO, data: bytes | None, size: int) -> None:
        self.fp, self.data, self.size = fp, data, size

    def read(self, at: int, n: int) -> bytes:
        data = self.data
        if data is not None and 0 <= at <= len(data):
            return data[at : at + n]
        if at > self.size:  # a crafted offset past the end (even 2**63 - 1): nothing there, as for data
            return b""
        self.fp.seek(at)
        return self.fp.read(n)


class _Entry:
    __slots__ = ("name", "flags", "method", "crc", "compressed", "size", "header_at", "data_at")

    def __init__(self, name: str, flags: int, method: int, crc: int, compressed: int, size: int, at: int) -> None:
        self.name, self.flags, self.method, self.crc = name, flags, method, crc
        self.compressed, self.size = compressed, size  # size: the declared inflated size
        self.header_at, self.data_at = at, 0  # local header; compressed bytes (found by _locate)


def _central_directory(src: _Source, limits: Limits) -> list[_Entry]:
    """The zip's entries (see the module's docstring for why not zipfile)."""
    size = src.size
    tail_len = min(size, 22 + 65535 + 20)
    tail = src.read(size - tail_len, tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise _Refused("file-corrupt", "파일 끝부분이 잘려 있음")
    count, cd_size, cd_offset = struct.unpack_from("<6xHLL", tail, at + 4)
    cd_end = size - tail_len + at
    locator = at - 20
    if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
        (record_at,) = struct.unpack_from("<Q", tail, locator + 8)
        record = src.read(record_at, 56)
        if len(record) < 56 or not record.startswith(b"PK\x06\x06"):
            raise _Refused("file-corrupt", "압축 목록(zip64)이 손상됨")
        count, cd_size, cd_offset = struct.unpack_from("<QQQ", record, 32)
        cd_end = record_at
    if count > limits.max_entries or cd_size > limits.max_entries * _CD_ENTRY_MAX:
        raise _Refused("file-too-large", f"압축 항목 {count:,}개, 한도 {limits.max_entries:,}개")
    cd_start = cd_end - cd_size
    shift = cd_start - cd_offset  # bytes in front of the zip (self-extractor stubs), as zipfile allows
    if cd_start < 0 or shift < 0:
        raise _Refused("file-corrupt", "압축 목록이 손상됨")
    cd = src.read(cd_start, cd_size)
    entries: list[_Entry] = []
    pos = 0
    while pos + 46 <= len(cd) and len(entries) <= count:
        sig, flags, method, crc, csize, usize, nlen, xlen, clen, offset = _CD_RECORD.unpack_from(cd, pos)
        if sig != b"PK\x01\x02":
            break
        at = pos + 46 + nlen
        raw_name = cd[pos + 46 : at]
        pos = at + xlen + clen
        if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF or offset == 0xFFFFFFFF:
            usize, csize, offset = _zip64_sizes(cd[at : at + xlen], usize, csize, offset)
        # ASCII reads the same in cp437 and UTF-8, and the UTF-8 codec is C code (cp437's is not).
        name = raw_name.decode("utf-8" if flags & 0x800 or raw_name.isascii() else "cp437", "replace")
        entries.append(_Entry(name, flags, method, crc, csize, usize, offset + shift))
    if len(entries) != count or pos != len(cd):
        raise _Refused("file-corrupt", "압축 목록이 손상됨")
    return entries


def _zip64_sizes(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == 1:
            values = list(struct.unpack_from(f"<{min(length, len(extra) - at - 4) // 8}Q", extra, at + 4))
            fields = [usize, csize, offset]
            for i, value in enumerate(fields):
                if value == 0xFFFFFFFF:
                    if not values:
                        raise _Refused("file-corrupt", "압축 목록(zip64)이 손상됨")
                    fields[i] = values.pop(0)
            return fields[0], fields[1], fields[2]
        at += 4 + length
    raise _Refused("file-corrupt", "압축 목록(zip64)이 손상됨")


def _locate(src: _Source, entries: list[_Entry]) -> list[_Entry]:
    """Where each entry's compressed bytes start; overlapping entries are a known zip-bomb trick."""
    size = src.size
    for entry in entries:
        header = src.read(entry.header_at, 30)
        if len(header) < 30 or not header.startswith(b"PK\x03\x04"):
            raise _Refused("file-corrupt", "압축 항목 머리가 손상됨")
        name_len, extra_len = struct.unpack_from("<HH", header, 26)
        start = entry.header_at + 30 + name_len + extra_len
        if start + entry.compressed > size:
            raise _Refused("file-corrupt", "파일 끝부분이 잘려 있음")
        entry.data_at = start
    spans = sorted((e.header_at, e.data_at + e.compressed) for e in entries)
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        raise _Refused("file-unsafe", "압축 항목이 서로 겹침(압축 폭탄 의심)")
    return entries

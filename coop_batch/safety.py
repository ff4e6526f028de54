"""Checks a submitted file's bytes before any parser touches them.

Nothing in a department's file is trusted: the extension lies (Hancom Office writes
legacy .xls bytes under .xlsx), zip headers lie (a declared size is just a number),
and the Rust reader allocates a dense cell grid from the extreme cell positions it
finds, so a 1 KB sheet with cells A1 and XFD1048576 asks for 550 GB and aborts the
process (an abort, not an exception: it cannot be caught).  So before calamine runs
we inflate every zip entry ourselves, in bounded chunks, and check: entry count,
declared and actual sizes, compression ratio (Apache POI's ZipSecureFile model),
macros, a `<!DOCTYPE` in any XML prolog (entity bombs, external entities), and the
extent of the cell grid every sheet part would produce.

The XML part scan (prolog and cell grid) lives in `safety_xml`, the zip directory's parsing in
`safety_zip`; `Limits` and the refusal both raise live in `safety_limits`, and `Limits` stays
importable from here.

Cost: a real submission (10 KB, 13 entries) is read once into memory and each entry is
inflated in one call (`_inflate_whole`), which gives the streamed path's verdicts (held to
them by tests/test_safety_fast.py), and a part byte-identical to one that already passed is not
inflated again (`_PASSED`); what remains is mostly zlib's own inflating.
"""

from __future__ import annotations

import codecs
import io
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

from .errors import Problem, legacy_xls_what, os_detail
from .safety_limits import Limits, MiB, _Refused
from .safety_xml import (
    _PartScanner,
    fast_grid_fits,
    judge_prolog,
    odd_cells,
    plain_prolog,
)
from .safety_zip import _central_directory, _Entry, _locate, _Source

# --- sniffing -------------------------------------------------------------------------------

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_CONTROL = bytes(c for c in range(32) if c not in b"\t\n\r\x0b\x0c\x1a\x1b")


def sniff(path: Path) -> str:
    """The format from the first bytes: 'empty', 'zip', 'ole', 'text' or 'unknown'. Raises OSError."""
    with path.open("rb") as fp:
        return _sniff_head(fp.read(8192))


def _sniff_head(head: bytes) -> str:
    if not head:
        return "empty"
    if head.startswith(_ZIP_MAGICS):
        return "zip"
    if head.startswith(_OLE_MAGIC):
        return "ole"
    return "text" if _looks_text(head) else "unknown"


def _looks_text(head: bytes) -> bool:
    if head.startswith(_BOMS):
        return True
    if b"\x00" in head:
        return False
    for encoding in ("utf-8", "cp949"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
            break
        except UnicodeDecodeError:
            continue
    else:
        return False
    controls = len(head) - len(head.translate(None, _CONTROL))
    return controls <= len(head) // 100


def _text_detail(head: bytes) -> str:
    low = head[:4096].lstrip(b"".join(_BOMS) + b" \t\r\n").lower().replace(b"\x00", b"")
    if low.startswith((b"<!doctype html", b"<html")) or b"<table" in low:
        return "내용은 웹 페이지(HTML) 파일"
    if b"urn:schemas-microsoft-com:office:spreadsheet" in low:
        return "내용은 XML 스프레드시트 2003 파일"
    if low.startswith(b"<"):
        return "내용은 XML 텍스트 파일"
    return "내용은 CSV 등 텍스트 파일"


def _unknown_detail(head: bytes) -> str:
    if head.startswith(b"%PDF"):
        return "내용은 PDF 문서"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")):
        return "내용은 그림 파일"
    if head.startswith((b"Rar!", b"7z\xbc\xaf", b"\x1f\x8b")):
        return "내용은 다른 형식의 압축 파일"
    return "알 수 없는 형식"


# --- the whole pre-parse check --------------------------------------------------------------


def check_package(path: Path, limits: Limits) -> list[Problem]:
    """Problems that make the file unreadable, found before any parser runs ([] when safe to parse)."""
    return inspect_package(path, limits)[0]


def inspect_package(path: Path, limits: Limits, data: bytes | None = None) -> tuple[list[Problem], bool]:
    """`check_package`, and whether a part may hold an Excel error cell (`t="e"`, see read_errors.py):
    the check inflates every part anyway, so the reader looks for error cells only in files that have
    one (found in a part checked whole; a part streamed in chunks, over 1 MiB, always counts).
    `data`: the file's bytes, when the caller has them (`path` then only names the file)."""
    try:
        return [], _check(path, limits) if data is None else _check_bytes(data, limits)
    except _Refused as refused:
        params = {"detail": refused.detail} if refused.detail else {}
        if refused.code == "file-legacy-xls":  # a `.xls` is told apart from legacy bytes named .xlsx
            params["what"] = legacy_xls_what(path.suffix)
        return [Problem(refused.code, file=path.name, params=params)], False
    except OSError as exc:
        return [Problem("file-unreadable", file=path.name, params={"detail": os_detail(exc)})], False
    except (zlib.error, struct.error, ValueError, OverflowError) as exc:  # crafted bytes in a zip header or stream
        return [Problem("file-corrupt", file=path.name, params={"detail": "압축 구조가 손상됨", "reason": str(exc)})], False


def size_text(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f}{unit}" if unit == "B" or n >= 100 else f"{n:.1f}{unit}"
        n /= 1024
    return ""  # pragma: no cover


def _check(path: Path, limits: Limits) -> bool:
    size = path.stat().st_size
    _check_size(size, limits)
    with path.open("rb") as fp:
        # A small file (all real submissions) is read in one call and checked from memory: two seeks
        # and reads per zip entry cost more than the inflating.
        return _check_open(fp, fp.read(size) if size <= WHOLE_FILE_BYTES else None, size, limits)


def _check_size(size: int, limits: Limits) -> None:
    if size == 0:
        raise _Refused("file-empty")
    if size > limits.max_file_bytes:
        raise _Refused("file-too-large", f"파일 크기 {size_text(size)}, 한도 {size_text(limits.max_file_bytes)}")


def _check_open(fp: BinaryIO, whole: bytes | None, size: int, limits: Limits) -> bool:
    """The checks of an open file of `size` bytes, from memory where `whole` holds them all."""
    head = whole[:8192] if whole is not None else fp.read(8192)
    kind = _sniff_head(head)
    if kind == "empty":
        raise _Refused("file-empty")
    if kind == "text":
        raise _Refused("file-not-xlsx", _text_detail(head))
    if kind == "unknown":
        raise _Refused("file-not-xlsx", _unknown_detail(head))
    if kind == "ole":
        _check_cfb(fp, size)
    return _check_zip(_Source(fp, whole, size), limits)


def _check_bytes(data: bytes, limits: Limits) -> bool:
    _check_size(len(data), limits)
    return _check_open(io.BytesIO(data), data, len(data), limits)


# --- CFB (OLE2): legacy .xls, or an encrypted OOXML package --------------------------------


def _cfb_name(name: str) -> bytes:
    return name.encode("utf-16-le") + b"\x00\x00"


# Directory entries are 128 bytes and start on 128-byte boundaries (512- and 4096-byte sectors),
# and an entry opens with its UTF-16LE name: an aligned hit is a stream name, not cell text.
_CFB_STREAMS = {
    "encrypted": (_cfb_name("EncryptedPackage"), _cfb_name("EncryptionInfo")),
    "xls": (_cfb_name("Workbook"), _cfb_name("Book")),
    "doc": (_cfb_name("WordDocument"),),
    "ppt": (_cfb_name("PowerPoint Document"),),
    "hwp": (_cfb_name("FileHeader"),),
}


def _check_cfb(fp: BinaryIO, size: int) -> None:
    found: set[str] = set()
    fp.seek(0)
    while chunk := fp.read(MiB):  # MiB is a multiple of 128: no entry straddles two chunks
        for label, needles in _CFB_STREAMS.items():
            if label not in found and any(_aligned_find(chunk, n) for n in needles):
                found.add(label)
    if "encrypted" in found:
        raise _Refused("file-encrypted")
    if "xls" not in found:
        for label, detail in (("hwp", "내용은 한글 문서(.hwp)"), ("doc", "내용은 구버전 워드 문서(.doc)"),
                              ("ppt", "내용은 구버전 파워포인트 문서(.ppt)")):
            if label in found:
                raise _Refused("file-not-xlsx", detail)
    raise _Refused("file-legacy-xls")


def _aligned_find(chunk: bytes, needle: bytes) -> bool:
    at = chunk.find(needle)
    while at != -1:
        if at % 128 == 0:
            return True
        at = chunk.find(needle, at + 1)
    return False


# --- zip ------------------------------------------------------------------------------------

_CHUNK = MiB
_STORED, _DEFLATED = 0, 8
WHOLE_FILE_BYTES = 4 * MiB  # read into memory at once up to this size; larger files are streamed
_FAST_ENTRY_BYTES = _CHUNK  # entries below this (compressed and declared) are inflated in one call


def _check_zip(src: _Source, limits: Limits) -> bool:
    entries = _central_directory(src, limits)
    names = [e.name.replace("\\", "/") for e in entries]
    lower = {n.lower() for n in names}
    if len(set(names)) != len(names):
        raise _Refused("file-unsafe", "같은 이름의 압축 항목이 여러 개")
    if any(e.flags & 0x1 for e in entries):
        raise _Refused("file-encrypted")
    if any(n.endswith("vbaproject.bin") or n.startswith("xl/macrosheets/") for n in lower):
        raise _Refused("file-macro")
    _check_is_workbook(lower)
    _check_declared(entries, limits)
    files = [e for e in _locate(src, entries) if not e.name.endswith("/")]
    # [Content_Types].xml first, so that a macro file is called that rather than anything else.
    files.sort(key=lambda e: e.name != "[Content_Types].xml")
    slow = []
    fits = fast_grid_fits(limits)
    error_cells = False  # may a part hold an error cell or an uncalculated formula (the reader then looks)
    for entry in files:
        keep = entry.name == "[Content_Types].xml"
        if entry.compressed <= _FAST_ENTRY_BYTES and entry.size < _FAST_ENTRY_BYTES:
            needs_exact, kept, marked = _inflate_whole(src, entry, limits, fits, keep)
        else:
            needs_exact, kept = _inflate(src, entry, limits, keep=keep)
            marked = True  # not searched in chunks: the reader searches it itself
        error_cells = error_cells or marked
        if kept:  # bytes.lower() folds ASCII only, as re.I on bytes did (that regex cost 30 µs/file)
            low = kept.lower()
            if b"macroenabled" in low or b"vbaproject" in low:
                raise _Refused("file-macro")
        if needs_exact:
            slow.append(entry)
    for entry in slow:  # cells not in the shape Excel writes: simulate calamine's positions exactly
        _inflate(src, entry, limits, exact=True)
    return error_cells


def _check_is_workbook(lower: set[str]) -> None:
    if "xl/workbook.xml" in lower:
        return
    if "word/document.xml" in lower:
        raise _Refused("file-not-xlsx", "내용은 워드 문서(.docx)")
    if any(n.startswith("ppt/") for n in lower):
        raise _Refused("file-not-xlsx", "내용은 파워포인트 문서(.pptx)")
    if "xl/workbook.bin" in lower:
        raise _Refused("file-not-xlsx", "내용은 엑셀 바이너리 통합 문서(.xlsb)")
    if any(n.startswith("contents/") for n in lower):
        raise _Refused("file-not-xlsx", "내용은 한글 문서(.hwpx)")
    if "content.xml" in lower and "mimetype" in lower:
        raise _Refused("file-not-xlsx", "내용은 ODS 스프레드시트")
    if any(n.startswith("xl/") for n in lower):
        raise _Refused("file-corrupt", "통합 문서 본문(xl/workbook.xml)이 없음")
    raise _Refused("file-not-xlsx", "엑셀 통합 문서가 아닌 일반 압축(zip) 파일")


def _check_declared(entries: list[_Entry], limits: Limits) -> None:
    total = 0
    for entry in entries:
        if entry.size > limits.max_entry_bytes:
            raise _Refused(
                "file-too-large",
                f"압축을 풀면 한 항목이 {size_text(entry.size)}, 한도 {size_text(limits.max_entry_bytes)}",
            )
        total += entry.size
        if entry.size > limits.grace_entry_bytes and entry.compressed / entry.size < limits.min_inflate_ratio:
            raise _Refused("file-unsafe", "압축률이 비정상적으로 높음(압축 폭탄 의심)")
        if entry.method not in (_STORED, _DEFLATED):
            raise _Refused("file-corrupt", "엑셀이 쓰지 않는 압축 방식")
    if total > limits.max_total_bytes:
        raise _Refused(
            "file-too-large", f"압축을 풀면 모두 {size_text(total)}, 한도 {size_text(limits.max_total_bytes)}"
        )


def _inflate_whole(
    src: _Source, entry: _Entry, limits: Limits, fits: bool, keep: bool
) -> tuple[bool, bytes, bool]:
    """`_inflate` for an entry below one chunk, compressed and declared: one inflate call, one CRC,
    one scan of the whole part (per-chunk calls cost 3x the inflating on a 10 KB workbook).  Same
    checks in the same order, so the same refusal: a test holds it to the streamed path.  The third
    value: whether the part holds an error cell's mark (`ERROR_CELL_MARKS`)."""
    raw = src.read(entry.data_at, entry.compressed)
    if len(raw) < entry.compressed:  # the file changed under us: let the streamed path say how
        return (*_inflate(src, entry, limits, keep=keep), True)
    key = (raw, entry.method, entry.size, entry.crc, fits, keep)
    passed = _PASSED.get(key)
    if passed is not None:
        return passed
    verdict = _judge_whole(raw, entry, fits, keep)
    if len(raw) <= _PASSED_BYTES:
        if len(_PASSED) >= _PASSED_MAX:
            _PASSED.clear()
        _PASSED[key] = verdict
    return verdict


# Parts that passed, by their exact compressed bytes and what the directory declares of them: the
# same bytes inflate to the same content, so they pass again.  Files made from one template share
# most parts byte for byte (theme, styles, the help and list sheets, the relationships): in a night
# of them each is inflated and scanned once per reader process instead of once per file.
_PASSED: dict[tuple[bytes, int, int, int, bool, bool], tuple[bool, bytes, bool]] = {}
_PASSED_BYTES = 64 * 1024  # compressed size of a part worth remembering (the key holds its bytes)
_PASSED_MAX = 512  # parts remembered, at most ~32 MB of keys


# Marks of the cells python-calamine reads as blank though they are not (read_errors.py reads them):
# an Excel error cell's type attribute, as writers spell it, and a formula whose result was never stored
# (a file written by a program, not saved by Excel: openpyxl writes `<f>A1*2</f><v />`).
ERROR_TYPE_MARKS = (b' t="e"', b" t='e'")  # in the cell's start tag
NO_RESULT_MARKS = (b"<v />", b"<v/>", b"<v></v>", b"</f></c>", b"/></c>")  # inside the cell
ERROR_CELL_MARKS = ERROR_TYPE_MARKS + NO_RESULT_MARKS


def _judge_whole(raw: bytes, entry: _Entry, fits: bool, keep: bool) -> tuple[bool, bytes, bool]:
    if entry.method == _DEFLATED:
        inflater = zlib.decompressobj(-15)
        out = inflater.decompress(raw, _CHUNK)  # the streamed path's first call, byte for byte
        ended = inflater.eof
    else:
        out, ended = raw, True
    if len(out) > entry.size:
        raise _Refused("file-unsafe", "압축을 풀면 적힌 크기보다 커짐(압축 폭탄 의심)")
    plain = plain_prolog(out)
    judged = plain or judge_prolog(out, final=False)
    if not ended:
        raise _Refused("file-corrupt", "압축 데이터가 중간에 끊김")
    if not judged:
        judge_prolog(out, final=True)
    needs_exact = not fits or odd_cells(out)
    if len(out) != entry.size or zlib.crc32(out) != entry.crc:
        raise _Refused("file-corrupt", "압축 데이터 검사값이 맞지 않음")
    return needs_exact, out if keep else b"", any(mark in out for mark in ERROR_CELL_MARKS)


def _inflate(
    src: _Source, entry: _Entry, limits: Limits, *, keep: bool = False, exact: bool = False
) -> tuple[bool, bytes]:
    """Inflate one entry in bounded chunks, checking it as it comes; never beyond its declared size.

    Returns (needs_exact, content): needs_exact when its cells are not in Excel's canonical shape,
    so the caller runs the exact simulation (``exact=True``) over it; content only when ``keep``.
    """
    scanner = _PartScanner(limits, exact)
    kept = bytearray()
    produced = crc = 0

    def emit(out: bytes) -> None:
        nonlocal produced, crc
        produced += len(out)
        if produced > entry.size:  # the declared size lied: a bomb would go on for gigabytes
            raise _Refused("file-unsafe", "압축을 풀면 적힌 크기보다 커짐(압축 폭탄 의심)")
        crc = zlib.crc32(out, crc)
        scanner.feed(out)
        if keep and len(kept) < MiB:
            kept.extend(out[: MiB - len(kept)])

    inflater = zlib.decompressobj(-15) if entry.method == _DEFLATED else None
    remaining, at = entry.compressed, entry.data_at
    while remaining > 0:
        raw = src.read(at, min(_CHUNK, remaining))
        at += len(raw)
        if not raw:
            raise _Refused("file-corrupt", "파일 끝부분이 잘려 있음")
        remaining -= len(raw)
        if inflater is None:
            emit(raw)
            continue
        while True:  # at most one chunk of output per call: memory stays bounded
            out = inflater.decompress(raw, _CHUNK)
            raw = inflater.unconsumed_tail
            emit(out)
            if not raw and len(out) < _CHUNK:
                break
    if inflater is not None and not inflater.eof:
        raise _Refused("file-corrupt", "압축 데이터가 중간에 끊김")
    scanner.feed(b"", final=True)
    if produced != entry.size or crc != entry.crc:
        raise _Refused("file-corrupt", "압축 데이터 검사값이 맞지 않음")
    return scanner.needs_exact, bytes(kept)

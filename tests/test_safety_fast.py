"""The fast paths of the pre-parse check give exactly the verdicts of the streamed path they shortcut.

`safety._inflate_whole` inflates a small entry in one call and scans the whole part at once, and
`_Source` serves a small file from memory; `_inflate` (1 MiB chunks, `_PartScanner` fed per chunk)
reading through the open file is the reference.  Hostile variants are generated with hypothesis:
parts made of XML fragments (prologs, DOCTYPEs, canonical and odd cells, prefixes, cut tags), and
zip entries whose stream is cut, padded or damaged, whose declared size or CRC lies, or stored.
"""

from __future__ import annotations

import io
import random
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coop_batch import safety
from coop_batch.safety import check_package, inspect_package
from coop_batch.safety_limits import Limits, _Refused
from coop_batch.safety_xml import (
    _PartScanner,
    fast_grid_fits,
    judge_prolog,
    odd_cells,
    plain_prolog,
)
from coop_batch.schema import WEEKLY

SHEET = "xl/worksheets/sheet1.xml"

FRAGMENTS = [
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n', b'<?xml version="1.0" encoding="UTF-8"?>',
    b'<?xml version="1.0" encoding="UTF-16"?>', b"<?xml version='1.0' encoding='euc-kr'?>", b"<?pi x?>",
    b"\xef\xbb\xbf", b"\xff\xfe", b"<\x00?\x00", b"<!-- \xed\x95\x9c -->", b"<!--", b"-->", b"<!DOCTYPE x>", b"<!",
    b"?>", b" ", b"\n", b"\t", b"<worksheet>", b"<sheetData>", b'<row r="1">', b"</row>", b"<row>", b'<c r="A1">',
    b'<c r="B7" s="1" t="s">', b'<c r="Z99999"/>', b"<c>", b"<c/>", b'<c r="XFD1048576">', b'<c r="A1" r="B2">',
    b"<x:c ", b"<x:c>", b"</c>", b"<v>1</v>", b"<c", b":c", b":c>", b"<col ", b"<cols>", b'r="B2"', b">", b"<",
    b"c", b'"', b"/", b"text", b"\xea\xb0\x80",
]
parts = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(b"".join)
LIMITS = [Limits(), Limits(max_rows=300), Limits(max_cols=5), Limits(max_cells=1000)]


def streamed_scan(data: bytes, limits: Limits) -> tuple[str, object]:
    """What `_inflate` reaches for a part below one chunk: one feed, then the final call."""
    scanner = _PartScanner(limits, exact=False)
    try:
        scanner.feed(data)
        scanner.feed(b"", final=True)
    except _Refused as refused:
        return "refused", refused.detail
    return "ok", scanner.needs_exact


def whole_scan(data: bytes, limits: Limits) -> tuple[str, object]:
    """What `_inflate_whole` does with a part (minus the zip checks between the two prolog calls)."""
    try:
        if not (plain_prolog(data) or judge_prolog(data, final=False)):
            judge_prolog(data, final=True)
    except _Refused as refused:
        return "refused", refused.detail
    return "ok", not fast_grid_fits(limits) or odd_cells(data)


@settings(max_examples=500, deadline=None)
@given(parts, st.sampled_from(LIMITS))
def test_whole_part_scan_agrees_with_the_streamed_scan(data, limits):
    assert whole_scan(data, limits) == streamed_scan(data, limits)


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet/>',
    b'<?xml version="1.0" encoding="UTF-8"?><a:theme xmlns:a="x"/>',
])
def test_plain_prolog_is_one_the_general_walk_accepts(data):
    assert plain_prolog(data) and judge_prolog(data, final=True)


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE x>', b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?><a/>',
    b'<?xml version="1.0" encoding="UTF-16"?><a/>', b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- x --><a/>',
    b'<?xml version="1.0" encoding="UTF-8"?>',
])
def test_anything_else_takes_the_general_walk(data):
    assert not plain_prolog(data)


# --- whole packages: fast path against the streamed path -----------------------------------------


def base_parts() -> list[tuple[str, bytes]]:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet(WEEKLY.sheet)
    sheet.write_row(0, 0, WEEKLY.titles)
    sheet.write_row(1, 0, ["2016-03-04", "안전도시 만들기", "안전치수과", "실적"])
    book.close()
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


BASE = base_parts()


def build_zip(entries: list[tuple[str, int, bytes, int, int]]) -> bytes:
    """(name, method, stored bytes, crc, declared size) each, headers exactly as given."""
    out = bytearray()
    central = bytearray()
    for name, method, raw, crc, declared in entries:
        encoded = name.encode()
        at = len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(raw), declared, len(encoded), 0)
        out += encoded + raw
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(raw), declared,
                               len(encoded), 0, 0, 0, 0, 0, at) + encoded
    end = struct.pack("<4s4HLLH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(out), 0)
    return bytes(out + central + end)


def deflate(data: bytes, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


@st.composite
def packages(draw) -> tuple[bytes, Limits]:
    target = draw(st.sampled_from([SHEET, "[Content_Types].xml", "xl/sharedStrings.xml", "xl/theme/theme1.xml"]))
    content = draw(parts)
    if target == "[Content_Types].xml" and draw(st.booleans()):
        content += draw(st.sampled_from([b"macroEnabled", b"<Types/>"]))
    method = draw(st.sampled_from([8, 8, 8, 0]))
    raw = deflate(content, draw(st.sampled_from([0, 1, 9]))) if method == 8 else content
    crc, declared = zlib.crc32(content), len(content)
    harm = draw(st.sampled_from(["none", "cut", "pad", "damage", "size", "crc"]))
    if harm == "cut" and raw:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif harm == "pad":
        raw += draw(st.binary(min_size=1, max_size=8))
    elif harm == "damage" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
    elif harm == "size":
        declared = max(0, declared + draw(st.integers(-40, 40)))
    elif harm == "crc":
        crc ^= draw(st.integers(1, 0xFFFFFFFF))
    entries = [(n, 8, deflate(d, 6), zlib.crc32(d), len(d)) for n, d in BASE if n != target]
    entries.insert(draw(st.integers(0, len(entries))), (target, method, raw, crc, declared))
    return build_zip(entries), draw(st.sampled_from(LIMITS))


def verdict(path: Path, limits: Limits, fast: bool) -> list[tuple[str, str, dict]]:
    saved = safety.WHOLE_FILE_BYTES, safety._FAST_ENTRY_BYTES
    if not fast:  # the streamed reference: read through the file, every entry through `_inflate`
        safety.WHOLE_FILE_BYTES, safety._FAST_ENTRY_BYTES = 0, -1
    try:
        return [(p.code, p.message, p.params) for p in check_package(path, limits)]
    finally:
        safety.WHOLE_FILE_BYTES, safety._FAST_ENTRY_BYTES = saved


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packages())
def test_fast_path_gives_the_streamed_verdict(package):
    data, limits = package
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.xlsx"
        path.write_bytes(data)
        assert verdict(path, limits, fast=True) == verdict(path, limits, fast=False)
        from_bytes = inspect_package(path, limits, data)[0]  # as a reader that read the file ahead
        assert [(p.code, p.message, p.params) for p in from_bytes] == verdict(path, limits, fast=True)


def test_the_fast_path_is_taken_and_can_refuse(monkeypatch, tmp_path: Path):
    """The comparison above would be vacuous if the fast path never ran or never refused."""
    calls = []
    real = safety._inflate_whole
    monkeypatch.setattr(safety, "_inflate_whole", lambda *a: calls.append(a[1].name) or real(*a))
    doctype = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><worksheet/>'
    entries = [(n, 8, deflate(d if n != SHEET else doctype, 6), zlib.crc32(d if n != SHEET else doctype),
                len(d if n != SHEET else doctype)) for n, d in BASE]
    path = tmp_path / "d.xlsx"
    path.write_bytes(build_zip(entries))
    assert [p.code for p in check_package(path, Limits())] == ["file-unsafe"]
    assert calls[0] == "[Content_Types].xml" and SHEET in calls


@pytest.mark.parametrize("seed", range(3))
def test_random_damage_to_a_real_package_same_verdict(tmp_path: Path, seed: int):
    """Bytes flipped anywhere in the file (headers included), not only inside one entry."""
    data = bytearray(build_zip([(n, 8, deflate(d, 6), zlib.crc32(d), len(d)) for n, d in BASE]))
    rng = random.Random(seed)
    for trial in range(60):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        path = tmp_path / f"{trial}.xlsx"
        path.write_bytes(bytes(damaged))
        assert verdict(path, Limits(), fast=True) == verdict(path, Limits(), fast=False)


def _verdicts_agree(path: Path) -> list[str]:
    fast, slow = verdict(path, Limits(), fast=True), verdict(path, Limits(), fast=False)
    assert fast == slow
    return [code for code, _, _ in fast]


def test_cut_stream_whose_output_ends_inside_the_prolog(tmp_path: Path):
    """`<!` at the end of a cut stream: "cut off" (file-corrupt), as the streamed path says, not DOCTYPE."""
    content = b'<?xml version="1.0"?>\n<!x'
    raw = deflate(content, 0)[:-1]  # a stored block: the output is the content less its last byte
    entries = [(n, 8, deflate(d, 6), zlib.crc32(d), len(d)) for n, d in BASE]
    entries.append(("xl/extra.xml", 8, raw, zlib.crc32(content), len(content)))
    path = tmp_path / "cut.xlsx"
    path.write_bytes(build_zip(entries))
    assert _verdicts_agree(path) == ["file-corrupt"]


def test_lying_size_then_a_broken_stream(tmp_path: Path):
    """Damage after the declared size: the first inflate call reads on to it (file-corrupt), as the
    streamed path's does, rather than stopping at the declared size (file-unsafe)."""
    compressor = zlib.compressobj(0, zlib.DEFLATED, -15)
    first = compressor.compress(b"a" * 1000) + compressor.flush(zlib.Z_FULL_FLUSH)
    second = bytearray(compressor.compress(b"b" * 1000) + compressor.flush())
    second[3] ^= 0xFF  # NLEN of the second stored block no longer matches LEN
    content = b"a" * 1000 + b"b" * 1000
    entries = [(n, 8, deflate(d, 6), zlib.crc32(d), len(d)) for n, d in BASE]
    entries.append(("xl/extra.xml", 8, first + bytes(second), zlib.crc32(content), 100))
    path = tmp_path / "lie.xlsx"
    path.write_bytes(build_zip(entries))
    assert _verdicts_agree(path) == ["file-corrupt"]


@pytest.mark.parametrize("offset", [2**63 - 1, 2**64 - 1])
def test_zip64_offset_beyond_any_file(tmp_path: Path, offset: int):
    """An offset past the end of the file finds nothing there: a damaged zip (not an I/O error)."""
    data = bytearray(build_zip([(n, 8, deflate(d, 6), zlib.crc32(d), len(d)) for n, d in BASE]))
    cd = data.find(b"PK\x01\x02")
    name_len = struct.unpack_from("<H", data, cd + 28)[0]
    extra = struct.pack("<HHQ", 1, 8, offset)
    struct.pack_into("<H", data, cd + 30, len(extra))  # the first entry's extra field length
    struct.pack_into("<L", data, cd + 42, 0xFFFFFFFF)  # the local header offset is in the zip64 extra
    at = cd + 46 + name_len
    data[at:at] = extra
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<L", data, end + 12, struct.unpack_from("<L", data, end + 12)[0] + len(extra))
    path = tmp_path / "z64.xlsx"
    path.write_bytes(bytes(data))
    assert _verdicts_agree(path) == ["file-corrupt"]


# --- parts that passed once pass again without being inflated (`safety._PASSED`) ---


def _entries(theme_crc_xor: int = 0, theme_size_delta: int = 0, sheet: bytes | None = None) -> bytes:
    out = []
    for name, data in BASE:
        content = sheet if (name == SHEET and sheet is not None) else data
        crc, size = zlib.crc32(content), len(content)
        if name == "xl/theme/theme1.xml":
            crc ^= theme_crc_xor
            size += theme_size_delta
        out.append((name, 8, deflate(content, 6), crc, size))
    return build_zip(out)


def test_remembered_parts_give_the_verdicts_of_a_cold_check(tmp_path: Path, monkeypatch):
    judged: list[str] = []
    real = safety._judge_whole
    monkeypatch.setattr(safety, "_judge_whole", lambda raw, entry, *a: judged.append(entry.name) or real(raw, entry, *a))
    doctype = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><worksheet/>'
    cases = {  # same compressed bytes as the clean file's parts, but what the directory says differs
        "clean": _entries(),
        "theme crc lies": _entries(theme_crc_xor=1),
        "theme size lies": _entries(theme_size_delta=-3),
        "sheet doctype": _entries(sheet=doctype),
    }
    cold = {}
    for name, data in cases.items():
        path = tmp_path / f"{name}.xlsx"
        path.write_bytes(data)
        safety._PASSED.clear()
        cold[name] = [(p.code, p.message) for p in check_package(path, Limits())]
    assert [c[0][0] if c else "ok" for c in cold.values()] == ["ok", "file-corrupt", "file-unsafe", "file-unsafe"]
    safety._PASSED.clear()
    judged.clear()
    warm = {}
    for name in [*cases, *cases]:  # the clean file first warms the memory; every case then twice
        warm[name] = [(p.code, p.message) for p in check_package(tmp_path / f"{name}.xlsx", Limits())]
        assert warm[name] == cold[name], name
    # a part that passed is inflated once, not once per file; one that was refused every time it comes
    # (the clean theme once, then each lying theme in both rounds)
    assert judged.count("xl/styles.xml") == 1 and judged.count("xl/theme/theme1.xml") == 1 + 2 * 2

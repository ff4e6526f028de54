"""Files that must be refused with exactly one clear Korean problem, never a traceback, a hang or a
blown-up memory.  Every hostile file is built here from bytes, zipfile and xlsxwriter."""

from __future__ import annotations

import io
import random
import re
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import pytest
import xlsxwriter

from coop_batch.errors import Problem, Severity
from coop_batch.read import Limits, read_many, read_sheet
from coop_batch.safety import check_package, sniff
from coop_batch.schema import WEEKLY

HANGUL = re.compile(r"[가-힣]")
SHEET = "xl/worksheets/sheet1.xml"


def workbook_bytes(rows: int = 3) -> bytes:
    """A valid weekly report, as the base every hostile variant is cut from."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet(WEEKLY.sheet)
    sheet.write_row(0, 0, WEEKLY.titles)
    for r in range(1, rows + 1):
        sheet.write_row(r, 0, ["2016-03-04", "안전도시 만들기", "안전치수과", f"실적 {r}"])
    book.close()
    return buffer.getvalue()


def rezip(base: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None,
          method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """The same package with some parts replaced or added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", method) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, (replace or {}).get(info.filename, src.read(info.filename)))
        for name, data in (add or {}).items():
            dst.writestr(name, data)
    return out.getvalue()


def sheet_xml(body: str, prolog: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + prolog
        + '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + f"<sheetData>{body}</sheetData></worksheet>"
    ).encode()


def cfb(*names: str) -> bytes:
    """A minimal compound file: header, then one directory sector with the given stream names."""
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<L", header, 48, 0)  # first directory sector
    directory = bytearray(512)
    for i, name in enumerate(("Root Entry",) + names):
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        directory[i * 128 : i * 128 + len(encoded)] = encoded
        struct.pack_into("<HB", directory, i * 128 + 64, len(encoded), 5 if i == 0 else 2)
    return bytes(header + directory)


def lie_about_size(data: bytes, name: str, declared: int) -> bytes:
    """Rewrite the central directory and local header so that `name` declares `declared` bytes."""
    data = bytearray(data)
    encoded = name.encode()
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        at = data.find(signature)
        while at >= 0:
            name_at = at + (46 if signature == b"PK\x01\x02" else 30)
            if data[name_at : name_at + len(encoded)] == encoded:
                struct.pack_into("<L", data, at + offset, declared)
            at = data.find(signature, at + 4)
    return bytes(data)


def refused(path: Path, code: str, limits: Limits = Limits(), detail: str = ""):
    """Exactly one error, named for the file, in Korean, with the reason; read_sheet agrees."""
    data = read_sheet(path, limits)
    assert [p.code for p in data.problems] == [code], [p.line() for p in data.problems]
    problem = data.problems[0]
    assert problem.severity is Severity.ERROR and data.kind is None and not data.rows
    assert problem.file == path.name and path.name in problem.line()
    assert HANGUL.search(problem.message) and "Traceback" not in problem.message and "{" not in problem.message
    assert detail in problem.message
    assert [p.code for p in check_package(path, limits)] == [code]
    # The same verdict from the bytes a reader worker read ahead (and hashed) as from the file.
    from_bytes = read_sheet(path, limits, data=path.read_bytes()).problems
    assert [(p.code, p.message) for p in from_bytes] == [(problem.code, problem.message)]
    return problem


@pytest.fixture
def put(tmp_path: Path):
    def put(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return put


# --- not a workbook at all --------------------------------------------------------------------


def test_empty(put):
    assert sniff(put("빈.xlsx", b"")) == "empty"
    refused(put("빈.xlsx", b""), "file-empty")


def test_truncated_zip(put):
    data = workbook_bytes()
    refused(put("잘림.xlsx", data[: len(data) // 2]), "file-corrupt", detail="잘려")


def test_random_bytes(put):
    path = put("난수.xlsx", random.Random(7).randbytes(5000))
    assert sniff(path) == "unknown"
    refused(path, "file-not-xlsx", detail="알 수 없는 형식")


def test_csv_renamed(put):
    path = put("명단.xlsx", "보고일,사업명,부서명\n2016-03-04,안전도시 만들기,안전치수과\n".encode("cp949"))
    assert sniff(path) == "text"
    refused(path, "file-not-xlsx", detail="CSV")


def test_html_renamed(put):
    html = "<html><head><meta charset='utf-8'></head><body><table><tr><td>사업명</td></tr></table></body></html>"
    path = put("웹.xlsx", html.encode())
    assert sniff(path) == "text"
    refused(path, "file-not-xlsx", detail="HTML")


def test_xml_spreadsheet_2003_renamed(put):
    xml = '<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"></Workbook>'
    refused(put("xml.xlsx", xml.encode()), "file-not-xlsx", detail="XML 스프레드시트")


def test_legacy_xls_renamed(put):
    path = put("구버전.xlsx", cfb("Workbook", "\x05SummaryInformation"))
    assert sniff(path) == "ole"
    refused(path, "file-legacy-xls", detail="확장자는 .xlsx이지만 내용은 구버전 엑셀(.xls) 형식입니다.")


@pytest.mark.parametrize("name", ["구버전.xls", "구버전.XLS"])
def test_legacy_xls_named_xls_is_told_what_it_is(put, name):
    """A real .xls is not "named .xlsx but old inside": the message fits the file's name."""
    problem = refused(put(name, cfb("Workbook", "\x05SummaryInformation")), "file-legacy-xls",
                      detail="구버전 엑셀(.xls) 파일입니다. 엑셀 또는 한컴오피스에서 '다른 이름으로 저장' → "
                             "'Excel 통합 문서(*.xlsx)'로 다시 저장해 보내 주세요.")
    assert "확장자는" not in problem.message


@pytest.mark.parametrize("name, says", [("구버전.xlsm", "확장자는 .xlsm이지만"), ("구버전", "확장자가 없지만")])
def test_legacy_xls_under_another_name(put, name, says):
    refused(put(name, cfb("Workbook")), "file-legacy-xls", detail=says)


def test_legacy_xls_recorded_before_the_message_named_the_extension():
    """A problem in the ledger from before {what} existed still reads as it did then."""
    old = Problem.from_dict({"code": "file-legacy-xls", "file": "구버전.xlsx", "params": {}})
    assert old.message.startswith("확장자는 .xlsx이지만 내용은 구버전 엑셀(.xls) 형식입니다. 엑셀 또는 한컴오피스에서")


def test_password_encrypted_package(put):
    problem = refused(put("암호.xlsx", cfb("EncryptionInfo", "EncryptedPackage", "\x06DataSpaces")), "file-encrypted")
    assert "암호" in problem.message and "손상" not in problem.message


def test_stream_name_inside_cell_text_is_not_a_directory_entry(put):
    """`EncryptedPackage` in UTF-16 at an unaligned offset is cell text of a legacy file, not a stream."""
    data = bytearray(cfb("Workbook"))
    data += b"\x00" * 3 + "EncryptedPackage".encode("utf-16-le") + b"\x00\x00" + b"\x00" * 200
    refused(put("xls.xlsx", bytes(data)), "file-legacy-xls")


def test_hwp_renamed(put):
    refused(put("한글.xlsx", cfb("FileHeader", "BodyText", "DocInfo")), "file-not-xlsx", detail="한글")


def test_docx_renamed(put):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="x"/>')
    refused(put("문서.xlsx", out.getvalue()), "file-not-xlsx", detail="워드")


def test_plain_zip_renamed(put):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("사진.txt", "사진 목록")
    refused(put("압축.xlsx", out.getvalue()), "file-not-xlsx", detail="zip")


def test_damaged_deflate_stream(put, caplog):
    data = bytearray(workbook_bytes(rows=200))
    at = data.find(SHEET.encode()) + len(SHEET) + 40  # inside the sheet's compressed bytes
    data[at : at + 64] = bytes(64)
    refused(put("깨짐.xlsx", bytes(data)), "file-corrupt")
    assert not caplog.records  # bad bytes are the file's problem, not a bug to log


def test_workbook_part_missing(put):
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(workbook_bytes())) as z, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in z.namelist():
            if name != "xl/workbook.xml":
                dst.writestr(name, z.read(name))
    refused(put("본문없음.xlsx", out.getvalue()), "file-corrupt", detail="xl/workbook.xml")


# --- macros and XML tricks --------------------------------------------------------------------


def test_xlsm_with_vba_project(put):
    refused(put("매크로.xlsx", rezip(workbook_bytes(), add={"xl/vbaProject.bin": b"\xcc" * 512})), "file-macro")


def test_macro_enabled_content_type(put):
    base = workbook_bytes()
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        types = z.read("[Content_Types].xml").replace(
            b"spreadsheetml.sheet.main+xml", b"ms-excel.sheet.macroEnabled.main+xml"
        )
    refused(put("매크로.xlsm", rezip(base, replace={"[Content_Types].xml": types})), "file-macro")


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>"
)


def test_billion_laughs_in_a_sheet(put):
    xml = sheet_xml('<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>', BILLION_LAUGHS)
    started = time.monotonic()
    refused(put("폭탄.xlsx", rezip(workbook_bytes(), replace={SHEET: xml})), "file-unsafe", detail="DOCTYPE")
    assert time.monotonic() - started < 1


def test_external_entity_in_shared_strings(put):
    base = workbook_bytes()
    xxe = ('<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&xxe;</t></si></sst>')
    path = put("xxe.xlsx", rezip(base, replace={"xl/sharedStrings.xml": xxe.encode()}))
    problem = refused(path, "file-unsafe", detail="DOCTYPE")
    assert "root:" not in problem.line()


def test_doctype_after_comments_and_a_bom(put):
    prolog = "<!-- 한글 주석 -->\n<?pi x?>\n<!DOCTYPE x [<!ENTITY a 'b'>]>"
    xml = b"\xef\xbb\xbf" + sheet_xml("", prolog)
    refused(put("d.xlsx", rezip(workbook_bytes(), replace={SHEET: xml})), "file-unsafe", detail="DOCTYPE")


def test_utf16_part_is_refused(put):
    xml = sheet_xml('<row r="1"><c r="A1"><v>1</v></c></row>').decode().replace("UTF-8", "UTF-16")
    data = rezip(workbook_bytes(), replace={SHEET: b"\xff\xfe" + xml.encode("utf-16-le")})
    refused(put("u16.xlsx", data), "file-unsafe", detail="인코딩")


# --- zip bombs and oversized content ---------------------------------------------------------


def test_entry_declaring_more_than_the_limit(put):
    data = rezip(workbook_bytes(), add={"xl/media/big.bin": b"\x00" * (3 * 1024 * 1024)})
    refused(put("큼.xlsx", data), "file-too-large", Limits(max_entry_bytes=1024 * 1024), detail="한도 1.0MB")


def test_total_inflated_size(put):
    data = rezip(workbook_bytes(), add={f"xl/media/{i}.bin": b"\x00" * 300_000 for i in range(5)})
    refused(put("합계.xlsx", data), "file-too-large", Limits(max_total_bytes=1024 * 1024, min_inflate_ratio=0))


def test_compression_ratio(put):
    data = rezip(workbook_bytes(), add={"xl/media/zeros.bin": b"\x00" * 500_000})
    refused(put("비율.xlsx", data), "file-unsafe", detail="압축 폭탄")


def test_entry_that_inflates_beyond_its_declared_size(put):
    bomb = sheet_xml(" " * 2_000_000)
    data = lie_about_size(rezip(workbook_bytes(), replace={SHEET: bomb}), SHEET, 3000)
    refused(put("거짓.xlsx", data), "file-unsafe", detail="적힌 크기")


def test_too_many_entries(put):
    data = rezip(workbook_bytes(), add={f"xl/media/{i}.txt": b"x" for i in range(2001)})
    refused(put("항목.xlsx", data), "file-too-large", detail="2,0")


def test_overlapping_entries(put):
    """Two central-directory records pointing at the same local data (the "better zip bomb" trick)."""
    data = bytearray(workbook_bytes())
    cd = data.find(b"PK\x01\x02")
    offsets = []
    at = cd
    while at >= 0:
        offsets.append(at)
        at = data.find(b"PK\x01\x02", at + 4)
    first_local = struct.unpack_from("<L", data, offsets[0] + 42)[0]
    struct.pack_into("<L", data, offsets[1] + 42, first_local)
    problem = read_sheet(put("겹침.xlsx", bytes(data))).problems
    assert [p.code for p in problem] in (["file-unsafe"], ["file-corrupt"])


REALISTIC_BOMB = """
import sys, time, resource
from pathlib import Path
from coop_batch.read import read_sheet
started = time.monotonic()
data = read_sheet(Path(sys.argv[1]))
print(data.problems[0].code, time.monotonic() - started,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def _bomb_entry(size: int, declared: int | None = None) -> bytes:
    """A sheet part that inflates to `size` bytes of whitespace, streamed so the test stays small."""
    head, tail = sheet_xml("").split(b"</sheetData>")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b" " * (1 << 20)
    body = [compressor.compress(head)]
    for _ in range(size >> 20):
        body.append(compressor.compress(chunk))
    body.append(compressor.compress(b"</sheetData>" + tail) + compressor.flush())
    raw = b"".join(body)
    crc = 0
    crc = zlib.crc32(head, crc)
    for _ in range(size >> 20):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(b"</sheetData>" + tail, crc)
    total = len(head) + (size >> 20 << 20) + len(b"</sheetData>" + tail)
    return raw, crc, total if declared is None else declared


def _with_raw_entry(base: bytes, name: str, raw: bytes, crc: int, declared: int) -> bytes:
    """Replace `name` with an already-deflated body and the declared size we choose."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != name:
                dst.writestr(info.filename, src.read(info.filename))
    body = out.getvalue()
    cd_at = body.find(b"PK\x01\x02")
    end_at = body.rfind(b"PK\x05\x06")
    local_at = cd_at
    encoded = name.encode()
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(raw), declared & 0xFFFFFFFF,
                        len(encoded), 0) + encoded
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(raw),
                          declared & 0xFFFFFFFF, len(encoded), 0, 0, 0, 0, 0, local_at) + encoded
    cd = body[cd_at:end_at] + central
    count, = struct.unpack_from("<H", body, end_at + 10)
    end = struct.pack("<4s4HLLH", b"PK\x05\x06", 0, 0, count + 1, count + 1, len(cd), local_at + len(local) + len(raw), 0)
    return body[:cd_at] + local + raw + cd + end


@pytest.mark.skipif(sys.platform == "win32", reason="peak RSS via resource is POSIX-only")
@pytest.mark.parametrize("lie", [False, True], ids=["honest", "lying"])
def test_realistic_zip_bomb_is_refused_fast_in_bounded_memory(put, lie):
    """A 400 MB sheet part (≈400 KB on disk) with default limits: refused in < 1 s, < 200 MB RSS."""
    raw, crc, total = _bomb_entry(400 << 20)
    data = _with_raw_entry(workbook_bytes(), SHEET, raw, crc, 40_000 if lie else total)
    path = put("bomb.xlsx", data)
    assert path.stat().st_size < 2 << 20
    out = subprocess.run([sys.executable, "-c", REALISTIC_BOMB, str(path)], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    code, seconds, rss_mb = out[0], float(out[1]), int(out[2])
    assert code == ("file-unsafe" if lie else "file-too-large")
    assert seconds < 1.0 and rss_mb < 200


# --- the cell grid calamine would allocate ----------------------------------------------------


def test_far_away_cell_would_abort_the_reader(put, tmp_path: Path):
    """A1 and XFD1048576 make calamine allocate 550 GB and abort the process: refused before parsing."""
    book = xlsxwriter.Workbook(str(tmp_path / "far.xlsx"))
    sheet = book.add_worksheet(WEEKLY.sheet)
    sheet.write_row(0, 0, WEEKLY.titles)
    sheet.write("XFD1048576", "끝")
    book.close()
    path = tmp_path / "far.xlsx"
    assert [p.code for p in check_package(path, Limits())] == ["file-too-large"]  # no parser involved
    [(_, data)] = list(read_many([path], workers=1))  # in a worker: a miss would be file-corrupt, not a dead test run
    assert [p.code for p in data.problems] == ["file-too-large"]
    assert "1,048,576행" in data.problems[0].message


def test_sparse_cells_within_row_and_column_limits_but_too_many_cells(put):
    xml = sheet_xml('<row r="1"><c r="A1"><v>1</v></c></row><row r="190000"><c r="GR190000"><v>1</v></c></row>')
    refused(put("넓음.xlsx", rezip(workbook_bytes(), replace={SHEET: xml})), "file-too-large", detail="셀")


def test_cells_without_references_are_counted_like_calamine(put):
    """No `r` attributes: calamine places cells by counting; 300 in a row exceed 200 columns."""
    xml = sheet_xml("<row>" + "<c><v>1</v></c>" * 300 + "</row>")
    refused(put("암묵.xlsx", rezip(workbook_bytes(), replace={SHEET: xml})), "file-too-large", detail="201열")
    within = sheet_xml("<row>" + "<c><v>1</v></c>" * 200 + "</row>" + "<row><c><v>1</v></c></row>" * 50)
    assert check_package(put("암묵2.xlsx", rezip(workbook_bytes(), replace={SHEET: within})), Limits()) == []


@pytest.mark.parametrize("tag", [
    '<c a=">" r="XFD1048576"><v>1</v></c>',  # '>' inside a quoted value ends no tag
    '<c r="A1" r="XFD1048576"><v>1</v></c>',  # a duplicate attribute may win
    '<x:c r="XFD1048576"><v>1</v></x:c>',  # a namespace prefix
    "<c r='XFD1048576'><v>1</v></c>",  # single quotes
    '<c r="xfd1048576"><v>1</v></c>',  # lower case letters
])
def test_odd_spellings_of_a_far_cell(put, tag):
    xml = sheet_xml(f'<row r="1"><c r="A1"><v>1</v></c>{tag}</row>')
    refused(put("묘수.xlsx", rezip(workbook_bytes(), replace={SHEET: xml})), "file-too-large")


@pytest.mark.parametrize("tag", ['<c r="XFD2"><v>1</v></c>', '<c s="0" r="XFD2"><v>1</v></c>'])
def test_far_cell_split_across_inflate_chunks(put, tag):
    """The cell tag straddles the 1 MiB boundary of the streamed output (fast check and exact count)."""
    text = "".join(random.Random(3).choices([chr(c) for c in range(0xAC00, 0xAC00 + 2000)], k=349_000))

    def build(filler: int) -> bytes:
        pad = '<row r="1"><c r="A1" t="inlineStr"><is><t>' + text + "x" * filler + "</t></is></c></row>"
        return sheet_xml(pad + f'<row r="2">{tag}</row>')

    xml = build(0)
    xml = build((1 << 20) - 5 - xml.find(tag.encode()))
    assert xml.find(tag.encode()) == (1 << 20) - 5
    refused(put("경계.xlsx", rezip(workbook_bytes(), replace={SHEET: xml})), "file-too-large")


def test_canonical_large_sheet_passes_and_small_limits_fall_back_to_exact_counting(put):
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}"><v>1</v></c></row>' for r in range(1, 301))
    path = put("정상.xlsx", rezip(workbook_bytes(), replace={SHEET: sheet_xml(rows)}))
    assert check_package(path, Limits()) == []
    assert check_package(path, Limits(max_rows=300, max_cols=2)) == []
    assert [p.code for p in check_package(path, Limits(max_rows=299))] == ["file-too-large"]
    assert [p.code for p in check_package(path, Limits(max_cols=1))] == ["file-too-large"]

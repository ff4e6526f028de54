"""The annotated copy written by editing the department's package, not through openpyxl: the
problem cells take a filled format and a comment, a 검토결과 sheet goes first, and the style sheet,
the workbook, its relationships and content types grow by what those need (feedback_xml.py edits
the XML).  Every other part is copied as it was.

A night's copies used to cost openpyxl's import (0.2 s) and ~25 ms each (load and save); this is
~2 ms a copy.  What it does not edit raises `Unsupported` (feedback_annotate then uses openpyxl):
a workbook with comments already (ours sent back, or the department's own, which openpyxl keeps
beside ours), a copy of ours, parts not in the shape spreadsheet programs write.
"""

from __future__ import annotations

import posixpath
import re
import time
import zipfile
import zlib
from pathlib import Path
from xml.parsers import expat

from .feedback_annotate import (
    AUTHOR, BORDER_RGB, FILLS, HEADER_RGB, LINK_RGB, NOTE_RGB, REVIEW_COLUMNS, REVIEW_FONT, REVIEW_HEADER_ROW,
    REVIEW_SHEET, REVIEW_WIDTHS, Review, comment_text, quote_sheet, severity_of,
)
from .feedback_sheet import add_legacy_drawing, mark_cells, unselect
from .feedback_xml import (
    MAIN_NS, REL_NS, XML_DECL, StyleSheet, Unsupported, anchor, attrs, col_letters, comments_xml, esc_attr,
    merged_ranges, plain_markup, root_tag, section, set_attr, shape_blocks, split_ref, t_element, tag_re, tags,
    vml_xml,
)
from .write_format import clean_text

_CT = "application/vnd.openxmlformats-officedocument."
CT_SHEET = _CT + "spreadsheetml.worksheet+xml"
CT_COMMENTS = _CT + "spreadsheetml.comments+xml"
CT_VML = _CT + "vmlDrawing"
RT_SHEET, RT_STYLES, RT_COMMENTS, RT_VML = (f"{REL_NS}/{t}" for t in ("worksheet", "styles", "comments", "vmlDrawing"))
RT_BOOK = f"{REL_NS}/officeDocument"
PKG_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


class Package:
    """The parts of an .xlsx, read whole (a copy is made only of files under feedback.MAX_ANNOTATE_BYTES).
    Part names are matched without regard to letter case, as the package format compares them."""

    def __init__(self, path: Path) -> None:
        try:
            with zipfile.ZipFile(path) as zf:
                self.infos = zf.infolist()
                self.data = {info.filename: zf.read(info) for info in self.infos}
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
            raise Unsupported(f"the package does not read: {exc}") from exc
        self.names = {name.lower(): name for name in self.data}
        if len(self.names) != len(self.data):
            raise Unsupported("two parts whose names differ only in letter case")
        self.edited: dict[str, str] = {}  # part → its new text (parts added too), under the name it has
        self._claimed: set[str] | None = None  # names the content types claim (`free`), read once

    def name(self, part: str) -> str:
        """`part` as the package spells it (a part added here: as given)."""
        return self.names.get(part.lower(), part)

    def has(self, part: str) -> bool:
        return part.lower() in self.names

    def text(self, part: str) -> str:
        part = self.name(part)
        if part in self.edited:
            return self.edited[part]
        if part not in self.data:
            raise Unsupported(f"no part {part}")
        raw = self.data[part]
        declared = re.match(rb"""\s*<\?xml[^>]*encoding=["']([\w-]+)["']""", raw)
        if declared and declared[1].lower() not in (b"utf-8", b"utf8"):
            raise Unsupported(f"{part} is not UTF-8")
        try:
            return plain_markup(part, raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise Unsupported(f"{part} is not UTF-8") from exc

    def set(self, part: str, text: str) -> None:
        part = self.name(part)
        self.edited[part] = text
        self.names.setdefault(part.lower(), part)

    def free(self, pattern: str) -> str:
        """The first name `pattern.format(n)` (n = 1, 2, ...) that no part has, nor the content types
        name (an override left behind for a part since removed), in any letter case."""
        if self._claimed is None:
            overrides = tags(self.text("[Content_Types].xml"), "Override")
            self._claimed = {a.get("PartName", "").lstrip("/").lower() for a in overrides}
        n = 1
        while (name := pattern.format(n).lower()) in self.names or name in self._claimed:
            n += 1
        return pattern.format(n)

    def save(self, target: Path) -> None:
        for part, text in self.edited.items():  # a slip of ours must never reach a department
            try:
                expat.ParserCreate().Parse(text.encode("utf-8"), True)
            except expat.ExpatError as exc:
                raise RuntimeError(f"{part} as edited is not well-formed: {exc}") from exc
        now = time.localtime()[:6]
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            for info in self.infos:
                data = self.edited[info.filename].encode("utf-8") if info.filename in self.edited else self.data[info.filename]
                zf.writestr(zipfile.ZipInfo(info.filename, info.date_time), data, zipfile.ZIP_DEFLATED, 1)
            for name in self.edited.keys() - self.data.keys():
                zf.writestr(zipfile.ZipInfo(name, now), self.edited[name].encode("utf-8"), zipfile.ZIP_DEFLATED, 1)


def rels_of(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def relationships(xml: str) -> list[dict[str, str]]:
    return tags(xml, "Relationship")


def resolve(source_part: str, target: str) -> str:
    if target.startswith("/"):
        return target[1:]
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


def add_relationship(pkg: Package, part: str, kind: str, target_part: str) -> str:
    """Relate `part` to `target_part` (creating its .rels); the new relationship's id."""
    name = rels_of(pkg.name(part))
    xml = pkg.text(name) if pkg.has(name) else f'{XML_DECL}<Relationships xmlns="{PKG_RELS_NS}"></Relationships>'
    taken = {r.get("Id") for r in relationships(xml)}
    n = len(taken) + 1
    while f"rId{n}" in taken:
        n += 1
    target = posixpath.relpath(target_part, posixpath.dirname(part))
    element = f'<Relationship Id="rId{n}" Type="{kind}" Target="{esc_attr(target)}"/>'
    at = xml.rfind("</Relationships>")
    if at < 0:
        raise Unsupported(f"{name} does not end")
    pkg.set(name, xml[:at] + element + xml[at:])
    return f"rId{n}"


def add_content_types(pkg: Package, overrides: list[tuple[str, str]]) -> None:
    xml = pkg.text("[Content_Types].xml")
    head = re.search(tag_re("Types"), xml)
    at = xml.rfind("</Types>")
    if head is None or head[2] or at < 0:
        raise Unsupported("[Content_Types].xml")
    extensions = {a.get("Extension", "").lower() for a in tags(xml, "Default")}
    vml = "" if "vml" in extensions else f'<Default Extension="vml" ContentType="{CT_VML}"/>'
    added = "".join(f'<Override PartName="/{esc_attr(part)}" ContentType="{kind}"/>' for part, kind in overrides)
    pkg.set("[Content_Types].xml", xml[: head.end()] + vml + xml[head.end(): at] + added + xml[at:])


def patch_workbook(source: Path, target: Path, review: Review) -> None:
    """Write `source`'s annotated copy to `target` (see the module's doc); `Unsupported` leaves `target` unwritten."""
    pkg = Package(source)
    if any(b"/relationships/comments" in data for name, data in pkg.data.items() if name.lower().endswith(".rels")):
        raise Unsupported("the workbook has comments already")
    book_part = next((resolve("", r["Target"]) for r in relationships(pkg.text("_rels/.rels"))
                      if r.get("Type") == RT_BOOK), None)
    if book_part is None:
        raise Unsupported("no workbook part")
    book = pkg.text(book_part)
    book_root = root_tag(book, "workbook")
    prefix = next((k.partition(":")[2] for k, v in attrs(book_root).items() if k.startswith("xmlns:") and v == REL_NS), None)
    if prefix is None:
        raise Unsupported("the workbook's relationship prefix")
    targets = {r.get("Id"): r for r in relationships(pkg.text(rels_of(book_part)))}
    entries = tags(section(book, "sheets")[2], "sheet")
    names = [e.get("name", "") for e in entries]
    if any(name.startswith(REVIEW_SHEET) for name in names):
        raise Unsupported("a 검토결과 sheet is there already")
    try:
        parts = {e["name"]: resolve(book_part, targets[e[f"{prefix}:id"]]["Target"]) for e in entries}
        styles_part = next(resolve(book_part, r["Target"]) for r in targets.values() if r.get("Type") == RT_STYLES)
    except (KeyError, StopIteration) as exc:
        raise Unsupported(f"a sheet or the styles without their part: {exc}") from exc
    styles = StyleSheet(pkg.text(styles_part))
    if styles.has_fill_of(FILLS.values()):
        raise Unsupported("fills of ours are in the file: a copy of ours, its marks to clear")
    overrides = _mark(pkg, review, parts, styles)
    for part in parts.values():
        text = pkg.text(part)
        if "tabSelected" in text and (unselected := unselect(text)) != text:
            pkg.set(part, unselected)
    sheet_part = pkg.free("xl/worksheets/sheet{}.xml")
    pkg.set(sheet_part, review_sheet_xml(review, names, styles))
    rel_id = add_relationship(pkg, book_part, RT_SHEET, sheet_part)
    sheet_id = max((int(e["sheetId"]) for e in entries if e.get("sheetId", "").isdigit()), default=0) + 1
    pkg.set(book_part, _book_with_review(book, f'{prefix}:id="{rel_id}"', sheet_id, review.last_row))
    pkg.set(styles_part, styles.text())
    add_content_types(pkg, [*overrides, (sheet_part, CT_SHEET)])
    pkg.save(target)


def _mark(pkg: Package, review: Review, parts: dict[str, str], styles: StyleSheet) -> list[tuple[str, str]]:
    """Fill and comment the problem cells, sheet by sheet; the content types of the parts added."""
    overrides = []
    block = _first_free_block(pkg)
    for sheet, cells in review.cells(parts).items():
        part = parts[sheet]
        xml = pkg.text(part)
        if re.search(r"<(?:\w+:)?(?:chartsheet|dialogsheet)\b", xml[:2000]):
            continue  # no cells to mark (the 검토결과 sheet lists the problem all the same)
        root_tag(xml, "worksheet")
        merged = merged_ranges(xml)
        anchored: dict[str, list] = {}
        for ref, items in cells.items():
            anchored.setdefault(anchor(ref, merged), []).extend(items)
        xml = mark_cells(xml, {ref: severity_of(items) for ref, items in anchored.items()},
                         lambda base, severity: styles.filled(base, FILLS[severity]))
        notes = [(ref, clean_text(comment_text(items))[0])
                 for ref, items in sorted(anchored.items(), key=lambda kv: split_ref(kv[0])[::-1])]
        comments, vml = pkg.free("xl/comments{}.xml"), pkg.free("xl/drawings/vmlDrawing{}.vml")
        blocks = shape_blocks(block, len(notes))
        block = blocks[-1] + 1
        pkg.set(comments, comments_xml(AUTHOR, notes))
        pkg.set(vml, vml_xml(blocks, notes))
        add_relationship(pkg, part, RT_COMMENTS, comments)
        pkg.set(part, add_legacy_drawing(xml, add_relationship(pkg, part, RT_VML, vml)))
        overrides.append((comments, CT_COMMENTS))
    return overrides


def _first_free_block(pkg: Package) -> int:
    """The first block of shape ids no drawing of the package uses (a header's picture has its own)."""
    used = [int(n) for name, data in pkg.data.items() if name.lower().endswith(".vml")
            for m in re.finditer(rb'idmap[^>]*?data\s*=\s*["\']([\d,\s]+)["\']', data) for n in m[1].split(b",") if n.strip()]
    return max(used, default=0) + 1


def _book_with_review(book: str, rel_attr: str, sheet_id: int, last_row: int) -> str:
    """workbook.xml with the 검토결과 sheet first and active: the other sheets' local names move one
    place on, and the new sheet's filter and print titles are named."""
    sheets = section(book, "sheets")
    book = f'{book[:sheets.end(1)]}<sheet name="{REVIEW_SHEET}" sheetId="{sheet_id}" {rel_attr}/>{book[sheets.end(1):]}'
    book = re.sub(r"""(localSheetId\s*=\s*["'])(\d+)""", lambda m: f"{m[1]}{int(m[2]) + 1}", book)
    q, h = quote_sheet(REVIEW_SHEET), REVIEW_HEADER_ROW
    names = (f'<definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">{q}!$A${h}:$E${last_row}</definedName>'
             f'<definedName name="_xlnm.Print_Titles" localSheetId="0">{q}!${h}:${h}</definedName>')
    existing = re.search(tag_re("definedNames"), book)
    if existing is not None and not existing[2]:
        book = book[: existing.end()] + names + book[existing.end():]
    else:
        book = re.sub(tag_re("definedNames"), "", book)
        after = max((m.end() for m in re.finditer(r"</sheets>|</externalReferences>|<functionGroups\b[^>]*/>|</functionGroups>", book)))
        book = f"{book[:after]}<definedNames>{names}</definedNames>{book[after:]}"
    views = list(re.finditer(tag_re("workbookView"), book))
    if not views:
        at = book.index("<sheets")
        return f'{book[:at]}<bookViews><workbookView activeTab="0"/></bookViews>{book[at:]}'
    for m in reversed(views):
        tag = set_attr(re.sub(r"""\s(?:activeTab|firstSheet)\s*=\s*(?:"[^"]*"|'[^']*')""", "", m[0]), "activeTab", "0")
        book = book[: m.start()] + tag + book[m.end():]
    return book


def review_sheet_xml(review: Review, sheets: list[str], styles: StyleSheet) -> str:
    """The 검토결과 worksheet, as the openpyxl path lays it out: A4 landscape one page wide, header
    frozen and filtered, each position a link to its cell, every text a text (inline strings)."""
    f = _review_formats(styles)
    h = REVIEW_HEADER_ROW

    def cell(ref: str, style: int, text: str) -> str:
        if not text:
            return f'<c r="{ref}" s="{style}"/>'
        return f'<c r="{ref}" s="{style}" t="inlineStr"><is>{t_element(text)}</is></c>'

    rows = [f'<row r="{r}">{cell(f"A{r}", f["title" if r == 1 else "note"], text)}</row>'
            for r, text in enumerate(review.heading, 1)]
    rows.append(f'<row r="{h}">' + "".join(cell(f"{col_letters(c)}{h}", f["header"], text)
                                          for c, text in enumerate(REVIEW_COLUMNS, 1)) + "</row>")
    links = []
    for r, (values, is_error, link) in enumerate(review.rows(sheets), h + 1):
        kinds = ("link" if link else "body", "body", "error" if is_error else "warning", "body", "wrap")
        rows.append(f'<row r="{r}">' + "".join(cell(f"{col_letters(c)}{r}", f[kind], value)
                                              for c, (kind, value) in enumerate(zip(kinds, values), 1)) + "</row>")
        if link:
            links.append(f'<hyperlink ref="A{r}" location="{esc_attr(link)}" display="{esc_attr(values[0])}"/>')
    cols = "".join(f'<col min="{c}" max="{c}" width="{w}" customWidth="1"/>' for c, w in enumerate(REVIEW_WIDTHS, 1))
    last = review.last_row
    return (
        f'{XML_DECL}<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
        f'<sheetPr><tabColor rgb="FF{review.tab_colour}"/><pageSetUpPr fitToPage="1"/></sheetPr>'
        f'<dimension ref="A1:E{last}"/><sheetViews><sheetView tabSelected="1" workbookViewId="0">'
        f'<pane ySplit="{h}" topLeftCell="A{h + 1}" activePane="bottomLeft" state="frozen"/>'
        f'<selection pane="bottomLeft" activeCell="A{h + 1}" sqref="A{h + 1}"/></sheetView></sheetViews>'
        f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>{"".join(rows)}</sheetData>'
        f'<autoFilter ref="A{h}:E{last}"/>' + (f"<hyperlinks>{''.join(links)}</hyperlinks>" if links else "")
        + '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
        "<headerFooter><oddFooter>&amp;C&amp;P / &amp;N</oddFooter></headerFooter></worksheet>"
    )


def _review_formats(styles: StyleSheet) -> dict[str, int]:
    """The cell formats of the 검토결과 sheet, added to the workbook's style sheet."""
    def font(*, bold: bool = False, size: int = 11, rgb: str = "", underline: bool = False) -> int:
        colour = f'<color rgb="FF{rgb}"/>' if rgb else ""
        return styles.add("fonts", f'<font>{"<b/>" if bold else ""}{"<u/>" if underline else ""}<sz val="{size}"/>'
                                   f'{colour}<name val="{REVIEW_FONT}"/></font>')

    side = f'style="thin"><color rgb="FF{BORDER_RGB}"/>'
    border = styles.add("borders", f"<border><left {side}</left><right {side}</right><top {side}</top>"
                                   f"<bottom {side}</bottom><diagonal/></border>")

    def xf(font_id: int, fill: int = 0, border_id: int = 0, alignment: str = "") -> int:
        align = f"<alignment {alignment}/>" if alignment else ""
        return styles.add("cellXfs", f'<xf numFmtId="0" fontId="{font_id}" fillId="{fill}" borderId="{border_id}" '
                                     f'xfId="0" applyFont="1" applyFill="1" applyBorder="1"'
                                     + (' applyAlignment="1">' + align + "</xf>" if align else "/>"))

    body, top = font(), 'vertical="top"'
    return {
        "title": xf(font(bold=True, size=14)),
        "note": xf(font(size=10, rgb=NOTE_RGB)),
        "header": xf(font(bold=True, rgb="FFFFFF"), styles.fill(HEADER_RGB), border,
                     'horizontal="center" vertical="center"'),
        "link": xf(font(rgb=LINK_RGB, underline=True), 0, border, top),
        "body": xf(body, 0, border, top),
        "error": xf(body, styles.fill(FILLS["error"]), border, top),
        "warning": xf(body, styles.fill(FILLS["warning"]), border, top),
        "wrap": xf(body, 0, border, 'vertical="top" wrapText="1"'),
    }

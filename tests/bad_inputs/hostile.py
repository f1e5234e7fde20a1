"""Hostile deliveries: files made (or exported by mistake) to exhaust the reader's memory or time.

Each builder is a pure function returning the file's bytes, with synthetic persons only
(tests/bad_inputs/builders.py). Its docstring says what the file is and the verdict the reader
(orchestration/privacy/extract/reader.py) must give it under the default limits
(orchestration/ingest/limits.py) unless the builder takes the limit as an argument; "read" means
the file is read completely, and then counts like any other. tests/ingest/test_reader_limits.py reads
every one of them; an end-to-end test can put them in an inbox as they are.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Callable

import openpyxl
from openpyxl.styles import Font

from tests.bad_inputs.builders import HEADER, Person, csv_bytes, rewrite_zip, rows_for, xlsx_bytes

MB = 1024 * 1024
EXCEL_LAST_ROW = 1_048_576
EXCEL_CELL_CHARS = 32_767
START = "2016-01-04"
SHEET = "xl/worksheets/sheet1.xml"
SHARED_STRINGS = "xl/sharedStrings.xml"
STYLES = "xl/styles.xml"
HELD_PARTS = ("[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", STYLES, SHARED_STRINGS)
_MAIN_NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_SHARED_STRINGS_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"


# --- XLSX ----------------------------------------------------------------------------------------

def xlsx_claiming_the_whole_sheet(persons: list[Person]) -> bytes:
    """A few KB: a header, a row for every person but the last on rows 2, 3, …, and the last
    person on row 1 048 576, Excel's last; the sheet's <dimension> claims A1:XFD1048576 (16 384
    columns). openpyxl's read-only worksheet trusts the claim: it padded every row to 16 384 cells
    and yielded each of the million missing rows (the old reader grew ~130 MB/s, 12 GB in 90 s).
    Verdict: read, in well under a second and a few MB — every person, the last one on row 1 048 576."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows_for(persons[:-1], START):
        sheet.append(row)
    for column, value in enumerate(rows_for(persons[-1:], START)[0], start=1):
        sheet.cell(row=EXCEL_LAST_ROW, column=column, value=value or None)
    data = _saved(workbook)
    return rewrite_zip(data, _in_part(SHEET, lambda xml: re.sub(rb'<dimension ref="[^"]*"',
                                                                b'<dimension ref="A1:XFD1048576"', xml)))


def xlsx_zip_bomb(persons: list[Person], uncompressed_bytes: int, part: str = SHEET) -> bytes:
    """A workbook of the persons whose first sheet (part=SHEET: a row of empty cells <c/>) or
    shared strings (part=SHARED_STRINGS: empty strings <si/>) is inflated to `uncompressed_bytes`,
    ~1 000 times what it takes on disk (300 MB in ~300 KB). Inflated, it is the slowest XML there
    is for the reader (and, as shared strings, ~20 bytes of memory for each byte).
    Verdict: XLSX_FOR_STOR when `uncompressed_bytes` is over the XLSX limit, decided from the zip's
    directory without inflating anything."""
    data = xlsx_as_excel_writes(persons)
    if part == SHEET:
        return _with_last_row(data, b"", b"<c/>", uncompressed_bytes, b"")
    return _inflated(data, SHARED_STRINGS, b"</sst>", b"", b"<si/>", uncompressed_bytes, b"")


def xlsx_understating_its_size(persons: list[Person], real_bytes: int = 64 * MB) -> bytes:
    """A workbook whose sheet inflates to `real_bytes` while the zip's headers declare it a few KB
    (a bomb that lies about itself). zipfile inflates a member only up to its declared size.
    Verdict: FIL_OLASBAR ("Första kalkylbladet kan inte läsas"), after reading the declared KB."""
    data = _with_last_row(xlsx_as_excel_writes(persons), b"", b"<c/>", real_bytes, b"")
    return _declaring_size(data, SHEET, 4096)


def xlsx_with_cell_in_column(persons: list[Person], column: int, value: str | None = "x") -> bytes:
    """The persons' rows, and on row 3 a cell in `column` (Excel's last is 16 384) holding `value`;
    value None: an empty cell with a format there (Excel writes those for formatted cells).
    Verdict with a value: FOR_MANGA_KOLUMNER, "Rad 3 har innehåll i kolumn <column>", when column
    is over the column limit; an empty cell never counts: read."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows_for(persons, START):
        sheet.append(row)
    cell = sheet.cell(row=3, column=column, value=value)
    cell.font = Font(bold=True)
    return _saved(workbook)


def xlsx_with_rows(persons: list[Person]) -> bytes:
    """A header and one row per person, written as openpyxl's write-only mode does (no
    <dimension>; cells as inline strings). Verdict: FOR_MANGA_RADER on the row of the
    (limit + 1)th person ("rad <limit + 2>") when there are more persons than the row limit; else read."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Deltagare")
    sheet.append(HEADER)
    for row in rows_for(persons, START):
        sheet.append(row)
    return _saved(workbook)


def xlsx_with_long_row(persons: list[Person], chars: int) -> bytes:
    """The persons' rows; row 2 also holds `chars` characters of notes, in cells of at most
    32 767 (Excel's most; openpyxl cuts a longer text) after the contract's columns.
    Verdict: RAD_FOR_LANG, "Rad 2 är för lång", when chars is over the line limit; else read."""
    pieces = [EXCEL_CELL_CHARS] * (chars // EXCEL_CELL_CHARS) + [chars % EXCEL_CELL_CHARS]
    header = HEADER + [f"anteckning_{k + 1}" for k in range(len(pieces))]
    rows = [[*row, *([""] * len(pieces))] for row in rows_for(persons, START)]
    rows[0][len(HEADER):] = ["x" * length for length in pieces]
    return xlsx_bytes(header, rows)


def xlsx_nested_deep(persons: list[Person], depth: int = 200_000, part: str = STYLES) -> bytes:
    """A workbook whose styles (part=STYLES) or sheet (part=SHEET) holds elements nested `depth`
    levels deep (1.4 MB of XML at the default, 7 KB zipped). ElementTree, which openpyxl parses
    styles with, holds every open element: ~95 bytes of memory for each byte (20 MB -> 1.9 GB).
    Verdict: FIL_OLASBAR ("nästlade i över 64 nivåer"), before openpyxl parses the part."""
    nest = b"<a>" * depth + b"</a>" * depth
    if part == STYLES:
        return rewrite_zip(xlsx_as_excel_writes(persons), _in_part(STYLES, lambda xml: xml.replace(
            b"</styleSheet>", nest + b"</styleSheet>")))
    return rewrite_zip(xlsx_as_excel_writes(persons), _in_part(SHEET, lambda xml: xml.replace(
        b"</sheetData>", b"</sheetData>" + nest)))


def xlsx_with_many_formats(persons: list[Person], formats: int) -> bytes:
    """A workbook whose styles list `formats` empty cell formats <xf/> (5 bytes each: a million
    is 5 MB unpacked, 20 KB zipped). openpyxl makes ~600 bytes of objects of each (a million:
    630 MB, 15 s); Excel itself allows 64 000. Verdict: XLSX_FOR_STOR ("formatmallar och
    arbetsbok har <n> delar") when styles, workbook and content types hold over 200 000 elements
    together; else read."""
    return _inflated(xlsx_as_excel_writes(persons), STYLES, b"</cellXfs>", b"", b"<xf/>", 5 * formats, b"")


def xlsx_with_entity_expansion(persons: list[Person]) -> bytes:
    """Shared strings with a DOCTYPE whose entities expand each other ("billion laughs"): 10 levels
    of 10 make one string of 2 × 10^10 characters. Excel never writes a DOCTYPE.
    Verdict: FIL_OLASBAR ("DOCTYPE"), before openpyxl parses the part."""
    entities = b'<!ENTITY e0 "ha">' + b"".join(
        b"<!ENTITY e%d \"%s\">" % (level, b"&e%d;" % (level - 1) * 10) for level in range(1, 11))
    prolog = b'<?xml version="1.0"?><!DOCTYPE sst [' + entities + b"]>"

    def change(xml: bytes) -> bytes:
        xml = re.sub(rb"^<\?xml[^>]*\?>\s*", b"", xml)
        return prolog + xml.replace(b"<si><t>MOTA</t></si>", b"<si><t>&e10;</t></si>", 1)

    return rewrite_zip(xlsx_as_excel_writes(persons), _in_part(SHARED_STRINGS, change))


def xlsx_with_huge_tag(persons: list[Person], attribute_bytes: int = 64 * MB) -> bytes:
    """A sheet cell with an attribute of `attribute_bytes` (zipped: ~1/1000). expat holds a tag
    whole, and scans it again for each chunk fed to it that does not end it (256 MB: 32 s, 800 MB).
    Verdict: FIL_OLASBAR ("en tagg eller text på över 1,0 MB"), after reading ~1 MB of it."""
    return _with_last_row(xlsx_as_excel_writes(persons), b'<c x="', b"a", attribute_bytes, b'"/>')


def xlsx_with_long_comment(persons: list[Person], comment_bytes: int) -> bytes:
    """A sheet with an XML comment of `comment_bytes` after its rows, with a '<' every few bytes
    (so no run without '<' is long). expat holds a comment whole and scans it again for every
    chunk fed to it that does not end it. Excel writes no comments.
    Verdict: read, every person, in time and memory growing with the comment (BENCHMARKS.md,
    "Reading limits": the worst a file within the XLSX limit can do)."""
    return _inflated(xlsx_as_excel_writes(persons), SHEET, b"</sheetData>", b"<!--", b"<a ", comment_bytes, b"-->")


def xlsx_with_many_parts(persons: list[Person], parts: int) -> bytes:
    """A workbook with `parts` extra (empty) zip members; zipfile holds ~0.5 KB per member it
    lists, so an 88 MB file of a million members took 480 MB before anything was read.
    Verdict: XLSX_FOR_STOR ("består av <n> delar") when the members are over 10 000; else read."""
    buffer = io.BytesIO(xlsx_as_excel_writes(persons))
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_STORED) as archive:
        for index in range(parts):
            archive.writestr(f"customXml/item{index}.xml", b"")
    return buffer.getvalue()


def xlsx_with_blank_cells(persons: list[Person], blank_bytes: int) -> bytes:
    """The persons' rows and, on a row after them, `blank_bytes` of empty cells <c/> (no
    reference: each is one column further right). The XML that costs the reader most per byte.
    Verdict: read, every person, in time proportional to blank_bytes (BENCHMARKS.md, "Reading
    limits"); blank cells never count against the column limit."""
    return _with_last_row(xlsx_as_excel_writes(persons), b"", b"<c/>", blank_bytes, b"")


def xlsx_within_every_limit(persons: list[Person], uncompressed_bytes: int, held_bytes: int, formats: int = 0) -> bytes:
    """The costliest workbook the XLSX limits let through: `formats` empty cell formats <xf/> in
    the styles (~600 bytes of openpyxl objects each), the parts openpyxl parses whole (shared
    strings, styles, workbook, content types) filled up to `held_bytes` with empty strings <si/>
    (~20 bytes of memory a byte), and a row of empty cells <c/> (the slowest sheet XML) filling
    the zip up to `uncompressed_bytes`. Verdict: read, every person, when all three are within
    their limits (BENCHMARKS.md, "Reading limits": about a minute)."""
    base = _inflated(xlsx_as_excel_writes(persons), STYLES, b"</cellXfs>", b"", b"<xf/>", 5 * formats, b"")
    held = sum(item.file_size for item in zipfile.ZipFile(io.BytesIO(base)).infolist() if item.filename in HELD_PARTS)
    data = _inflated(base, SHARED_STRINGS, b"</sst>", b"", b"<si/>", held_bytes - held, b"")
    used = sum(item.file_size for item in zipfile.ZipFile(io.BytesIO(data)).infolist())
    return _with_last_row(data, b"", b"<c/>", uncompressed_bytes - used - len(b'<row r="1000000"></row>'), b"")


def xlsx_as_excel_writes(persons: list[Person]) -> bytes:
    """The persons' rows as Excel saves them: text in a shared-strings part (openpyxl writes
    inline strings), referenced by index. Verdict: read."""
    data = xlsx_bytes(HEADER, rows_for(persons, START))
    strings: dict[bytes, int] = {}

    def shared(match: re.Match[bytes]) -> bytes:
        index = strings.setdefault(match.group(2), len(strings))
        return b'<c r="%s" t="s"><v>%d</v></c>' % (match.group(1), index)

    sheet = re.sub(rb'<c r="([A-Z]+\d+)" t="inlineStr"><is><t>([^<]*)</t></is></c>', shared,
                   zipfile.ZipFile(io.BytesIO(data)).read(SHEET))
    sheet = re.sub(rb'<c r="[A-Z]+\d+" t="inlineStr" ?/>', b"", sheet)      # openpyxl's empty cells
    table = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst ' + _MAIN_NS
             + b' count="%d" uniqueCount="%d">' % (len(strings), len(strings))
             + b"".join(b"<si><t>%s</t></si>" % text for text in strings) + b"</sst>")

    def change(name: str, content: bytes) -> bytes:
        if name == SHEET:
            return sheet
        if name == "[Content_Types].xml":
            return content.replace(b"</Types>", b'<Override PartName="/' + SHARED_STRINGS.encode()
                                   + b'" ContentType="' + _SHARED_STRINGS_TYPE + b'"/></Types>')
        return content

    buffer = io.BytesIO(rewrite_zip(data, change))
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(SHARED_STRINGS, table)
    return buffer.getvalue()


# --- CSV -----------------------------------------------------------------------------------------

def csv_with_rows(persons: list[Person]) -> bytes:
    """A header and one row per person (UTF-8, semicolons). Verdict: FOR_MANGA_RADER on the line of
    the (limit + 1)th person ("rad <limit + 2>") when there are more persons than the row limit;
    else read."""
    return csv_bytes(HEADER, rows_for(persons, START))


def csv_with_columns(persons: list[Person], columns: int, blank_extra: bool = False) -> bytes:
    """Header and rows `columns` wide: the contract's columns, then extra ones (extra_6, …) with
    a value in every row; blank_extra: the extra columns are empty in every line, header included
    (trailing separators, as Excel writes a formatted range). Verdict: FOR_MANGA_KOLUMNER, "Rad 1
    har innehåll i kolumn <columns>" (the header), when columns is over the column limit and the
    extra columns are not blank; blank trailing columns never count: read."""
    extra = columns - len(HEADER)
    header = HEADER + ["" if blank_extra else f"extra_{len(HEADER) + k + 1}" for k in range(extra)]
    rows = [[*row, *(["" if blank_extra else "x"] * extra)] for row in rows_for(persons, START)]
    return csv_bytes(header, rows)


def csv_one_long_line(length: int) -> bytes:
    """A header's beginning and then `length` characters with no line break at all (a binary
    export, or a file whose line ends were lost). Verdict: RAD_FOR_LANG, "Rad 1 är för lång",
    after reading about 4 × the line limit in bytes, not the file."""
    return b"personnummer;startdatum;fas;anteckning;" + b"x" * length


def csv_utf16_one_long_line(length: int) -> bytes:
    """The same in UTF-16 with a byte order mark (Excel's "Unicode-text"), tab-separated.
    Verdict: RAD_FOR_LANG, "Rad 1 är för lång"."""
    return ("personnummer\tstartdatum\tfas\tanteckning\t" + "x" * length).encode("utf-16")


def csv_with_unclosed_quote(persons: list[Person]) -> bytes:
    """The persons' rows with a note column; the note on line 2 opens a quote that never closes,
    so that record runs to the end of the file (~33 characters a person). Verdict: RAD_FOR_LANG,
    "Rad 2 är för lång" with a word on the unclosed quote, when that is over the line limit (over
    ~3 100 persons at the default); CITATTECKEN_EJ_STANGT, "rad 2", when it is not."""
    rows = [[*row, "ok"] for row in rows_for(persons, START)]
    rows[0][-1] = "ringde"
    content = csv_bytes(HEADER + ["anteckning"], rows)
    return content.replace(b";ringde\n", b';"ringde\n', 1)


def csv_with_blank_lines(persons: list[Person], blank_lines: int, line: bytes = b"\n") -> bytes:
    """The persons' rows, with `blank_lines` empty lines (or `line`, e.g. b";;;;\\n") before the last
    person: a file of a million empty lines is 1 MB. Verdict: read, every person, the last on
    line len(persons) + blank_lines + 1; an empty line costs the reader a few tenths of a microsecond."""
    content = csv_bytes(HEADER, rows_for(persons[:-1], START))
    return content + line * blank_lines + csv_bytes(HEADER, rows_for(persons[-1:], START)).split(b"\n", 1)[1]


# --- Zip surgery -------------------------------------------------------------------------------

def _saved(workbook: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _in_part(part: str, change: Callable[[bytes], bytes]) -> Callable[[str, bytes], bytes]:
    return lambda name, content: change(content) if name == part else content


def _with_last_row(data: bytes, prefix: bytes, unit: bytes, size: int, suffix: bytes) -> bytes:
    """The workbook with a row after its last: prefix, `size` bytes of `unit` repeated, suffix."""
    sheet = zipfile.ZipFile(io.BytesIO(data)).read(SHEET)
    last = max(int(number) for number in re.findall(rb'<row r="(\d+)"', sheet))
    return _inflated(data, SHEET, b"</sheetData>", b'<row r="%d">' % (last + 1) + prefix, unit, size,
                     suffix + b"</row>")


def _inflated(data: bytes, part: str, anchor: bytes, prefix: bytes, unit: bytes, size: int, suffix: bytes) -> bytes:
    """The workbook with prefix, `size` bytes of `unit` repeated and suffix inserted into `part`
    before `anchor`, compressed a MB at a time (building it holds no more than that)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename != part:
                target.writestr(item, content)
                continue
            at = content.index(anchor)
            info = zipfile.ZipInfo(part, item.date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            with target.open(info, "w") as stream:
                stream.write(content[:at] + prefix)
                block = unit * max(1, MB // len(unit))
                count = size // len(unit)
                for _ in range(count // (len(block) // len(unit))):
                    stream.write(block)
                stream.write(unit * (count % (len(block) // len(unit))) + suffix + content[at:])
    return buffer.getvalue()


def _declaring_size(data: bytes, part: str, declared: int) -> bytes:
    """The zip with `part`'s uncompressed size set to `declared` in its local header and in the
    central directory; its content unchanged."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    content = bytearray(data)
    struct.pack_into("<I", content, archive.getinfo(part).header_offset + 22, declared)
    at, name = archive.start_dir, part.encode()
    while content[at:at + 4] == b"PK\x01\x02":
        name_length, extra_length, comment_length = struct.unpack_from("<3H", content, at + 28)
        if bytes(content[at + 46:at + 46 + name_length]) == name:
            struct.pack_into("<I", content, at + 24, declared)
        at += 46 + name_length + extra_length + comment_length
    return bytes(content)

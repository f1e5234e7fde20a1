"""Reading extracts as municipalities send them: encodings, separators, Excel, header aliases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from orchestration.ingest.inbox import month_in_name
from orchestration.privacy.extract.reader import ExtractReadError, read_extract

HEADER = ["Personnummer", "Kön", "Inskrivningsdatum", "Steg", "Slutdatum", "Avslutsorsak", "Födelseregion"]
ROWS = [
    ["990101-1230", "", "2016-01-10", "Möta", "", "", "Sverige"],
    ["19980202-2344", "M", "20160111", "aktivera", "2016-02-01 00:00:00", "arbete", "EU/EES"],
]


def write_csv(path: Path, encoding: str, separator: str, newline: str = "\n", quote_all: bool = False) -> Path:
    def cell(value: str) -> str:
        return f'"{value}"' if quote_all or separator in value else value
    lines = [separator.join(cell(v) for v in row) for row in [HEADER, *ROWS]]
    path.write_bytes((newline.join(lines) + newline + newline).encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
@pytest.mark.parametrize("separator", [",", ";", "\t"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_in_every_contract_encoding_and_separator_reads_the_same(tmp_path, encoding, separator, newline):
    extract = read_extract(write_csv(tmp_path / "2016-03.csv", encoding, separator, newline))
    assert list(extract.rows.columns) == ["row_number", "personnummer", "kon", "startdatum", "fas", "slutdatum",
                                          "avslutsorsak", "fodelseregion"]
    assert extract.rows["row_number"].tolist() == [2, 3]
    assert extract.rows["fas"].tolist() == ["Möta", "aktivera"]
    assert extract.rows["personnummer"].tolist() == ["990101-1230", "19980202-2344"]
    assert extract.separator == separator


def test_quoted_field_containing_the_separator(tmp_path):
    path = tmp_path / "x 2016-03.csv"
    path.write_text('personnummer;startdatum;fas;anteckning\n990101-1230;2016-01-10;MOTA;"ringde; inget svar"\n', encoding="utf-8")
    assert read_extract(path).rows["anteckning"].tolist() == ["ringde; inget svar"]


def test_blank_trailing_columns_and_lines_are_ignored(tmp_path):
    path = tmp_path / "2016-03.csv"
    path.write_text("personnummer;startdatum;fas;;\n990101-1230;2016-01-10;MOTA;;\n;;;;\n\n\n", encoding="utf-8")
    extract = read_extract(path)
    assert len(extract.rows) == 1 and extract.unknown_columns == []


def test_xlsx_with_excel_dates_and_numeric_personnummer(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["PNR", "Startdatum", "FAS", "slutdatum"])
    sheet.append([305121238, dt.datetime(2019, 2, 1), "Hitta", None])
    sheet.append(["030512-1238", dt.date(2019, 3, 1), "MATCHA", dt.datetime(2019, 4, 1)])
    path = tmp_path / "fokus_2029_2019-04.xlsx"
    workbook.save(path)
    rows = read_extract(path).rows
    assert rows["personnummer"].tolist() == ["305121238", "030512-1238"]
    assert rows["startdatum"].tolist() == ["2019-02-01", "2019-03-01"]
    assert rows["slutdatum"].tolist() == ["", "2019-04-01"]


def test_unknown_columns_are_listed_not_fatal(tmp_path):
    path = tmp_path / "2016-03.csv"
    path.write_text("personnummer,startdatum,fas,handläggare\n990101-1230,2016-01-10,MOTA,x\n", encoding="utf-8")
    assert read_extract(path).unknown_columns == ["handläggare"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "FIL_TOM"),
        (b"personnummer;startdatum;fas\n", "FIL_TOM"),
        (b"personnummer;startdatum\n990101-1230;2016-01-10\n", "KOLUMN_SAKNAS"),
        (b"personnummer;pnr;startdatum;fas\n1;2;2016-01-10;MOTA\n", "KOLUMN_DUBBEL"),
        (b"\x00\x01\x02binary\x00", "FIL_OLASBAR"),
    ],
)
def test_unusable_csv_files_are_refused_with_a_reason(tmp_path, content, code):
    path = tmp_path / "2016-03.csv"
    path.write_bytes(content)
    with pytest.raises(ExtractReadError) as raised:
        read_extract(path)
    assert raised.value.code == code
    assert raised.value.message  # a sentence for the municipality


def test_truncated_xlsx_is_refused(tmp_path):
    path = tmp_path / "2016-03.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(ExtractReadError) as raised:
        read_extract(path)
    assert raised.value.code == "FIL_OLASBAR"


@pytest.mark.parametrize(
    ("name", "month"),
    [("2016-03.csv", "2016-03"), ("uvas_2380_2016-03.xlsx", "2016-03"),
     ("leverans 2016-03 (rättad).csv", "2016-03"), ("leverans mars.csv", None), ("2016-13.csv", None)],
)
def test_reporting_month_is_the_first_yyyy_mm_in_the_name(name, month):
    assert month_in_name(name) == month

"""Good deliveries in every format and quirk of the contract, and their corrected resubmissions.

uvas, 2016-03, one municipality each, so every file is its municipality's snapshot in force and
its rows are visible in the marts. The first file carries one row for each warning of the
contract; the first two share a person who is active in both municipalities at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from tests.bad_inputs.builders import Person, PersonFactory, csv_bytes, wrong_check_digit, xlsx_workbook_bytes

MONTH = "2016-03"
ON_TIME = dt.datetime(2016, 4, 5, 9, 30)      # before the 10th of the following month
LATE = dt.datetime(2016, 4, 15, 14, 0)        # after it


@dataclass
class GoodFile:
    name: str
    relative: str
    content: bytes
    persons: list[Person]                         # every person with a valid row in the file
    rows_total: int
    rows_rejected: int = 0
    received: dt.datetime = ON_TIME
    warnings: dict[int, set[str]] = field(default_factory=dict)   # row number -> warning codes
    rejected: dict[int, str] = field(default_factory=dict)        # row number -> reason code

    @property
    def kommunkod(self) -> str:
        return self.relative.split("/")[1]

    @property
    def file_name(self) -> str:
        return self.relative.rsplit("/", 1)[-1]


@dataclass
class GoodSet:
    files: list[GoodFile]
    shared: Person                 # enrolled in 2303 and 2305 at the same time
    too_old: Person
    ends_after_month: Person
    unknown_codes: Person
    invalid_written: str           # the invalid number in the first file (must never be shown)

    def file(self, name: str) -> GoodFile:
        return next(f for f in self.files if f.name == name)


def build_good(factory: PersonFactory) -> GoodSet:
    ordinary = factory.take(1995, 30)
    shared, ends, unknown = factory.take(1996, 3)
    too_old = factory.take(1980, 1)[0]
    invalid = wrong_check_digit(factory.take(1995, 1)[0].ten)
    files: list[GoodFile] = []

    # 2303: UTF-8, ';', LF, canonical header; one row per warning, one rejected row.
    header = ["personnummer", "startdatum", "fas", "slutdatum", "avslutsorsak", "fodelseregion", "funktionsnedsattning"]
    first = ordinary[0:4]
    rows = [[p.ten, "2016-01-04", "MOTA", "", "", "SVERIGE", "NEJ"] for p in first]
    rows += [
        [too_old.ten, "2016-02-01", "HITTA", "", "", "", ""],                      # row 6: age 36
        [ends.ten, "2015-11-02", "MATCHA", "2016-04-20", "ARBETE", "", ""],        # row 7: ends after March
        [unknown.ten, "2016-02-15", "AKTIVERA", "", "", "Mars", "kanske"],         # row 8: codes -> OKAND
        [shared.twelve, "2016-01-11", "MOTA", "", "", "", ""],                     # row 9: also in 2305
        [invalid, "2016-01-11", "MOTA", "", "", "", ""],                           # row 10: rejected
    ]
    files.append(GoodFile(
        "utf8_semicolon_lf", f"uvas/2303/{MONTH}.csv", csv_bytes(header, rows),
        [*first, too_old, ends, unknown, shared], rows_total=9, rows_rejected=1,
        warnings={6: {"ALDER_UTANFOR_MALGRUPP"}, 7: {"SLUTDATUM_EFTER_MANAD"},
                  8: {"KOD_OKAND"}, 9: {"AKTIV_I_ANNAN_KOMMUN"}},
        rejected={10: "PNR_OGILTIG"}))

    # 2305: Excel's "CSV (semikolonavgränsad)": Windows-1252, ';', CRLF; aliases in any case, with
    # spaces, with and without å/ä/ö; code values written the same ways. Delivered late.
    header = [" PERSONNR ", "Kön", "Inskrivningsdag", "STEG", "Avslutsdatum", "avslutsanledning", "Födelseland",
              "Försörjningsstöd start"]
    second = ordinary[4:9]
    rows = [
        [second[0].ten, "k", "2016-01-05", "Möta", "", "", "Sverige", "ja"],
        [second[1].ten, "M", "20160106", "möta", "", "", "eu ees", "Nej"],
        [second[2].ten, "", "2016-01-07 00:00:00", "MOTA", "", "", "TREDJELAND", "okänd"],
        [second[3].ten, "X", "2016-01-08", "aktivera", "2016-03-01", "Ohälsa", "", ""],
        [second[4].ten.replace("-", ""), "", "2016-01-09", "Matcha", "2016-02-01", "arbete", "", ""],
        [shared.ten, "", "2016-02-01", "Hitta", "", "", "", ""],                  # row 7: also in 2303
    ]
    files.append(GoodFile(
        "windows1252_semicolon_crlf_aliases", f"uvas/2305/uvas_2305_{MONTH}.csv",
        csv_bytes(header, rows, encoding="cp1252", newline="\r\n"), [*second, shared], rows_total=6,
        received=LATE, warnings={7: {"AKTIV_I_ANNAN_KOMMUN"}}))

    # 2309: UTF-8 with BOM, tab, CRLF, blank trailing lines.
    third = ordinary[9:13]
    data = csv_bytes(["personnummer", "startdatum", "fas"], [[p.twelve, "2016-02-01", "HITTA"] for p in third],
                     separator="\t", encoding="utf-8-sig", newline="\r\n")
    files.append(GoodFile("utf8_bom_tab_crlf", f"uvas/2309/{MONTH}.csv", data + b"\r\n\r\n\t\t\r\n", third,
                          rows_total=4))

    # 2313: XLSX with real Excel dates and personnummer stored as numbers (zeros lost).
    fourth = factory.take(2000, 3) + factory.take(2001, 1)

    def fill(sheet) -> None:
        sheet.append(["Personnummer", "Startdatum", "Fas", "Slutdatum", "Avslutsorsak"])
        for index, person in enumerate(fourth):
            number = int(person.ten.replace("-", "")) if index % 2 == 0 else int(person.twelve)
            sheet.append([number, dt.datetime(2016, 2, 1 + index), "MOTA", None, None])
            sheet.cell(row=sheet.max_row, column=2).number_format = "yyyy-mm-dd"
        sheet.append([None, None, None, None, None, None])   # a blank row and blank cells at the end

    files.append(GoodFile("xlsx_dates_numeric_personnummer", f"uvas/2313/{MONTH}.xlsx", xlsx_workbook_bytes(fill),
                          fourth, rows_total=4))

    # 2321: ',' with quoted fields holding separators and quotes, blank trailing columns and lines.
    fifth = ordinary[13:17]
    lines = ["personnummer,startdatum,fas,anteckning,,"]
    lines += [f'{p.ten},2016-02-0{i + 1},MOTA,"ringde, inget svar; ""igen""",,' for i, p in enumerate(fifth)]
    files.append(GoodFile("comma_quoted_fields_blank_trailing", f"uvas/2321/export {MONTH} v2.csv",
                          ("\n".join(lines) + "\n\n,,,,,\n\n").encode("utf-8"), fifth, rows_total=4))

    # 2326: the month in the middle of the name, Windows-1252, LF.
    sixth = ordinary[17:21]
    files.append(GoodFile(
        "month_inside_file_name", f"uvas/2326/leverans {MONTH} (rättad).csv",
        csv_bytes(["personnummer", "startdatum", "fas", "kön"], [[p.ten, "2016-02-01", "HITTA", "K"] for p in sixth],
                  encoding="cp1252"), sixth, rows_total=4))
    return GoodSet(files, shared, too_old, ends, unknown, invalid)


@dataclass
class Resubmissions:
    """Files of a later run: a correction for 2303, a byte-identical copy for 2321, a broken
    resubmission for 2309 (rejected whole; the earlier snapshot stays in force)."""

    corrected: GoodFile
    dropped: Person               # in the first 2303 file, not in the correction
    added: Person                 # only in the correction
    identical_relative: str
    identical_of: GoodFile
    broken_relative: str
    broken: bytes
    broken_of: GoodFile


def build_resubmissions(factory: PersonFactory, good: GoodSet) -> Resubmissions:
    first = good.file("utf8_semicolon_lf")
    kept = [p for p in first.persons if p is not first.persons[0]]
    added = factory.take(1995, 1)[0]
    persons = [*kept, added]
    content = csv_bytes(["personnummer", "startdatum", "fas"], [[p.ten, "2016-01-04", "MOTA"] for p in persons])
    corrected = GoodFile("corrected", f"uvas/2303/{MONTH} rättad.csv", content, persons, rows_total=len(persons))
    fifth = good.file("comma_quoted_fields_blank_trailing")
    third = good.file("utf8_bom_tab_crlf")
    broken = csv_bytes(["personnummer", "startdatum"], [[p.ten, "2016-02-01"] for p in factory.take(1995, 3)])
    return Resubmissions(corrected, first.persons[0], added, f"uvas/2321/kopia av export {MONTH} v2.csv", fifth,
                         f"uvas/2309/{MONTH} ny.csv", broken, third)

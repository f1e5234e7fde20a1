"""The corpus of deliveries a municipality should not send, and the ones it may send oddly.

Every case is a file (or a symbolic link) at a place in the inbox, built at test time, with the
outcome the extract contract asks for:

- `rejected`: routed to a project, municipality and month, and rejected whole with a reason code;
- `unrouted`: not ingested at all (no month in the name, wrong folder, a link), reported;
- `accepted`: odd but readable (the reader is liberal on purpose); it must count.

Rejected cases share one municipality (uvas 2380), one month each, so nothing of one can hide
behind another; accepted cases each get a municipality of their own, so their rows are that
municipality's newest snapshot and visible in marts.fct_enrolments. Every case has its own
synthetic persons (PersonFactory never hands one out twice), so a leak is traced to its case.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from tests.bad_inputs.builders import (
    HEADER,
    Person,
    PersonFactory,
    csv_bytes,
    month_start,
    ole_file,
    rows_for,
    with_formula_values,
    wrong_check_digit,
    xlsx_bytes,
    xlsx_without_sheets,
    xlsx_workbook_bytes,
)

REJECTED_KOMMUN = ("uvas", "2380")
HUNDRED_THOUSAND = 100_000


@dataclass
class Case:
    name: str
    relative: str                      # below the inbox
    content: bytes | None              # None: a symbolic link (to `link_target`)
    outcome: str                       # rejected, unrouted, accepted
    reason: str | None                 # reason code of the file verdict
    message: tuple[str, ...]           # fragments the message must contain
    persons: list[Person] = field(default_factory=list)   # valid numbers written in the file
    rows_total: int | None = None      # rows read, when the file can be read
    rows_accepted: int | None = None
    link_target: str | None = None

    @property
    def project_id(self) -> str:
        return self.relative.split("/")[0]

    @property
    def file_name(self) -> str:
        return self.relative.rsplit("/", 1)[-1]


def _months(start: str, count: int) -> list[str]:
    year, month = int(start[:4]), int(start[5:])
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def build_corpus(factory: PersonFactory, today: dt.date | None = None) -> list[Case]:
    """Every case of the corpus; call once per inbox (the factory hands out persons)."""
    today = today or dt.date.today()
    months = iter(_months("2015-07", 36))
    cases: list[Case] = []

    def rejected(name: str, suffix: str, build, reason: str, *message: str, persons: int = 5,
                 rows_total: int | None = None, file_name: str | None = None) -> None:
        month = next(months)
        people = factory.take(1994, persons)
        relative = f"{REJECTED_KOMMUN[0]}/{REJECTED_KOMMUN[1]}/{file_name or month + suffix}"
        cases.append(Case(name, relative, build(people, month), "rejected", reason, message, people,
                          rows_total=rows_total, rows_accepted=0 if rows_total is not None else None))

    def good_csv(people: list[Person], month: str) -> bytes:
        return csv_bytes(HEADER, rows_for(people, month_start(month)))

    def good_xlsx(people: list[Person], month: str) -> bytes:
        return xlsx_bytes(HEADER, rows_for(people, month_start(month)))

    # --- cannot be read at all -------------------------------------------------------------------
    rejected("zero_byte_file", ".csv", lambda p, m: b"", "FIL_TOM", "Filen är tom", persons=0)
    rejected("only_blank_lines", ".csv", lambda p, m: b"\r\n  \r\n\t\r\n", "FIL_TOM", "Filen är tom", persons=0)
    rejected("header_only", ".csv", lambda p, m: b"personnummer;startdatum;fas\r\n", "FIL_TOM",
             "rubrikrad men inga deltagarrader", persons=0)
    rejected("binary_garbage_named_csv", ".csv", lambda p, m: bytes(range(256)) * 40, "FIL_OLASBAR",
             "binära data", "skicka igen", persons=0)
    rejected("nul_bytes_in_text", ".csv",
             lambda p, m: good_csv(p, m).replace(b"\n", b"\n\x00\x00", 1), "FIL_OLASBAR",
             "nolltecken på rad 2", "Spara om den")
    rejected("truncated_xlsx", ".xlsx", lambda p, m: good_xlsx(p, m)[:1500], "FIL_OLASBAR",
             "Excel-filen kan inte öppnas", "skicka igen")
    rejected("xlsx_without_sheets", ".xlsx", lambda p, m: xlsx_without_sheets(), "INGET_KALKYLBLAD",
             "inga kalkylblad", "skicka igen", persons=0)
    rejected("xlsx_first_sheet_empty", ".xlsx",
             lambda p, m: xlsx_workbook_bytes(lambda sheet: None), "FIL_TOM", "Första kalkylbladet är tomt",
             persons=0)
    rejected("password_protected_xlsx", ".xlsx", lambda p, m: ole_file(encrypted=True), "LOSENORDSSKYDDAD",
             "lösenordsskyddad", "Ta bort lösenordet", persons=0)
    rejected("old_xls_format_named_xlsx", ".xlsx", lambda p, m: ole_file(encrypted=False), "GAMMALT_EXCELFORMAT",
             "gamla format (.xls)", "Spara den som", persons=0)
    rejected("unknown_file_type", ".pdf", lambda p, m: b"%PDF-1.4\n" + good_csv(p, m), "FILTYP_OKAND",
             "Filtypen '.pdf' kan inte läsas", "Skicka filen som .csv eller .xlsx")

    # --- readable, but not as a table with the contract's columns ---------------------------------
    rejected("rows_use_another_delimiter", ".csv",
             lambda p, m: b"personnummer;startdatum;fas\n" + good_csv(p, m).split(b"\n", 1)[1].replace(b";", b","),
             "AVGRANSARE_OLIKA", "semikolon (;)", "komma (,)", "från rad 2", "samma avgränsare")
    rejected("pipe_delimited", ".csv", lambda p, m: csv_bytes(HEADER, rows_for(p, month_start(m)), separator="|"),
             "KOLUMN_SAKNAS", "Obligatorisk kolumn saknas", "lodstreck (|)",
             "Använd semikolon (;), komma (,) eller tabb")
    rejected("duplicate_header_names", ".csv",
             lambda p, m: csv_bytes(["Personnummer", "PNR", "startdatum", "fas"],
                                    [[x.ten, x.ten, month_start(m), "MOTA"] for x in p]),
             "KOLUMN_DUBBEL", "Kolumnen 'personnummer' förekommer två gånger", "rad 1, kolumn 1 och 2",
             "Ta bort den ena")
    rejected("missing_required_column", ".csv",
             lambda p, m: csv_bytes(["personnummer", "startdatum", "slutdatum"],
                                    [[x.ten, month_start(m), ""] for x in p]),
             "KOLUMN_SAKNAS", "Obligatorisk kolumn saknas: fas", "Lägg till kolumnen")
    rejected("no_header_row", ".csv", lambda p, m: good_csv(p, m).split(b"\n", 1)[1], "RUBRIKRAD_SAKNAS",
             "Rubrikraden saknas", "rad 1 ser ut att vara en deltagarrad")
    rejected("unclosed_quote", ".csv",
             lambda p, m: csv_bytes(HEADER + ["anteckning"],
                                    [[*r, "ok"] for r in rows_for(p, month_start(m))]).replace(b";ok\n", b';"ringde\n', 1),
             "CITATTECKEN_EJ_STANGT", "citattecken", "rad 2", "stängs aldrig")
    rejected("extremely_long_line", ".csv",
             lambda p, m: csv_bytes(HEADER + ["anteckning"],
                                    [[*r, "x" * (300_000 if i == 2 else 3)]
                                     for i, r in enumerate(rows_for(p, month_start(m)))]),
             "RAD_FOR_LANG", "Rad 4 är för lång", "Rätta raden")
    rejected("formula_without_value", ".xlsx",
             lambda p, m: xlsx_workbook_bytes(lambda sheet: [
                 sheet.append(HEADER), *[sheet.append([x.ten, month_start(m), "=\"MO\"&\"TA\"", "", ""]) for x in p]]),
             "FORMEL_UTAN_VARDE", "Cell C2 innehåller en formel utan uträknat värde", "klistra in som värden")

    # --- readable rows, too many of them wrong ----------------------------------------------------
    def partly_invalid(bad: int):
        def build(people: list[Person], month: str) -> bytes:
            rows = rows_for(people, month_start(month))
            for row in rows[:bad]:
                row[0] = wrong_check_digit(row[0])
            return csv_bytes(HEADER, rows)
        return build

    rejected("more_than_20_percent_invalid_rows", ".csv", partly_invalid(3), "FOR_MANGA_FEL",
             "3 av 10 rader (30%) avvisades", "förra godkända leveransen gäller", persons=10, rows_total=10)
    rejected("hundred_thousand_rows_all_invalid", ".csv",
             lambda p, m: csv_bytes(HEADER, [[f"19940101-{k:04d}"[:-1] + "X", month_start(m), "MOTA", "", ""]
                                             for k in range(HUNDRED_THOUSAND)]),
             "FOR_MANGA_FEL", f"{HUNDRED_THOUSAND} av {HUNDRED_THOUSAND} rader (100%)", persons=0,
             rows_total=HUNDRED_THOUSAND)
    rejected("kommunkod_column_of_another_municipality", ".csv",
             lambda p, m: csv_bytes(HEADER + ["kommunkod"], [[*r, "2303"] for r in rows_for(p, month_start(m))]),
             "FOR_MANGA_FEL", "5 av 5 rader (100%)", persons=5, rows_total=5)
    rejected("rapportmanad_column_of_another_month", ".csv",
             lambda p, m: csv_bytes(HEADER + ["rapportmånad"], [[*r, "2014-01"] for r in rows_for(p, month_start(m))]),
             "FOR_MANGA_FEL", "5 av 5 rader (100%)", persons=5, rows_total=5)
    rejected("dates_in_us_format", ".csv",
             lambda p, m: csv_bytes(HEADER, [[x.ten, f"{m[5:]}/01/{m[:4]}", "MOTA", "", ""] for x in p]),
             "FOR_MANGA_FEL", "5 av 5 rader (100%)", persons=5, rows_total=5)
    rejected("every_enrolment_starts_after_the_month", ".csv",
             lambda p, m: csv_bytes(HEADER, rows_for(p, f"{int(m[:4]) + 1}{m[4:]}-01")),
             "FOR_MANGA_FEL", "5 av 5 rader (100%)", persons=5, rows_total=5)

    # --- placed where no month, project or municipality can be read --------------------------------
    future = f"{today.year + 1}-{today.month:02d}"
    people = factory.take(1994, 3)
    cases.append(Case("future_month", f"uvas/2380/{future}.csv", good_csv(people, "2016-01"), "rejected",
                      "MANAD_I_FRAMTIDEN", (f"Rapportmånaden {future}", "har inte börjat än", "lägg filen i inkorgen igen"),
                      people))
    for name, relative, reason, message in (
        ("name_without_month", "uvas/2380/leverans mars.csv", "MANAD_SAKNAS",
         ("Filnamnet 'leverans mars.csv' innehåller ingen rapportmånad", "Döp om filen")),
        ("folder_not_a_municipality_of_the_project", "uvas/0180/2016-05.csv", "OKAND_KOMMUN",
         ("Mappen '0180' är ingen kommun i projektet uvas", "Flytta filen till rätt kommunmapp")),
        ("folder_not_a_project", "okant_projekt/2380/2016-05.csv", "OKANT_PROJEKT",
         ("Mappen 'okant_projekt' är inget konfigurerat projekt", "Flytta filen")),
        ("file_directly_in_project_folder", "uvas/2016-05.csv", "FEL_PLATS",
         ("ligger inte i en mapp inkorg/<projekt>/<kommunkod>/", "Flytta den till rätt kommunmapp")),
    ):
        people = factory.take(1994, 3)
        cases.append(Case(name, relative, good_csv(people, "2016-05"), "unrouted", reason, message, people))
    cases.append(Case("symbolic_link", "uvas/2380/2018-03.csv", None, "unrouted", "SYMBOLISK_LANK",
                      ("är en symbolisk länk", "Lägg själva filen i kommunmappen"), link_target="outside/2018-03.csv"))

    # --- odd, but the contract (or a liberal reader) accepts it ----------------------------------
    def accepted(name: str, relative: str, build, rows_total: int, rows_accepted: int, persons: int = 4) -> None:
        month = relative.split("/")[2][:7]
        people = factory.take(int(month[:4]) - 21, persons)
        cases.append(Case(name, relative, build(people, month), "accepted", None, (), people, rows_total, rows_accepted))

    def mixed_encodings(people: list[Person], month: str) -> bytes:
        lines = ["personnummer;startdatum;fas;kön".encode("utf-8")]
        for i, x in enumerate(people):
            lines.append(f"{x.ten};{month_start(month)};Möta;".encode("utf-8" if i % 2 else "cp1252"))
        return b"\r\n".join(lines) + b"\r\n"

    def with_cached_formulas(people: list[Person], month: str) -> bytes:
        data = xlsx_bytes(HEADER, rows_for(people, month_start(month), fas="HITTA"))
        return with_formula_values(data, {f"C{row}": ('CONCATENATE("MO","TA")', "MOTA") for row in range(2, len(people) + 2)})

    def utf16(people: list[Person], month: str) -> bytes:
        return csv_bytes(HEADER, rows_for(people, month_start(month)), separator="\t", encoding="utf-16", newline="\r\n")

    def title_row(people: list[Person], month: str) -> bytes:
        return f"Deltagarlista {month};;\r\n;;\r\n".encode("cp1252") + csv_bytes(HEADER, rows_for(people, month_start(month)))

    def twenty_percent(people: list[Person], month: str) -> bytes:
        return partly_invalid(2)(people, month)

    accepted("mixed_utf8_and_windows_1252_lines", "fokus_16_25/2029/2019-03.csv", mixed_encodings, 4, 4)
    accepted("formula_cells_with_calculated_values", "fokus_16_25/2031/2019-03.xlsx", with_cached_formulas, 4, 4)
    accepted("utf16_unicode_text_from_excel", "fokus_16_25/2026/2019-03.txt", utf16, 4, 4)
    accepted("xlsx_named_csv", "ostra_sodertorn/0136/2014-05.csv",
             lambda p, m: xlsx_bytes(HEADER, rows_for(p, month_start(m))), 4, 4)
    accepted("title_row_above_header", "ostra_sodertorn/0192/2014-05.csv", title_row, 4, 4)
    accepted("exactly_20_percent_invalid_rows", "ostra_sodertorn/0138/2014-05.csv", twenty_percent, 10, 8,
             persons=10)
    return cases

"""The corpus of mapping files (kartläggning) a municipality should not send, and the odd ones it
may send, with the verdict each must get (as corpus.py is for enrolment files).

Every case is a file for the Våga Välja Väg instrument (tests/bad_inputs/mapping.py) with its own
month and its own synthetic persons. The cases are delivered straight into a data home as mapping
deliveries (mapping.deliver_mapping), so they test the reader, pseudonymisation and the generated
suite whatever the inbox's routing does.

- `rejected`: the whole file is rejected with a reason code;
- `accepted`: odd, but readable; its rows count (`rows_accepted` of `rows_total`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from tests.bad_inputs.builders import (
    HEADER as ENROLMENT_HEADER,
    Person,
    PersonFactory,
    csv_bytes,
    rows_for,
    xlsx_bytes,
)
from tests.bad_inputs.mapping import HEADER, PROJECT, mapping_row


@dataclass
class MappingCase:
    name: str
    file_name: str
    content: bytes
    outcome: str                       # rejected, accepted
    reason: str | None                 # reason code of the file verdict
    message: tuple[str, ...]           # fragments the message must contain
    persons: list[Person] = field(default_factory=list)
    rows_total: int | None = None
    rows_accepted: int | None = None
    project_id: str = PROJECT
    kommunkod: str = "0482"

    @property
    def month(self) -> str:
        return self.file_name[:7]


def _months(count: int) -> list[str]:
    return [f"{2009 + (7 + k) // 12:04d}-{(7 + k) % 12 + 1:02d}" for k in range(count)]


def build_mapping_corpus(factory: PersonFactory | None = None) -> list[MappingCase]:
    """Every case, each with its own month (2009-08 on) and persons."""
    factory = factory or PersonFactory()
    months = iter(_months(40))
    cases: list[MappingCase] = []

    def case(name: str, build, outcome: str, reason: str | None, *message: str, persons: int = 5,
             suffix: str = ".csv", rows_total: int | None = None, rows_accepted: int | None = None, **extra) -> None:
        month = next(months)
        people = factory.take(1990, persons)
        cases.append(MappingCase(name, f"{month}{suffix}", build(people, month), outcome, reason, message, people,
                                 rows_total, rows_accepted, **extra))

    def rows(people: list[Person], month: str, **changed: str) -> list[list[str]]:
        return [mapping_row(p, f"{month}-10", **changed) for p in people]

    def without(column: str):
        def build(people, month):
            keep = [i for i, h in enumerate(HEADER) if h != column]
            return csv_bytes([HEADER[i] for i in keep], [[row[i] for i in keep] for row in rows(people, month)])
        return build

    # --- cannot be read as a mapping file -------------------------------------------------------
    case("mapping_zero_byte_file", lambda p, m: b"", "rejected", "FIL_TOM", "Filen är tom", persons=0)
    case("mapping_header_only", lambda p, m: csv_bytes(HEADER, []), "rejected", "FIL_TOM",
         "rubrikrad men inga deltagarrader", persons=0)
    case("mapping_truncated_xlsx", lambda p, m: xlsx_bytes(HEADER, rows(p, m))[:1500], "rejected", "FIL_OLASBAR",
         "Excel-filen kan inte öppnas", suffix=".xlsx")
    case("mapping_without_besvarad_column", without("besvarad"), "rejected", "KOLUMN_SAKNAS",
         "Obligatorisk kolumn saknas: besvarad", "Lägg till kolumnen")
    case("mapping_without_personnummer_column", without("personnummer"), "rejected", "KOLUMN_SAKNAS",
         "Obligatorisk kolumn saknas: personnummer")
    case("mapping_required_question_column_missing", without("gymnasiet"), "rejected", "FRAGA_SAKNAS",
         "obligatoriska frågan gymnasiet", "Lägg till kolumnen")
    case("enrolment_list_sent_as_a_mapping", lambda p, m: csv_bytes(ENROLMENT_HEADER, rows_for(p, f"{m}-01")),
         "rejected", "KOLUMN_SAKNAS", "Obligatorisk kolumn saknas: besvarad")
    case("mapping_question_column_twice", lambda p, m: csv_bytes([*HEADER, "Boende"], [[*r, r[4]] for r in rows(p, m)]),
         "rejected", "KOLUMN_DUBBEL", "Kolumnen 'boende' förekommer två gånger", "Ta bort den ena")
    case("mapping_pipe_delimited", lambda p, m: csv_bytes(HEADER, rows(p, m), separator="|"), "rejected",
         "KOLUMN_SAKNAS", "lodstreck (|)", "Använd semikolon (;), komma (,) eller tabb")
    case("mapping_for_a_project_without_an_instrument", lambda p, m: csv_bytes(HEADER, rows(p, m)), "rejected",
         "KARTLAGGNING_SAKNAS", "projektet uvas har ingen kartläggning", project_id="uvas", kommunkod="2380")

    # --- readable, but too many rows wrong (lib/thresholds.MAX_REJECTED_SHARE) --------------------
    case("mapping_labels_instead_of_codes", lambda p, m: csv_bytes(HEADER, rows(p, m, boende="Eget boende")),
         "rejected", "FOR_MANGA_FEL", "5 av 5 rader (100%)", rows_total=5, rows_accepted=0)
    case("mapping_scale_answered_in_words", lambda p, m: csv_bytes(HEADER, rows(p, m, paverka_vardag="Ganska mycket")),
         "rejected", "FOR_MANGA_FEL", "5 av 5 rader (100%)", rows_total=5, rows_accepted=0)
    case("mapping_scale_of_another_range", lambda p, m: csv_bytes(HEADER, rows(p, m, delaktig_samhalle="10")),
         "rejected", "FOR_MANGA_FEL", "5 av 5 rader (100%)", rows_total=5, rows_accepted=0)
    case("mapping_answered_after_the_month",
         lambda p, m: csv_bytes(HEADER, [mapping_row(x, f"{int(m[:4]) + 1}{m[4:]}-10") for x in p]),
         "rejected", "FOR_MANGA_FEL", "5 av 5 rader (100%)", rows_total=5, rows_accepted=0)
    case("mapping_dates_in_us_format",
         lambda p, m: csv_bytes(HEADER, [mapping_row(x, f"{m[5:]}/10/{m[:4]}") for x in p]),
         "rejected", "FOR_MANGA_FEL", "5 av 5 rader (100%)", rows_total=5, rows_accepted=0)
    case("mapping_every_occasion_twice", lambda p, m: csv_bytes(HEADER, rows(p, m) + rows(p, m)),
         "rejected", "FOR_MANGA_FEL", "10 av 10 rader (100%)", rows_total=10, rows_accepted=0)
    case("mapping_more_than_20_percent_required_answers_blank",
         lambda p, m: csv_bytes(HEADER, rows(p[:3], m, forening="") + rows(p[3:], m)),
         "rejected", "FOR_MANGA_FEL", "3 av 10 rader (30%)", persons=10, rows_total=10, rows_accepted=0)

    # --- odd, but accepted -------------------------------------------------------------------------
    def title_row_cp1252(people, month):
        header = ["Personnr", "Svarsdatum", *HEADER[2:]]
        return ("Kartläggning Flen;;\r\n".encode("cp1252")
                + csv_bytes(header, rows(people, month), encoding="cp1252", newline="\r\n"))

    def excel_serial_dates(people, month):
        serial = (dt.date(int(month[:4]), int(month[5:]), 10) - dt.date(1899, 12, 30)).days
        return xlsx_bytes(HEADER, [[x.ten, serial, *mapping_row(x)[2:]] for x in people])

    case("mapping_windows_1252_title_row_and_aliases", title_row_cp1252, "accepted", None, rows_total=4,
         rows_accepted=4, persons=4)
    case("mapping_xlsx_with_excel_serial_dates", excel_serial_dates, "accepted", None, suffix=".xlsx", rows_total=4,
         rows_accepted=4, persons=4)
    case("mapping_optional_questions_left_out", without("paverkar_halsan"), "accepted", None, rows_total=4,
         rows_accepted=4, persons=4)
    case("mapping_exactly_20_percent_rows_rejected",
         lambda p, m: csv_bytes(HEADER, rows(p[:2], m, boende="Slott") + rows(p[2:], m)),
         "accepted", None, persons=10, rows_total=10, rows_accepted=8)
    return cases

"""How each municipality's case system exports its list: format, headers, spellings.

Real deliveries differ per municipality (one exports from its case system to Windows-1252 CSV,
another keeps an Excel sheet where personnummer became numbers) but stay the same from month
to month. A style is fixed per (project, municipality) by its position in the configuration,
so it does not depend on the seed or on which projects are generated.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from orchestration.projects.config import ProjectsConfig

# fmt -> (separator, encoding); xlsx has neither.
FORMATS: dict[str, tuple[str | None, str | None]] = {
    "csv-utf8": (",", "utf-8"),
    "csv-cp1252": (";", "cp1252"),
    "csv-utf8-bom": (";", "utf-8-sig"),
    "csv-tab": ("\t", "utf-8"),
    "xlsx": (None, None),
}

# Canonical code -> how a person types it in Swedish (lower case); the renderings below vary case.
SWEDISH_SPELLING = {
    "HITTA": "hitta", "MOTA": "möta", "AKTIVERA": "aktivera", "MATCHA": "matcha",
    "ARBETE": "arbete", "STUDIER": "studier", "PRAKTIK": "praktik",
    "ARBETSMARKNADSPROGRAM": "arbetsmarknadsprogram", "ANNAN_INSATS": "annan insats",
    "OHALSA": "ohälsa", "FLYTT": "flytt", "AVBROTT": "avbrott", "EJ_KONTAKT": "ej kontakt",
    "OVRIGT": "övrigt", "FELREGISTRERING": "felregistrering",
    "SVERIGE": "sverige", "EU_EES": "EU-EES", "TREDJELAND": "tredjeland", "OKAND": "okänd",
    "JA": "ja", "NEJ": "nej", "ISCED_0_2": "ISCED 0-2", "ISCED_3_4": "ISCED 3-4", "ISCED_5_8": "ISCED 5-8",
    "ARBETSLOS_AF": "arbetslös AF", "INAKTIV": "inaktiv", "STUDERAR": "studerar", "ARBETAR": "arbetar",
    "UTAN_SYSSELSATTNING": "utan sysselsättning", "EJ_NADD": "ej nådd",
    "K": "k", "M": "m", "X": "x",
}
CODE_CASES = ("upper", "title_sv", "lower_sv", "upper_sv", "title_ascii")

# Columns whose values are codes of the contract (rendered in the style's case).
CODE_COLUMNS = frozenset({
    "fas", "avslutsorsak", "kon", "fodelseregion", "funktionsnedsattning", "utbildningsniva",
    "sysselsattning_start", "forsorjningsstod_start", "forsorjningsstod_slut", "uppfoljning_6m",
})
DATE_COLUMNS = frozenset({"startdatum", "slutdatum"})
UNKNOWN = ""  # canonical name of a column the contract does not know


@dataclass(frozen=True)
class DeliveryStyle:
    name: str
    fmt: str
    columns: tuple[tuple[str, str], ...]  # (canonical column or UNKNOWN, header as written)
    pnr_form: str
    date_form: str  # iso, compact, datetime, excel (xlsx date cells)
    code_case: str  # one of CODE_CASES, or 'mixed' (varies cell by cell)
    file_name: str  # template with {month}, {project}, {kommunkod}
    kon_blank_rate: float = 0.0
    quote_all: bool = False
    line_ending: str = "\n"
    trailing_blank_column: bool = False
    trailing_blank_lines: int = 0
    extra_sheet: bool = False

    @property
    def separator(self) -> str | None:
        return FORMATS[self.fmt][0]

    @property
    def encoding(self) -> str | None:
        return FORMATS[self.fmt][1]

    @property
    def canonical_columns(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    def has(self, column: str) -> bool:
        return column in self.canonical_columns

    def file_name_for(self, project_id: str, kommunkod: str, month: str) -> str:
        return self.file_name.format(project=project_id, kommunkod=kommunkod, month=month)


def render_code(code: str, case: str, rng: random.Random) -> str:
    """A canonical code as this municipality types it ('Möta', 'möta', 'MÖTA', 'Mota', 'MOTA')."""
    if case == "mixed":
        case = rng.choice(CODE_CASES)
    spelled = SWEDISH_SPELLING.get(code, code.lower())
    if case == "upper":
        return code
    if case == "lower_sv":
        return spelled.lower()
    if case == "upper_sv":
        return spelled.upper()
    if case == "title_sv":
        return spelled[:1].upper() + spelled[1:]
    if case == "title_ascii":
        return code.capitalize()
    raise ValueError(f"unknown code case {case!r}")


def render_date(day: dt.date, form: str) -> str | dt.date:
    if form == "iso":
        return day.isoformat()
    if form == "compact":
        return day.strftime("%Y%m%d")
    if form == "datetime":
        return f"{day.isoformat()} 00:00:00"
    if form == "excel":
        return day
    raise ValueError(f"unknown date form {form!r}")


_OUTCOME_COLUMNS = ("fodelseregion", "funktionsnedsattning", "utbildningsniva", "sysselsattning_start",
                    "forsorjningsstod_start", "forsorjningsstod_slut", "uppfoljning_6m")

CATALOGUE: tuple[DeliveryStyle, ...] = (
    # 0: a case system's plain export, canonical names.
    DeliveryStyle(
        "canonical-utf8", "csv-utf8",
        (("personnummer", "personnummer"), ("anonym_id", "anonym_id"), ("kon", "kon"),
         ("startdatum", "startdatum"), ("fas", "fas"), ("slutdatum", "slutdatum"),
         ("avslutsorsak", "avslutsorsak"), *((c, c) for c in _OUTCOME_COLUMNS)),
        pnr_form="twelve", date_form="iso", code_case="upper", file_name="{month}.csv"),
    # 1: Excel's "CSV (semikolonavgränsad)", Swedish headers, names and contacts, notes.
    DeliveryStyle(
        "excel-semicolon-sv", "csv-cp1252",
        (("personnummer", "Personnummer"), ("fornamn", "Förnamn"), ("efternamn", "Efternamn"),
         ("kon", "Kön"), ("startdatum", "Inskrivningsdatum"), ("fas", "Steg"),
         ("slutdatum", "Avslutsdatum"), ("avslutsorsak", "Avslutsanledning"),
         ("fodelseregion", "Födelseregion"), ("utbildningsniva", "Utbildningsnivå"),
         ("sysselsattning_start", "Sysselsättning_start"), ("forsorjningsstod_start", "Försörjningsstöd_start"),
         ("forsorjningsstod_slut", "Försörjningsstöd_slut"), ("telefon", "Telefon"), ("epost", "E-post"),
         ("adress", "Adress"), ("anteckning", "Anteckning"), ("anonym_id", "Anonym_id")),
        pnr_form="ten_dash", date_form="iso", code_case="title_sv", file_name="leverans {month}.csv",
        kon_blank_rate=0.2, line_ending="\r\n"),
    # 2: an Excel sheet: personnummer typed as numbers, real date cells, short names.
    DeliveryStyle(
        "excel-sheet-numbers", "xlsx",
        (("personnummer", "pnr"), ("startdatum", "startdatum"), ("fas", "fas"), ("kon", "kon"),
         ("slutdatum", "slutdatum"), ("avslutsorsak", "avslutsorsak"),
         ("forsorjningsstod_start", "forsorjningsstod_start"), ("forsorjningsstod_slut", "forsorjningsstod_slut"),
         ("sysselsattning_start", "sysselsattning_start"), ("uppfoljning_6m", "uppfoljning_6m"),
         ("anonym_id", "anonym_id")),
        pnr_form="number", date_form="excel", code_case="upper", file_name="{project}_{kommunkod}_{month}.xlsx",
        kon_blank_rate=0.3),
    # 3: Excel's "CSV UTF-8" (with BOM), alias headers, compact dates, lower-case codes.
    DeliveryStyle(
        "excel-utf8-bom-alias", "csv-utf8-bom",
        (("personnummer", "PersonNr"), ("anonym_id", "Anonym ID"), ("startdatum", "Inskrivningsdag"),
         ("slutdatum", "Utskrivningsdatum"), ("avslutsorsak", "Avslutsanledning"), ("fas", "Steg"),
         ("kon", "KÖN"), ("fodelseregion", "Födelseland"), ("funktionsnedsattning", "Funktionsnedsättning"),
         ("utbildningsniva", "Utbildningsnivå"), ("forsorjningsstod_start", "Försörjningsstöd"),
         ("forsorjningsstod_slut", "Försörjningsstöd slut"), ("uppfoljning_6m", "Uppföljning 6m"),
         ("anteckning", "Notering"), (UNKNOWN, "Enhet")),
        pnr_form="twelve_dash", date_form="compact", code_case="lower_sv",
        file_name="Deltagarlista {kommunkod} {month}.csv", line_ending="\r\n"),
    # 4: a tab-separated text export with padded headers and date-times.
    DeliveryStyle(
        "tab-export", "csv-tab",
        (("personnummer", " Personnummer "), ("kon", "Kön"), ("startdatum", "Startdatum "), ("fas", "Fas"),
         ("slutdatum", "Slutdatum"), ("avslutsorsak", "Avslutsorsak"), ("fodelseregion", "Fodelseregion"),
         ("sysselsattning_start", "Sysselsattning start"), ("forsorjningsstod_start", "Forsorjningsstod_start"),
         ("forsorjningsstod_slut", "Forsorjningsstod_slut"), ("anonym_id", "Anonym_id")),
        pnr_form="twelve_space", date_form="datetime", code_case="title_ascii",
        file_name="export {kommunkod} {month}.csv", kon_blank_rate=0.1),
    # 5: a hand-kept Excel list with names, text dates and an instructions sheet behind it.
    DeliveryStyle(
        "excel-sheet-names", "xlsx",
        (("personnummer", "Personnummer"), ("fornamn", "Förnamn"), ("efternamn", "Efternamn"), ("kon", "Kön"),
         ("startdatum", "Inskrivningsdatum"), ("fas", "Steg"), ("slutdatum", "Avslutsdatum"),
         ("avslutsorsak", "Avslutsanledning"), ("funktionsnedsattning", "Funktionsnedsättning"),
         ("fodelseregion", "Födelseregion"), ("uppfoljning_6m", "Uppföljning_6m"), ("telefon", "Mobil"),
         ("anteckning", "Kommentar"), ("anonym_id", "Anonym_id")),
        pnr_form="ten_dash", date_form="iso", code_case="upper_sv", file_name="Deltagare {month}.xlsx",
        kon_blank_rate=0.1, extra_sheet=True),
    # 6: semicolon CSV with a blank trailing column and line, codes typed every which way.
    DeliveryStyle(
        "semicolon-mixed", "csv-cp1252",
        (("personnummer", "Person_nr"), ("kon", "Kön"), ("startdatum", "Startdatum"), ("fas", "Steg"),
         ("slutdatum", "Slutdatum"), ("avslutsorsak", "Avslutsorsak"), ("utbildningsniva", "Utbildningsnivå"),
         ("sysselsattning_start", "Sysselsättning_start"), ("forsorjningsstod_start", "Försörjningsstöd_start"),
         ("forsorjningsstod_slut", "Försörjningsstöd_slut"), ("uppfoljning_6m", "Uppföljning_6m"),
         ("anonym_id", "anonym_id")),
        pnr_form="ten", date_form="compact", code_case="mixed", file_name="{month} {project}.csv",
        kon_blank_rate=0.25, line_ending="\r\n", trailing_blank_column=True, trailing_blank_lines=2),
    # 7: a full export with every column quoted, identifiers, notes, kommunkod and rapportmanad.
    DeliveryStyle(
        "quoted-full", "csv-utf8",
        (("kommunkod", "kommunkod"), ("rapportmanad", "rapportmanad"), ("personnummer", "personnummer"),
         ("anonym_id", "anonym_id"), ("fornamn", "fornamn"), ("efternamn", "efternamn"), ("kon", "kon"),
         ("telefon", "telefon"), ("epost", "epost"), ("adress", "adress"), ("startdatum", "startdatum"),
         ("fas", "fas"), ("slutdatum", "slutdatum"), ("avslutsorsak", "avslutsorsak"),
         *((c, c) for c in _OUTCOME_COLUMNS), ("anteckning", "anteckning")),
        pnr_form="ten_dash", date_form="iso", code_case="upper", file_name="{project}_{kommunkod}_{month}.csv",
        kon_blank_rate=0.15, quote_all=True, line_ending="\r\n"),
)


def assign_styles(config: ProjectsConfig) -> dict[tuple[str, str], DeliveryStyle]:
    """(project_id, kommunkod) -> style, cycling through the catalogue in configuration order."""
    pairs = [(p.id, code) for p in config.projects for code in p.municipalities]
    return {pair: CATALOGUE[position % len(CATALOGUE)] for position, pair in enumerate(pairs)}

"""The delivery template: `leveransmall.xlsx` and `leveransmall.csv` for a project's municipalities.

A municipality that keeps its participants in Excel gets a workbook the reader takes as it is:
the participant list on the first worksheet (`Deltagare`, the only sheet the reader reads), its
header in row 1 with Swedish names the contract accepts, a drop-down of the contract's own codes
(imported from lib/contract.py, never restated) on every code column, dates formatted as dates
and personnummer cells formatted as text so Excel keeps a leading zero. The sheets after it,
`Instruktioner` and `Exempel`, are never read. The example rows are made up, and their
personnummer have the birth number 000, which Skatteverket never issues: no real person has one
(and a row rule that refuses 000 would reject one copied into the participant list by mistake).

Asked only for what the follow-up uses: no names, contact details or free text (the reader
still accepts those columns from a municipality that adds them, and keeps them out of the
warehouse), nor kommunkod or rapportmånad, which the folder and the file name already give.
The CSV template is the same header, semicolon-separated in UTF-8 with BOM, as Excel in
Swedish writes and reads it.

A pure module: the CLI (`followup template`) checks the project and wires it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from orchestration.lib.contract import AVSLUTSORSAK, FAS, KON, OPTIONAL_CODES
from orchestration.lib.thresholds import DEADLINE_DAY, MAX_REJECTED_SHARE
from orchestration.privacy.personnummer import luhn_check_digit
from orchestration.projects.config import Project, load_kommuner
from orchestration.reporting.workbook import fit_height

WORKBOOK_NAME = "leveransmall.xlsx"
CSV_NAME = "leveransmall.csv"
PARTICIPANT_SHEET, INSTRUCTION_SHEET, EXAMPLE_SHEET = "Deltagare", "Instruktioner", "Exempel"
DATA_ROWS = 2000            # rows under the header that carry the formats and drop-downs
TEXT_FORMAT = "@"
DATE_FORMAT = "yyyy-mm-dd"
EXAMPLE_SERIAL = "000"     # a birth number Skatteverket never issues: no real person has it
LIST_FORMULA_LIMIT = 255    # characters Excel allows in a list validation written in the cell
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
EXAMPLE_FILL = PatternFill("solid", fgColor="FFF2CC")


@dataclass(frozen=True)
class TemplateColumn:
    """A column of the template: the contract's name, the header shown, what goes in it."""

    column: str
    header: str
    required: bool
    kind: str                           # "personnummer", "date", "code" or "text"
    description: str
    codes: tuple[str, ...] = ()


COLUMNS: tuple[TemplateColumn, ...] = (
    TemplateColumn("personnummer", "Personnummer", True, "personnummer",
                   "Personnummer eller samordningsnummer, ÅÅÅÅMMDD-NNNN (eller ÅÅMMDD-NNNN). Lämna tomt bara för en "
                   "deltagare som inte samtyckt till registrering med personnummer: fyll då i Anonym id."),
    TemplateColumn("startdatum", "Startdatum", True, "date", "Dagen deltagaren skrevs in, ÅÅÅÅ-MM-DD."),
    TemplateColumn("fas", "Fas", True, "code", "Fasen deltagaren är i vid månadens slut.", FAS),
    TemplateColumn("kon", "Kön", False, "code",
                   "Lämna tomt för att ta könet från personnumret.", KON),
    TemplateColumn("slutdatum", "Slutdatum", False, "date",
                   "Dagen inskrivningen avslutades, ÅÅÅÅ-MM-DD. Tomt = pågår."),
    TemplateColumn("avslutsorsak", "Avslutsorsak", False, "code",
                   "Måste fyllas i när Slutdatum är ifyllt.", AVSLUTSORSAK),
    *(TemplateColumn(column, header, False, "code", description, OPTIONAL_CODES[column])
      for column, header, description in (
          ("fodelseregion", "Födelseregion", "Var deltagaren är född."),
          ("funktionsnedsattning", "Funktionsnedsättning", "Om deltagaren har en funktionsnedsättning."),
          ("utbildningsniva", "Utbildningsnivå", "Högsta avslutade utbildning vid inskrivningen."),
          ("sysselsattning_start", "Sysselsättning start", "Sysselsättning vid inskrivningen."),
          ("forsorjningsstod_start", "Försörjningsstöd start", "Försörjningsstöd vid inskrivningen."),
          ("forsorjningsstod_slut", "Försörjningsstöd slut", "Försörjningsstöd när inskrivningen avslutades."),
          ("uppfoljning_6m", "Uppföljning 6m", "Sysselsättning sex månader efter avslut."),
      )),
    TemplateColumn("anonym_id", "Anonym id", False, "text",
                   "Kommunens eget löpnummer för en deltagare utan personnummer (samma nummer varje månad)."),
)

CODE_MEANINGS = {
    "HITTA": "Hitta: kontakt söks med den unga", "MOTA": "Möta: första samtal, kartläggning",
    "AKTIVERA": "Aktivera: insatser pågår", "MATCHA": "Matcha: mot arbete, studier eller praktik",
    "K": "Kvinna", "M": "Man", "X": "Annat/ickebinär",
    "ARBETE": "Arbete", "STUDIER": "Studier", "PRAKTIK": "Praktik",
    "ARBETSMARKNADSPROGRAM": "Arbetsmarknadsprogram",
    "ANNAN_INSATS": "Lämnad till annan insats (vård, socialtjänst, Arbetsförmedlingen)",
    "OHALSA": "Ohälsa", "FLYTT": "Flytt", "AVBROTT": "Avbrott", "EJ_KONTAKT": "Ingen kontakt",
    "OVRIGT": "Övrigt", "FELREGISTRERING": "Registrerad av misstag (raden räknas inte alls)",
    "SVERIGE": "Sverige", "EU_EES": "EU/EES utom Sverige", "TREDJELAND": "Land utanför EU/EES",
    "OKAND": "Okänt", "JA": "Ja", "NEJ": "Nej",
    "ISCED_0_2": "Förgymnasial (ISCED 0–2)", "ISCED_3_4": "Gymnasial (ISCED 3–4)",
    "ISCED_5_8": "Eftergymnasial (ISCED 5–8)",
    "ARBETSLOS_AF": "Arbetslös, inskriven på Arbetsförmedlingen",
    "INAKTIV": "Varken inskriven på Arbetsförmedlingen eller studerande", "STUDERAR": "Studerar",
    "ARBETAR": "Arbetar", "UTAN_SYSSELSATTNING": "Utan sysselsättning", "EJ_NADD": "Gick inte att nå",
}


@dataclass(frozen=True)
class Template:
    """What the template is made for: a project, and a municipality of it or any."""

    project: Project
    kommunkod: str | None = None

    @property
    def folder(self) -> str:
        return f"inbox/{self.project.id}/{self.kommunkod or '<kommunkod>'}/"

    @property
    def file_name_suggestion(self) -> str:
        return f"{self.project.id}_{self.kommunkod or '<kommunkod>'}_ÅÅÅÅ-MM.xlsx"


class TemplateError(ValueError):
    """A municipality that is not the project's; the message is for the person who asked."""


def template_for(project: Project, kommunkod: str | None = None) -> Template:
    """The template of a project, for one of its municipalities when `kommunkod` is given."""
    if kommunkod is None:
        return Template(project)
    kommunkod = kommunkod.strip()
    names = load_kommuner()
    if kommunkod not in project.municipalities:
        listed = ", ".join(f"{code} ({names.get(code, '?')})" for code in project.municipalities)
        shape = "" if kommunkod.isdigit() and len(kommunkod) == 4 else " En kommunkod är fyra siffror, t.ex. 0136."
        raise TemplateError(f"kommunkoden '{kommunkod}' hör inte till projektet '{project.id}'.{shape} "
                            f"Projektets kommuner: {listed}.")
    return Template(project, kommunkod)


def write_template(template: Template, out_dir: Path | str) -> tuple[Path, Path]:
    """Write leveransmall.xlsx and leveransmall.csv into `out_dir`; their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    workbook_path, csv_path = out / WORKBOOK_NAME, out / CSV_NAME
    build_workbook(template).save(workbook_path)
    csv_path.write_bytes(csv_header_bytes())
    return workbook_path, csv_path


def csv_header_bytes() -> bytes:
    """The CSV template: the header row only (any row under it would be read as a participant)."""
    return ("\ufeff" + ";".join(c.header for c in COLUMNS) + "\r\n").encode("utf-8")


def build_workbook(template: Template) -> Workbook:
    workbook = Workbook()
    participants = workbook.active
    participants.title = PARTICIPANT_SHEET
    _participant_sheet(participants)
    _instruction_sheet(workbook.create_sheet(INSTRUCTION_SHEET), template)
    _example_sheet(workbook.create_sheet(EXAMPLE_SHEET), template.project)
    for sheet in workbook.worksheets:
        _printed_one_page_wide(sheet)
    return workbook


def _printed_one_page_wide(sheet) -> None:
    """Printed as a case worker reads it on screen: landscape A4, every column on the page (not
    split over pages column by column), as tall as it takes, the header row on every page."""
    sheet.page_setup.orientation = sheet.ORIENTATION_LANDSCAPE
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    if sheet.title == PARTICIPANT_SHEET:
        sheet.print_title_rows = "1:1"


def list_formula(codes: tuple[str, ...]) -> str:
    formula = '"' + ",".join(codes) + '"'
    if len(formula) > LIST_FORMULA_LIMIT:
        raise ValueError(f"the codes {codes} are too long for a list validation written in the cell")
    return formula


def _header_row(sheet: Worksheet, row: int) -> None:
    for index, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=row, column=index, value=column.header)
        cell.font, cell.fill = Font(bold=True), HEADER_FILL
        sheet.column_dimensions[get_column_letter(index)].width = max(14, len(column.header) + 4)


def _participant_sheet(sheet: Worksheet) -> None:
    """Header in row 1 and nothing else: every non-blank row below it is a participant."""
    _header_row(sheet, 1)
    sheet.freeze_panes = "A2"
    last = DATA_ROWS + 1
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        number_format = {"personnummer": TEXT_FORMAT, "text": TEXT_FORMAT, "date": DATE_FORMAT}.get(column.kind)
        if number_format:
            for row in range(2, last + 1):
                sheet.cell(row=row, column=index).number_format = number_format
        if column.codes:
            validation = DataValidation(type="list", formula1=list_formula(column.codes), allow_blank=True,
                                        showErrorMessage=True, errorTitle="Okänd kod",
                                        error=f"Välj en kod ur listan för {column.header}.",
                                        showInputMessage=True, promptTitle=column.header,
                                        prompt=column.description[:255])
            validation.add(f"{letter}2:{letter}{last}")
            sheet.add_data_validation(validation)


def _instruction_sheet(sheet: Worksheet, template: Template) -> None:
    sheet.column_dimensions["A"].width = 26
    sheet.column_dimensions["B"].width = 100
    for row in _instruction_rows(template):
        sheet.append(row)
        cells = sheet[sheet.max_row]
        if len(row) == 1 and row[0]:
            cells[0].font = Font(bold=True, size=12)
        for cell in cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        # wrapped text gets its rows' height set here: LibreOffice does not fit a row on opening
        fit_height(sheet, sheet.max_row, [(value, sheet.column_dimensions[letter].width)
                                          for value, letter in zip(row, "AB")], bold=False)


def _instruction_rows(template: Template) -> list[tuple[str, ...]]:
    project = template.project
    kommun = (f"{template.kommunkod} {load_kommuner().get(template.kommunkod, '')}".strip()
              if template.kommunkod else "den kommun ni levererar för (fyra siffror, t.ex. 0136)")
    rows: list[tuple[str, ...]] = [
        (f"Leveransmall – {project.name}",),
        ("Projekt", f"{project.id} ({project.owner})" if project.owner else project.id),
        ("Kommun", kommun),
        ("Projektperiod", f"{project.period_start:%Y-%m-%d} – {project.period_end:%Y-%m-%d}"),
        ("Målgrupp", f"unga {project.age_min}–{project.age_max} år som varken arbetar eller studerar"),
        ("",),
        ("Så fyller ni i",),
        ("Fliken Deltagare", "Fyll i deltagarna på fliken Deltagare, en rad per inskrivning, från rad 2. Bara den "
                             "fliken läses in, och den måste vara den första fliken. Ändra inte rubrikraden och "
                             "skriv inget annat på fliken."),
        ("Alla inskrivningar", f"Varje månad skickas hela listan: alla inskrivningar sedan projektstart "
                               f"({project.period_start:%Y-%m-%d}) till och med sista dagen i rapportmånaden, både "
                               "pågående och avslutade. En deltagare som skrivs in igen efter ett avslut får en ny "
                               "rad. En rad som försvinner ur en senare leverans räknas som borttagen."),
        ("Koder", "Kodkolumnerna har en rullgardinslista: välj koden ur listan. Koderna och vad de betyder står "
                  "nedan."),
        ("Datum", "Skriv datum som ÅÅÅÅ-MM-DD, t.ex. 2024-03-15."),
        ("Personnummer", "Cellerna är formaterade som text, så att en nolla först behålls (födda 2000–2009). "
                         "Klistra in som värden (Klistra in special → Värden) så att formatet finns kvar."),
        ("Inga namn", "Skriv inte namn, adress, telefonnummer eller andra uppgifter om deltagarna än kolumnerna "
                      "i mallen."),
        ("Fliken Exempel", "Visar påhittade exempelrader. Den läses aldrig in. Kopiera inte exemplen till fliken "
                           "Deltagare: de är påhittade (löpnumret 000 i deras personnummer delas aldrig ut)."),
        ("",),
        ("Leverans",),
        ("Filnamn", f"Filnamnet måste innehålla rapportmånaden som ÅÅÅÅ-MM, t.ex. {template.file_name_suggestion} "
                    f"för den månad leveransen gäller. Utan månad i filnamnet läses filen inte in."),
        ("Sista dag", f"Senast den {DEADLINE_DAY}:e i månaden efter rapportmånaden (leveransen för mars senast "
                      f"den {DEADLINE_DAY} april)."),
        ("Var filen ska ligga", f"I inkorgens mapp {template.folder} (samordningsförbundet berättar hur ni lämnar "
                                "filen: delad mapp eller säker filöverföring). Skicka den aldrig med vanlig e-post: "
                                "den innehåller personnummer."),
        ("Rättelse", "En ny fil för samma månad ersätter den tidigare. Skicka då hela listan igen, rättad."),
        ("Avvisade rader", "En rad med ogiltigt personnummer, saknat eller felaktigt startdatum, okänd fas eller "
                           "slutdatum utan avslutsorsak avvisas, och ni får veta rad, kolumn och vad som ska rättas. "
                           f"Avvisas mer än {MAX_REJECTED_SHARE * 100:.0f} % av raderna avvisas hela filen."),
        ("Även CSV", "Ni kan också skicka listan som CSV (semikolonavgränsad) med samma rubrikrad, t.ex. "
                     "leveransmall.csv."),
        ("",),
        ("Kolumner",),
        ("Kolumn", "Vad som ska stå där"),
    ]
    for column in COLUMNS:
        status = "obligatorisk" if column.required else "frivillig"
        codes = f" Koder: {', '.join(column.codes)}." if column.codes else ""
        rows.append((column.header, f"({status}) {column.description}{codes}"))
    rows += [("",), ("Koder",), ("Kod", "Betydelse")]
    seen: set[str] = set()
    for column in COLUMNS:
        for code in column.codes:
            if code not in seen:
                seen.add(code)
                rows.append((code, CODE_MEANINGS.get(code, code)))
    return rows


def _example_sheet(sheet: Worksheet, project: Project) -> None:
    """Made-up rows under a banner, on a sheet the reader never reads."""
    banner = sheet.cell(row=1, column=1, value="EXEMPEL – påhittade uppgifter. Den här fliken läses aldrig in. "
                                                 "Fyll i deltagarna på fliken Deltagare.")
    banner.font, banner.fill = Font(bold=True, color="9C5700"), EXAMPLE_FILL
    _header_row(sheet, 2)
    for values in example_rows(project):
        sheet.append([values.get(column.column) for column in COLUMNS])
        for index, column in enumerate(COLUMNS, start=1):
            cell = sheet.cell(row=sheet.max_row, column=index)
            cell.fill = EXAMPLE_FILL
            if column.kind == "date":
                cell.number_format = DATE_FORMAT
            elif column.kind in ("personnummer", "text"):
                cell.number_format = TEXT_FORMAT


def example_personnummer(birth: dt.date) -> str:
    """ÅÅÅÅMMDD-000C: a correct check digit on the birth number 000, which is never issued."""
    nine = f"{birth:%y%m%d}{EXAMPLE_SERIAL}"
    return f"{birth:%Y%m%d}-{EXAMPLE_SERIAL}{luhn_check_digit(nine)}"


def example_rows(project: Project) -> list[dict[str, object]]:
    """Four made-up enrolments in the project's period: ongoing, ended in work, in Aktivera, and
    one without personnummer (an anonym id instead)."""
    start = project.period_start
    young = dt.date(start.year - project.age_min - 1, 3, 14)
    older = dt.date(start.year - project.age_max + 4, 11, 2)
    return [
        {"personnummer": example_personnummer(young), "startdatum": start + dt.timedelta(days=14), "fas": "MOTA",
         "kon": "K", "fodelseregion": "SVERIGE", "funktionsnedsattning": "NEJ", "utbildningsniva": "ISCED_0_2",
         "sysselsattning_start": "INAKTIV", "forsorjningsstod_start": "JA"},
        {"personnummer": example_personnummer(older), "startdatum": start + dt.timedelta(days=3), "fas": "MATCHA",
         "slutdatum": start + dt.timedelta(days=80), "avslutsorsak": "ARBETE", "fodelseregion": "EU_EES",
         "funktionsnedsattning": "OKAND", "utbildningsniva": "ISCED_3_4", "sysselsattning_start": "ARBETSLOS_AF",
         "forsorjningsstod_start": "JA", "forsorjningsstod_slut": "NEJ", "uppfoljning_6m": "ARBETE"},
        {"personnummer": example_personnummer(young.replace(day=20)), "startdatum": start + dt.timedelta(days=30),
         "fas": "AKTIVERA", "kon": "M", "sysselsattning_start": "STUDERAR"},
        {"startdatum": start + dt.timedelta(days=40), "fas": "HITTA", "anonym_id": "A-1"},
    ]


"""Why a delivered file cannot be read, said to the municipality that sent it.

Every failure is an ExtractReadError with a reason code and a message in Swedish for the
municipality that names the row (its line in the file, or its row in the worksheet) and says
what to do. No message repeats a cell's value: a cell may hold a personnummer. The messages for a
file over a limit (orchestration/ingest/limits.py) are built here, and only here is a setting
named: in the sentence for the region's coordinator. On its own so that the CSV and XLSX readers
and reader.py share the error and its wording without importing each other.
"""

from __future__ import annotations

from orchestration.ingest.limits import ENVIRONMENT, MB, ReadLimits


class ExtractReadError(ValueError):
    """The file as a whole cannot be used; `code` is the reason code, the message plain Swedish."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def number_text(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def megabytes_text(size: int) -> str:
    return f"{size / MB:,.1f}".replace(",", " ").replace(".", ",")


def _coordinator(field_name: str, need: str = "Är filen verkligen så stor") -> str:
    """The sentence for the region's coordinator, the only place a setting is named."""
    return f"{need} kan regionens samordnare höja gränsen (inställningen {ENVIRONMENT[field_name][0]})."


def file_too_large(size: int, limits: ReadLimits) -> ExtractReadError:
    return ExtractReadError(
        "FIL_FOR_STOR",
        f"Filen är {megabytes_text(size)} MB, men filer över {megabytes_text(limits.max_file_bytes)} MB "
        "läses inte. En månadsfil med deltagarlistan är sällan större än några MB. Kontrollera att filen bara "
        "innehåller projektets deltagare, en rad per inskrivning under en enda rubrikrad, och skicka den igen. "
        + _coordinator("max_file_bytes"),
    )


def too_many_rows(number: int, limits: ReadLimits) -> ExtractReadError:
    return ExtractReadError(
        "FOR_MANGA_RADER",
        f"Filen har fler än {number_text(limits.max_rows)} deltagarrader, som är det högsta antal som läses: rad "
        f"{number} är deltagarrad nummer {number_text(limits.max_rows + 1)}. En månadsfil har sällan mer än några "
        "tusen rader. Kontrollera att filen bara innehåller projektets deltagare och en enda rubrikrad (inte "
        "flera listor eller månader efter varandra), och skicka den igen. " + _coordinator("max_rows"),
    )


def too_many_columns(number: int, column: int, limits: ReadLimits, xlsx: bool) -> ExtractReadError:
    name = f" ({_column_letters(column)})" if xlsx and column <= 16384 else ""
    return ExtractReadError(
        "FOR_MANGA_KOLUMNER",
        f"Rad {number} har innehåll i kolumn {number_text(column)}{name}, men högst "
        f"{number_text(limits.max_columns)} kolumner läses. Deltagarlistan har ett tjugotal kolumner. Ta bort kolumner och innehåll som inte hör "
        "till listan (även långt ut till höger), och skicka filen igen. "
        + _coordinator("max_columns", need="Behövs verkligen fler kolumner"),
    )


def line_too_long(number: int, limits: ReadLimits, across_lines: bool = False, xlsx: bool = False) -> ExtractReadError:
    limit = number_text(limits.max_line_chars)
    if across_lines:
        found = (f"den och raderna efter den blir ett enda fält på över {limit} tecken. Oftast är det ett "
                 "citattecken (\") som aldrig stängs, så att resten av filen hamnar i ett fält.")
    elif xlsx:
        found = f"dess celler har tillsammans över {limit} tecken."
    else:
        found = f"den har över {limit} tecken."
    return ExtractReadError(
        "RAD_FOR_LANG",
        f"Rad {number} är för lång: {found} En deltagarrad har sällan mer än några hundra tecken. Rätta raden "
        "och skicka filen igen. " + _coordinator("max_line_chars", need="Behövs verkligen så långa rader"),
    )


def xlsx_too_large(size: int, limit: int, what: str, field_name: str) -> ExtractReadError:
    return ExtractReadError(
        "XLSX_FOR_STOR",
        f"Excel-filen är för stor uppackad: {what} är {megabytes_text(size)} MB, men högst "
        f"{megabytes_text(limit)} MB läses. En .xlsx-fil är packad, och en månadsfil med deltagarlistan är sällan mer än några MB uppackad. "
        "Kontrollera att arbetsboken bara innehåller deltagarlistan (inga andra stora kalkylblad, bilder eller "
        "inbäddade filer), eller spara listan som CSV, och skicka igen. " + _coordinator(field_name),
    )


def _column_letters(column: int) -> str:
    from openpyxl.utils.cell import get_column_letter

    return get_column_letter(column)

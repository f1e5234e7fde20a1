"""How much of a delivered file is read: the one owner of the reading limits.

A real monthly extract holds a few hundred to a few thousand rows and is under ~5 MB. The
defaults are far above that, and low enough that a file at every limit is read in about two
minutes within the reader's memory on the 2 GiB machine a run gets (the measurements behind
them: BENCHMARKS.md, "Reading limits"). A file over a limit is rejected whole by the reader
(orchestration/privacy/extract/reader.py), with its own reason code; for a file that really is that
large, the region's coordinator raises the limit through the environment variable beside it.

`read_seconds` and `reader_memory_bytes` bound the reading process from outside (a watchdog
around the reader); the reader itself uses `reader_memory_bytes` only to size the parts of an
XLSX that openpyxl holds whole in memory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

MB = 1024 * 1024

# Not configurable: no workbook a municipality saves comes near them, and each bounds what a
# crafted file can make the reader hold (BENCHMARKS.md, "Reading limits").
MAX_XLSX_PARTS = 10_000          # zip members; a workbook has ~10-50 (zipfile keeps ~0.5 KB per member)
MAX_XLSX_OBJECT_ELEMENTS = 200_000   # in styles, workbook, relationships, content types: openpyxl
                                     # makes ~600 bytes of objects of each (Excel allows 64 000 formats)
MAX_XML_DEPTH = 64               # element nesting; Excel writes under 15
MAX_XML_TOKEN_BYTES = MB         # bytes between two '<' (a tag or a text); a full Excel cell is < 200 KB
# ElementTree holds up to ~25 bytes per byte of the XML openpyxl parses whole (flat empty
# elements, measured): these parts may take half of the reader's memory.
XML_HELD_BYTES_PER_BYTE = 25

# field -> (environment variable, unit the variable is written in, what that unit is called)
ENVIRONMENT: dict[str, tuple[str, int, str]] = {
    "max_file_bytes": ("FOLLOWUP_MAX_FILE_MB", MB, "megabyte"),
    "max_rows": ("FOLLOWUP_MAX_ROWS", 1, "rader"),
    "max_columns": ("FOLLOWUP_MAX_COLUMNS", 1, "kolumner"),
    "max_line_chars": ("FOLLOWUP_MAX_LINE_CHARS", 1, "tecken"),
    "max_xlsx_uncompressed_bytes": ("FOLLOWUP_MAX_XLSX_MB", MB, "megabyte"),
    "read_seconds": ("FOLLOWUP_READ_TIMEOUT_S", 1, "sekunder"),
    "reader_memory_bytes": ("FOLLOWUP_READER_MEMORY_MB", MB, "megabyte"),
}


@dataclass(frozen=True)
class ReadLimits:
    """What the reader accepts; sizes in bytes, `read_seconds` in seconds."""

    max_file_bytes: int = 100 * MB               # the file as delivered
    max_rows: int = 200_000                      # non-blank data rows
    max_columns: int = 200                       # up to the last non-blank cell of any row
    max_line_chars: int = 100_000                # a CSV line or record, an XLSX row's text
    max_xlsx_uncompressed_bytes: int = 256 * MB  # declared sizes of an XLSX's zip members, summed
    read_seconds: float = 600                    # enforced around the reader, not by it
    reader_memory_bytes: int = 1024 * MB         # enforced around the reader, not by it

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"ReadLimits.{item.name} måste vara ett positivt tal, inte {value!r}.")

    @property
    def max_xlsx_held_bytes(self) -> int:
        """What the XLSX parts openpyxl parses whole (shared strings, styles, workbook, content
        types) may add up to, uncompressed: half the reader's memory at the measured cost."""
        return self.reader_memory_bytes // 2 // XML_HELD_BYTES_PER_BYTE

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ReadLimits:
        """The defaults, with each limit whose variable is set (and not blank) taken from it."""
        environ = os.environ if environ is None else environ
        values: dict[str, int | float] = {}
        for name, (variable, unit, unit_name) in ENVIRONMENT.items():
            text = environ.get(variable, "").strip()
            if text:
                values[name] = _parse(variable, text, unit_name, allow_fraction=name == "read_seconds") * unit
        return cls(**values)


def _parse(variable: str, text: str, unit_name: str, allow_fraction: bool) -> int | float:
    try:
        value: int | float = float(text) if allow_fraction else int(text)
    except ValueError:
        value = 0
    if not value > 0 or value == float("inf"):
        kind = "ett positivt tal" if allow_fraction else "ett positivt heltal"
        raise ValueError(f"Miljövariabeln {variable} måste vara {kind} ({unit_name}), inte {text!r}.")
    return value

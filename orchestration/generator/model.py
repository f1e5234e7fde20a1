"""The record of what the generator simulated and wrote: the truth tests compare against.

It always describes the corrected data (the newest snapshot of every municipality), so a
test can compute the KPIs the pipeline should reach without reading a single file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.generator.identities import phone_forms
from orchestration.generator.personnummer import written_forms


@dataclass
class SimulatedPerson:
    """One young person. An anonymous participant has no personnummer (None) and never moves."""

    index: int
    personnummer: str | None  # canonical 12 digits YYYYMMDDNNNC, None when anonymous
    is_samordningsnummer: bool
    kon: str  # 'K'/'M' from the sex digit (for anonymous persons: drawn, never written as a number)
    birth_date: dt.date
    fornamn: str
    efternamn: str
    telefon: str
    epost: str
    adress: str
    anonymous: bool = False
    project_id: str = ""
    kon_reported: str = ""  # what the kon column says when filled: kon, or 'X' for a few

    def __post_init__(self) -> None:
        if not self.kon_reported:
            self.kon_reported = self.kon


@dataclass
class SimulatedEnrolment:
    """One spell in one municipality, as the newest snapshot of that municipality shows it.

    fas_by_month runs from the start month to the end month (or the last generated month);
    later snapshots repeat the last fas. attributes holds the canonical codes of the optional
    columns this municipality writes; forsorjningsstod_slut and uppfoljning_6m are the values
    shown once the enrolment has ended, resp. ended six months before the month end.
    """

    person_index: int
    project_id: str
    kommunkod: str
    startdatum: dt.date
    slutdatum: dt.date | None
    avslutsorsak: str | None
    fas_by_month: dict[str, str]
    counts: bool
    anonym_id: str | None = None
    index: int = 0
    kon_written: str | None = None  # the kon cell (canonical), None when blank
    attributes: dict[str, str] = field(default_factory=dict)
    anteckning: str | None = None

    def fas_at(self, month: str) -> str | None:
        """Phase at the end of month: None before the start month, the last phase after the end."""
        if month in self.fas_by_month:
            return self.fas_by_month[month]
        earlier = [m for m in self.fas_by_month if m <= month]
        return self.fas_by_month[max(earlier)] if earlier else None


@dataclass
class InvalidRow:
    """An extra junk row (not a simulated person) the pipeline must reject."""

    project_id: str
    kommunkod: str
    reporting_month: str
    file_path: Path
    row_number: int  # 1-based line (CSV) or sheet row (XLSX); the header is row 1
    reason_code: str
    written_value: str
    identifiers: tuple[str, ...] = ()  # names and contacts written on the junk row


@dataclass
class WrittenFile:
    path: Path
    project_id: str
    kommunkod: str
    reporting_month: str
    fmt: str  # csv-utf8, csv-utf8-bom, csv-cp1252, csv-tab, xlsx
    separator: str | None  # None for xlsx
    n_rows: int  # data rows, junk rows included
    mtime: float
    superseded: bool = False
    expected_rejected: bool = False
    encoding: str | None = None
    headers: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()  # the canonical contract column of each header (or '' if unknown)
    pnr_form: str = ""


@dataclass
class MappingRow:
    """One data row of a mapping file (kartläggning) and what the pipeline must make of it.

    answers holds what counts of the row: a code (single choice, yes/no), a list of codes
    (multiple choice), an int (scale), a number, or the free text as written; an answer the
    pipeline drops with a warning is not in it. rejected is the reason code of a rejected row.
    """

    project_id: str
    kommunkod: str
    reporting_month: str
    file_path: Path
    row_number: int  # 1-based line (CSV) or sheet row (XLSX); the header is row 1
    person_index: int | None  # None for a junk row (no simulated person)
    besvarad: dt.date | None  # the date written in the row (after the month for one bad row)
    kon: str  # K, M, X or OKAND: the kon cell, else from the personnummer
    age_at_answer: int | None  # None for an anonymous person
    answers: dict[str, Any] = field(default_factory=dict)
    rejected: str | None = None
    warnings: tuple[tuple[str, str], ...] = ()  # (warning code, question id)
    identifiers: tuple[str, ...] = ()  # a junk row's written personnummer, names and contacts


@dataclass
class MappingFile:
    path: Path
    project_id: str
    kommunkod: str
    reporting_month: str
    folder: str  # the folder's name as written ('kartlaggning', 'Kartläggning')
    fmt: str  # csv-cp1252, csv-utf8, xlsx
    separator: str | None
    encoding: str | None
    n_rows: int
    mtime: float
    superseded: bool = False  # a later file for the same month replaces it
    headers: tuple[str, ...] = ()


@dataclass
class MappingSimulation:
    """The mapping deliveries of the projects with an instrument: persons mapped only (not
    enrolled), every row written, every file, and which mapped persons are also enrolled."""

    persons: list[SimulatedPerson] = field(default_factory=list)
    rows: list[MappingRow] = field(default_factory=list)
    files: list[MappingFile] = field(default_factory=list)
    enrolled: list[int] = field(default_factory=list)  # person indexes mapped and enrolled in the same project

    def in_force(self) -> set[Path]:
        return {f.path for f in self.files if not f.superseded}

    def counted_rows(self, project_id: str | None = None) -> list[MappingRow]:
        """The rows whose answers count: accepted, in a file in force, and for an occasion
        (project, person, besvarad) in several files the one of the latest reporting month."""
        in_force = self.in_force()
        order = {f.path: (f.reporting_month, f.mtime) for f in self.files}
        chosen: dict[tuple[str, int, dt.date], MappingRow] = {}
        for row in self.rows:
            if row.rejected or row.file_path not in in_force or row.person_index is None:
                continue
            if project_id is not None and row.project_id != project_id:
                continue
            assert row.besvarad is not None
            key = (row.project_id, row.person_index, row.besvarad)
            if key not in chosen or order[row.file_path] > order[chosen[key].file_path]:
                chosen[key] = row
        return sorted(chosen.values(), key=lambda r: (r.project_id, r.person_index, r.besvarad))


@dataclass
class Simulation:
    seed: int
    persons: list[SimulatedPerson]
    enrolments: list[SimulatedEnrolment]
    invalid_rows: list[InvalidRow]
    files: list[WrittenFile]
    scale: float = 1.0
    mapping: MappingSimulation = field(default_factory=MappingSimulation)

    def any_person(self, index: int) -> SimulatedPerson:
        """An enrolled or a mapped-only person."""
        for person in self.persons:
            if person.index == index:
                return person
        return next(p for p in self.mapping.persons if p.index == index)

    def person(self, index: int) -> SimulatedPerson:
        return self._by_index()[index]

    def _by_index(self) -> dict[int, SimulatedPerson]:
        return {p.index: p for p in self.persons}

    def identifiers(self) -> set[str]:
        """Every direct identifier written, in every form a leak scan would look for."""
        found: set[str] = set()
        for person in [*self.persons, *self.mapping.persons]:
            if person.anonymous:
                continue
            assert person.personnummer is not None
            found |= written_forms(person.personnummer)
            found |= {person.fornamn, person.efternamn, f"{person.fornamn} {person.efternamn}"}
            found |= phone_forms(person.telefon)
            found |= {person.epost, person.adress}
        for row in self.invalid_rows:
            digits = "".join(ch for ch in row.written_value if ch.isdigit())
            found.add(row.written_value)
            if len(digits) == 12:
                found |= written_forms(digits)
            elif digits:
                found.add(digits)
            found |= set(row.identifiers)
        for mapping_row in self.mapping.rows:  # a junk row: its 12-digit number, names and phone forms
            found |= set(mapping_row.identifiers)
            for value in mapping_row.identifiers:
                if value.isdigit() and len(value) == 12:
                    found |= written_forms(value)
        return found

    def to_json(self, path: Path | str) -> None:
        """Write the whole record (dates ISO, paths as text), deterministic for a seed."""
        Path(path).write_text(json.dumps(_plain(self), ensure_ascii=False, indent=1, sort_keys=True),
                              encoding="utf-8")

    @classmethod
    def from_json(cls, path: Path | str) -> Simulation:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            seed=data["seed"],
            scale=data.get("scale", 1.0),
            persons=[SimulatedPerson(**{**p, "birth_date": dt.date.fromisoformat(p["birth_date"])})
                     for p in data["persons"]],
            enrolments=[_enrolment_from_plain(e) for e in data["enrolments"]],
            invalid_rows=[InvalidRow(**{**r, "file_path": Path(r["file_path"]),
                                        "identifiers": tuple(r["identifiers"])})
                          for r in data["invalid_rows"]],
            files=[WrittenFile(**{**f, "path": Path(f["path"]), "headers": tuple(f["headers"]),
                                  "columns": tuple(f["columns"])}) for f in data["files"]],
            mapping=_mapping_from_plain(data.get("mapping") or {}),
        )


def _mapping_from_plain(data: dict[str, Any]) -> MappingSimulation:
    def day(value: str | None) -> dt.date | None:
        return dt.date.fromisoformat(value) if value else None

    return MappingSimulation(
        persons=[SimulatedPerson(**{**p, "birth_date": dt.date.fromisoformat(p["birth_date"])})
                 for p in data.get("persons", [])],
        rows=[MappingRow(**{**r, "file_path": Path(r["file_path"]), "besvarad": day(r["besvarad"]),
                            "warnings": tuple(tuple(w) for w in r["warnings"]),
                            "identifiers": tuple(r["identifiers"])}) for r in data.get("rows", [])],
        files=[MappingFile(**{**f, "path": Path(f["path"]), "headers": tuple(f["headers"])})
               for f in data.get("files", [])],
        enrolled=list(data.get("enrolled", [])),
    )


def _enrolment_from_plain(data: dict[str, Any]) -> SimulatedEnrolment:
    end = data["slutdatum"]
    return SimulatedEnrolment(**{**data, "startdatum": dt.date.fromisoformat(data["startdatum"]),
                                 "slutdatum": dt.date.fromisoformat(end) if end else None})


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value

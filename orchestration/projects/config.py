"""Load and check the projects configuration (shared/spec/projects-config.md v1).

A file that breaks the rules is refused at start with a message naming the project and field,
because a wrong period or municipality silently skews every KPI a funder receives.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from orchestration.lib import kpis
from orchestration.lib.contract import AVSLUTSORSAK
from orchestration.projects.instrument import Instrument, parse_instrument

BUNDLED_CONFIG = Path(str(resources.files("orchestration.projects") / "example_projects.yaml"))
KOMMUNER_CSV = Path(str(resources.files("orchestration.projects") / "kommuner.csv"))

class ConfigError(ValueError):
    """The projects configuration breaks a rule; the message is meant for the person who wrote it."""


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    owner: str
    funder: str
    period_start: dt.date
    period_end: dt.date
    age_min: int
    age_max: int
    municipalities: tuple[str, ...]
    activity_outcomes: tuple[str, ...]
    targets: dict[str, float] = field(default_factory=dict)
    target_population: int | None = None
    min_count: int = 5
    mapping: Instrument | None = None      # `kartlaggning:`: the project maps or inventories its target group

    def months(self) -> list[str]:
        """Every reporting month (YYYY-MM) of the project period."""
        months = []
        year, month = self.period_start.year, self.period_start.month
        while (year, month) <= (self.period_end.year, self.period_end.month):
            months.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months


@dataclass(frozen=True)
class ProjectsConfig:
    projects: tuple[Project, ...]
    source: Path

    def project(self, project_id: str) -> Project:
        for project in self.projects:
            if project.id == project_id:
                return project
        known = ", ".join(p.id for p in self.projects)
        raise ConfigError(f"Okänt projekt '{project_id}'. Konfigurerade projekt: {known}.")


def load_kommuner() -> dict[str, str]:
    """Kommunkod → kommun name, SCB's list valid 2026."""
    with KOMMUNER_CSV.open(encoding="utf-8") as handle:
        return {row["kommunkod"]: row["kommun"] for row in csv.DictReader(handle)}


def load_projects(path: Path | str | None = None) -> ProjectsConfig:
    """Read and check a projects file; raise ConfigError with a precise message when it is wrong."""
    source = Path(path) if path else BUNDLED_CONFIG
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: filen finns inte. Ange en befintlig projektfil med --config.")
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: filen är inte giltig YAML ({error}).")
    if not isinstance(document, dict) or not isinstance(document.get("projects"), list):
        raise ConfigError(f"{source}: filen ska ha en lista 'projects:' på översta nivån.")
    kommuner = load_kommuner()
    projects: list[Project] = []
    seen: set[str] = set()
    for index, entry in enumerate(document["projects"], start=1):
        project = _parse_project(entry, index, kommuner, source)
        if project.id in seen:
            raise ConfigError(f"{source}: projekt '{project.id}', fält id: id används redan av ett annat projekt.")
        seen.add(project.id)
        projects.append(project)
    if not projects:
        raise ConfigError(f"{source}: inga projekt är konfigurerade.")
    return ProjectsConfig(tuple(projects), source)


def _parse_project(entry: Any, index: int, kommuner: dict[str, str], source: Path) -> Project:
    if not isinstance(entry, dict):
        raise ConfigError(f"{source}: projekt nr {index} ska vara en mappning med fält som id, name, period.")
    project_id = str(entry.get("id", ""))
    where = f"{source}: projekt '{project_id or index}'"

    def fail(field_name: str, message: str) -> ConfigError:
        return ConfigError(f"{where}, fält {field_name}: {message}")

    if not re.fullmatch(r"[a-z0-9_]+", project_id):
        raise fail("id", "ska bestå av a–z, 0–9 och _ (det är också inkorgens mappnamn).")
    for required in ("name", "period", "municipalities", "activity_outcomes"):
        if required not in entry:
            raise fail(required, "saknas.")

    period = entry["period"] or {}
    start, end = _date(period.get("start"), fail, "period.start"), _date(period.get("end"), fail, "period.end")
    if end <= start:
        raise fail("period.end", f"{end} ligger inte efter period.start {start}.")

    age = entry.get("age") or {"min": 15, "max": 29}
    try:
        age_min, age_max = int(age["min"]), int(age["max"])
    except (KeyError, TypeError, ValueError):
        raise fail("age", "ska vara {min: <heltal>, max: <heltal>}.")
    if not 0 <= age_min <= age_max <= 120:
        raise fail("age", f"min {age_min} och max {age_max} är inget rimligt åldersintervall.")

    municipalities = entry["municipalities"]
    if not isinstance(municipalities, list) or not municipalities:
        raise fail("municipalities", "ska vara en lista med kommunkoder som text, t.ex. [\"2380\"].")
    codes: list[str] = []
    for code in municipalities:
        if not isinstance(code, str):
            raise fail("municipalities", f"{code!r} ska skrivas som text inom citattecken (\"0136\" behåller sin nolla).")
        if code not in kommuner:
            raise fail("municipalities", f"'{code}' är ingen kommunkod i SCB:s lista.")
        if code in codes:
            raise fail("municipalities", f"'{code}' ({kommuner[code]}) står två gånger.")
        codes.append(code)

    outcomes = entry["activity_outcomes"]
    if not isinstance(outcomes, list) or not outcomes:
        raise fail("activity_outcomes", "ska vara en lista med avslutsorsaker, t.ex. [ARBETE, STUDIER].")
    for code in outcomes:
        if code not in AVSLUTSORSAK or code == "FELREGISTRERING":
            raise fail("activity_outcomes", f"'{code}' är ingen avslutsorsak som kan räknas som aktivitet.")

    targets: dict[str, float] = {}
    for kpi, value in (entry.get("targets") or {}).items():
        _check_target(str(kpi), value, fail)
        targets[kpi] = float(value)

    population = entry.get("target_population")
    if population is not None and (not isinstance(population, int) or population <= 0):
        raise fail("target_population", f"{population!r} ska vara ett positivt heltal.")

    suppression = entry.get("suppression") or {}
    min_count = suppression.get("min_count", 5)
    if not isinstance(min_count, int) or min_count < 1:
        raise fail("suppression.min_count", f"{min_count!r} ska vara ett heltal ≥ 1.")

    mapping = parse_instrument(entry["kartlaggning"], fail) if entry.get("kartlaggning") is not None else None

    return Project(
        id=project_id,
        name=str(entry["name"]),
        owner=str(entry.get("owner", "")),
        funder=str(entry.get("funder", "")),
        period_start=start,
        period_end=end,
        age_min=age_min,
        age_max=age_max,
        municipalities=tuple(codes),
        activity_outcomes=tuple(outcomes),
        targets=targets,
        target_population=population,
        min_count=min_count,
        mapping=mapping,
    )


def _check_target(kpi: str, value: Any, fail: Any) -> None:
    """A target is a number for a KPI the catalogue (lib/kpis.py) lets a project set one for; a
    share's is a share, 0 to 1."""
    field_name = f"targets.{kpi}"
    known = kpis.kpi(kpi)
    if known is None:
        raise fail(field_name, "är inget nyckeltal som kan ha ett mål (se docs/konfiguration.md: "
                               + ", ".join(sorted(kpis.targetable())) + ").")
    if not known.targetable:
        because = ("räknas fram ur målet för participants och ställs inte in själv" if known.kind == "target"
                   else "är ett nyckeltal som inte kan ha ett mål")
        raise fail(field_name, f"{known.label} {because}. Nyckeltal som kan ha ett mål: "
                               + ", ".join(sorted(kpis.targetable())) + " (se docs/konfiguration.md).")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise fail(field_name, f"{value!r} är inget tal.")
    if known.kind == "share" and not 0 <= value <= 1:
        raise fail(field_name, f"{value} är en andel och ska ligga mellan 0 och 1.")
    if known.kind != "share" and value < 0:
        raise fail(field_name, f"{value} får inte vara negativt.")


def _date(value: Any, fail: Any, field_name: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise fail(field_name, f"{value!r} är inget datum på formen ÅÅÅÅ-MM-DD.")

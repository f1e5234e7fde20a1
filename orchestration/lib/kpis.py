"""The KPI catalogue: every KPI with its kind, what its numerator and denominator count, where it
exists, whether a project may set a target for it, and its Swedish name and definition.

The catalogue is data, `dbt/seeds/kpi_catalogue.csv`, and this is its one reader on the Python
side. dbt loads the same file as `marts.kpi_catalogue` and makes `marts.kpi_values` from it, one
row of the catalogue becoming that KPI's rows there; the configuration check, the disclosure
control, the targets, the workbook, the reports and the charts ask here. Adding a KPI is a row in
the file (and, if it counts something new, that count as a column of int_kpi_counts).

The file is in the dbt project, found as transform/dbt_build.py finds the project: beside this
package in the source tree, where the editable install that `make` does leaves it.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

CATALOGUE_CSV = Path(__file__).resolve().parents[2] / "dbt" / "seeds" / "kpi_catalogue.csv"

KINDS = ("count", "share", "days", "target")
EVERY_GROUP, PROJECT_TOTAL = "every_group", "project_total"
# What a KPI of the whole project may be taken over besides the counts of int_kpi_counts: the
# project's participants target and the size of its target population (kpi_values.sql). They
# are figures the project sets, not counts of persons.
PROJECT_QUANTITIES = frozenset({"participants_target", "target_population"})
# Which of numerator and denominator each kind has (kpi_values.sql makes its value from them).
_PARTS = {"count": (True, False), "share": (True, True), "days": (False, True), "target": (False, False)}
_PARTS_SAID = {"count": "a numerator (the count) and no denominator", "share": "a numerator and a denominator",
               "days": "a denominator (the persons the median is over) and no numerator",
               "target": "neither numerator nor denominator"}


@dataclass(frozen=True)
class Kpi:
    """One row of the catalogue."""

    id: str
    kind: str                  # count, share, days (a median in days) or target (the pace target)
    numerator: str | None      # the quantity counted: a column of int_kpi_counts (a count: itself)
    denominator: str | None    # a column of int_kpi_counts, or one of PROJECT_QUANTITIES
    scope: str                 # every_group, or project_total (ALL / total only)
    part_of: str | None        # the count this count is a part of (exited of participants, …)
    targetable: bool           # whether a project may set a target for it
    order: int
    label: str
    definition: str

    @property
    def shown_as(self) -> str:
        """How a figure of it is written: 'share' (a percentage), 'days' or 'count' (the pace
        target too: a number of persons)."""
        return self.kind if self.kind in ("share", "days") else "count"

    def counts_of_persons(self) -> tuple[str | None, str | None]:
        """The quantities its numerator and denominator are as counts of persons, None where a
        part is not one (absent, or a figure the project sets): what disclosure control protects."""
        def person_count(quantity: str | None) -> str | None:
            return None if quantity is None or quantity in PROJECT_QUANTITIES else quantity

        return person_count(self.numerator), person_count(self.denominator)


def read_catalogue(path: Path = CATALOGUE_CSV) -> tuple[Kpi, ...]:
    """The catalogue's KPIs in display order; a file that breaks its rules is refused, naming the row."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    kpis = tuple(sorted((_kpi(row, line, path) for line, row in enumerate(rows, start=2)), key=lambda k: k.order))
    ids = [kpi.id for kpi in kpis]
    for kpi in kpis:
        if ids.count(kpi.id) > 1:
            raise ValueError(f"{path}: the KPI {kpi.id} has more than one row")
        whole = next((other for other in kpis if other.id == kpi.part_of), None)
        if kpi.part_of is not None and (kpi.kind != "count" or whole is None or whole.kind != "count"):
            raise ValueError(f"{path}: {kpi.id} is part_of {kpi.part_of}: only a count can be part of another count")
    return kpis


def _kpi(row: dict[str, str], line: int, path: Path) -> Kpi:
    def text(column: str) -> str | None:
        value = (row.get(column) or "").strip()
        return value or None

    where = f"{path}, line {line}"
    kind, scope, targetable = text("kpi_type"), text("scope"), text("targetable")
    if kind not in KINDS:
        raise ValueError(f"{where}: kpi_type {kind!r} is none of {', '.join(KINDS)}")
    if scope not in (EVERY_GROUP, PROJECT_TOTAL):
        raise ValueError(f"{where}: scope {scope!r} is neither {EVERY_GROUP} nor {PROJECT_TOTAL}")
    if targetable not in ("true", "false"):
        raise ValueError(f"{where}: targetable {targetable!r} is neither true nor false")
    if not (text("kpi") and text("label") and text("definition") and (text("display_order") or "").isdigit()):
        raise ValueError(f"{where}: kpi, display_order, label and definition are required")
    parts = (text("numerator") is not None, text("denominator") is not None)
    if parts != _PARTS[kind]:
        raise ValueError(f"{where}: a KPI of kind {kind} has " + _PARTS_SAID[kind])
    return Kpi(id=text("kpi"), kind=kind, numerator=text("numerator"), denominator=text("denominator"),
               scope=scope, part_of=text("part_of"), targetable=targetable == "true",
               order=int(text("display_order")), label=text("label"), definition=text("definition"))


@functools.cache
def catalogue() -> dict[str, Kpi]:
    """KPI id → its row, in display order."""
    return {kpi.id: kpi for kpi in read_catalogue()}


def kpi(kpi_id: str) -> Kpi | None:
    return catalogue().get(kpi_id)


def of_kind(kind: str) -> tuple[str, ...]:
    """The ids of one kind, in display order."""
    return tuple(k.id for k in catalogue().values() if k.kind == kind)


def targetable() -> tuple[str, ...]:
    """The KPIs a project may set a target for, in display order."""
    return tuple(k.id for k in catalogue().values() if k.targetable)


def parts_of(whole: str) -> tuple[str, ...]:
    """The counts that add up to `whole`, in display order (the phases of active_participants)."""
    return tuple(k.id for k in catalogue().values() if k.part_of == whole)


def partitions() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(whole, its parts) as quantities (what the counts count) for every count made of others:
    participants = active_participants + exited, and so on."""
    kpis = catalogue()
    return tuple((kpis[whole].numerator, tuple(kpis[part].numerator for part in parts))
                 for whole in kpis if (parts := parts_of(whole)))


def shown_as(kpi_id: str) -> str:
    """'share', 'days' or 'count' (also for an id the catalogue does not know)."""
    found = kpi(kpi_id)
    return found.shown_as if found else "count"

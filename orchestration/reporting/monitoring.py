"""What a coordinator should be warned about each month: missing deliveries (slow pace, like every
target, is targets.py's); and per municipality and month, what was delivered and how good it was.

Plain functions on the warehouse; orchestration/reporting/checks.py shows them as asset checks.
Which delivery is in force comes from `landing.delivery_states` (lib/delivery_state.py), the
rule's one owner, which is current even when the run's dbt build failed. Missing deliveries and the
municipality-months are the monthly enrolment snapshots' (`extract_kind` INSKRIVNING) alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.mapping_contract import ENROLMENT
from orchestration.lib.thresholds import DEADLINE_DAY
from orchestration.lib.warehouse import connect
from orchestration.projects.config import ProjectsConfig, load_kommuner
from orchestration.reporting import status


@dataclass(frozen=True)
class MissingDelivery:
    project_id: str
    kommunkod: str
    reporting_month: str


def missing_deliveries(warehouse: Path, config: ProjectsConfig) -> list[MissingDelivery]:
    """Municipalities with no accepted delivery for their project's newest reporting month (enrolment
    snapshots: a mapping file has no monthly deadline and never stands in for one)."""
    with connect(warehouse, read_only=True) as db:
        delivered = db.execute(
            "select project_id, kommunkod, reporting_month from landing.delivery_states "
            "where in_force and extract_kind = ?", [ENROLMENT]).fetchall()
    missing = []
    for project in config.projects:
        months = {m for p, _, m in delivered if p == project.id and m in project.months()}
        if not months:
            continue
        newest = max(months)
        have = {k for p, k, m in delivered if p == project.id and m == newest}
        missing += [MissingDelivery(project.id, k, newest) for k in project.municipalities if k not in have]
    return missing


# --- Per municipality and month: what the Dagster partition view shows -----------------------

@dataclass(frozen=True)
class DeliveryQuality:
    """One received file's data quality, as the validate stage left it."""

    project_id: str
    kommunkod: str
    reporting_month: str
    arrival_seq: int
    file_name: str
    verdict: str | None
    verdict_reason: str | None
    rows_total: int
    rows_accepted: int
    rows_rejected: int
    rows_warned: int
    rejected_by_reason: dict[str, int]
    warned_by_reason: dict[str, int]
    unknown_columns: str | None

    def reasons(self) -> str:
        """`FEL_KOD 3, DATUM_FRAMTID 1; varning KOD_OKAND 2` — the few codes a coordinator acts on."""
        parts = [", ".join(f"{code} {n}" for code, n in self.rejected_by_reason.items())]
        if self.warned_by_reason:
            parts.append("varning " + ", ".join(f"{code} {n}" for code, n in self.warned_by_reason.items()))
        return "; ".join(p for p in parts if p) or "–"


def delivery_quality(warehouse: Path) -> dict[tuple[str, str, str, int], DeliveryQuality]:
    """Every delivery's counts and its rejected rows and warnings by reason code, keyed by
    (project, kommunkod, month, arrival_seq) — the identity status.py's Delivery carries."""
    with connect(warehouse, read_only=True) as db:
        deliveries = db.execute(
            "select delivery_id, project_id, kommunkod, reporting_month, coalesce(arrival_seq, 0), file_name, verdict, "
            "verdict_reason, coalesce(rows_total, 0), coalesce(rows_accepted, 0), coalesce(rows_rejected, 0), "
            "coalesce(rows_warned, 0), unknown_columns from landing.deliveries").fetchall()
        rejected = db.execute(
            "select delivery_id, reason_code, count(distinct row_number) from landing.quarantine_rows "
            "group by all order by 3 desc, 2").fetchall()
        warned = db.execute(
            "select delivery_id, warning_code, count(distinct row_number) from landing.row_warnings "
            "group by all order by 3 desc, 2").fetchall()
    by_delivery: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    for delivery_id, code, n in rejected:
        by_delivery.setdefault(delivery_id, ({}, {}))[0][code] = n
    for delivery_id, code, n in warned:
        by_delivery.setdefault(delivery_id, ({}, {}))[1][code] = n
    result = {}
    for delivery_id, project_id, kommunkod, month, seq, *rest, unknown in deliveries:
        reasons = by_delivery.get(delivery_id, ({}, {}))
        result[(project_id, kommunkod, month, seq)] = DeliveryQuality(
            project_id, kommunkod, month, seq, *rest, rejected_by_reason=reasons[0], warned_by_reason=reasons[1],
            unknown_columns=unknown)
    return result


@dataclass(frozen=True)
class MunicipalityMonth:
    """One municipality's month in one project: the delivery in force (or the rejected one when
    none counts) and a version that changes whenever a delivery for the month arrives or gets
    its verdict — what the Dagster partition `kommun × month` records."""

    project_id: str
    kommunkod: str
    kommun: str
    month: str
    in_force: bool
    verdict: str
    deliveries: int
    late: bool
    quality: DeliveryQuality | None
    version: str
    files: tuple[status.Delivery, ...] = ()          # every file of the month, in arrival order
    problems: tuple[status.Problem, ...] = ()         # what status lists for the month, action first

    @property
    def needs_action(self) -> bool:
        return any(p.needs_action for p in self.problems)

    @property
    def kommun_label(self) -> str:
        return f"{self.kommunkod} {self.kommun}".strip()


def municipality_months(warehouse: Path, config: ProjectsConfig, today: dt.date | None = None,
                        deadline_day: int = DEADLINE_DAY) -> list[MunicipalityMonth]:
    """Every (project, municipality, month) that has received a delivery, from status.py's matrix."""
    quality = delivery_quality(warehouse)
    kommuner = load_kommuner()
    result = []
    for project_status in status.delivery_status(warehouse, config, today=today, deadline_day=deadline_day):
        problems: dict[tuple[str, str], list[status.Problem]] = {}
        for problem in project_status.problems:
            problems.setdefault((problem.kommunkod, problem.month), []).append(problem)
        for (kommunkod, month), cell in sorted(project_status.cells.items(), key=lambda item: (item[0][1], item[0][0])):
            if not cell.deliveries:
                continue
            shown = cell.in_force or cell.deliveries[-1]
            fingerprint = [(d.arrival_seq, d.file_name, d.status, d.verdict, d.rows_rejected, d.rows_warned, d.state,
                            d.needs_action) for d in cell.deliveries] + [cell.is_late]
            result.append(MunicipalityMonth(
                project_status.project.id, kommunkod, kommuner.get(kommunkod, ""), month,
                in_force=cell.in_force is not None,
                verdict=shown.verdict or shown.status,
                deliveries=len(cell.deliveries),
                late=cell.is_late,
                quality=quality.get((shown.project_id, kommunkod, month, shown.arrival_seq)),
                version=hashlib.sha256(json.dumps(fingerprint, default=str).encode()).hexdigest()[:16],
                files=tuple(cell.deliveries),
                problems=tuple(problems.get((kommunkod, month), ())),
            ))
    return result


def warehouse_row_counts(warehouse: Path) -> dict[str, int]:
    """Rows per table of the landing and marts schemas (schema.table → rows)."""
    with connect(warehouse, read_only=True) as db:
        tables = db.execute(
            "select table_schema, table_name from information_schema.tables where table_schema in ('landing', 'marts') "
            "and table_type = 'BASE TABLE' order by 1, 2").fetchall()
        return {f"{schema}.{table}": db.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
                for schema, table in tables}

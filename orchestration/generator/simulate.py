"""generate_deliveries: simulate the projects and write every municipality's monthly files.

The returned Simulation is the independent truth the pipeline is tested against; nothing here
imports the pipeline's own parsing, pseudonymisation or validation.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from collections.abc import Sequence
from pathlib import Path

from orchestration.generator.mapping import generate_mappings
from orchestration.generator.model import InvalidRow, SimulatedEnrolment, SimulatedPerson, Simulation, WrittenFile
from orchestration.generator.months import add_months, month_end
from orchestration.generator.noise import (
    NoisePlan, corrected_name, flawed_copy, insert_junk_row, plan_noise, without_column,
)
from orchestration.generator.population import persons_for, simulate_project
from orchestration.generator.presentation import choose_written_values
from orchestration.generator.returning import SimulatedProject, returning_enrolments
from orchestration.generator.snapshot import Table, build_table
from orchestration.generator.styles import DeliveryStyle, assign_styles
from orchestration.generator.writers import write_table
from orchestration.projects.config import Project, ProjectsConfig

ARRIVAL_DAY = 5  # files arrive about the 5th of the following month
ARRIVAL_HOUR = 8
RESUBMISSION_DELAY = dt.timedelta(days=7)
REJECTED_FIX_DELAY = dt.timedelta(days=2)
NOISE_PROJECT = "uvas"


def generate_deliveries(config: ProjectsConfig, inbox: Path, *, seed: int = 2026, scale: float = 1.0,
                        project_ids: Sequence[str] | None = None, until_month: str | None = None,
                        noise: bool = True, mapping: bool | None = None) -> Simulation:
    """Write inbox/<project_id>/<kommunkod>/<file> for every configured municipality and month.

    Each project draws from its own random stream (seeded by seed and project id), so generating
    a subset of projects writes the same files for those projects as generating all of them -
    except the municipality files of a later project that persons of an earlier, also generated
    project return to (orchestration/generator/returning.py).

    With mapping, the projects with an instrument also get their mapping files in
    inbox/<project_id>/<kommunkod>/kartlaggning/ (orchestration/generator/mapping.py), drawn after
    and apart from the enrolment files, which are the same with or without them. By default
    (None) they are written when every project is generated, as the demo does; a subset of
    projects (a test's small inbox) gets them only when asked.
    """
    inbox = Path(inbox)
    styles = assign_styles(config)
    wanted = set(project_ids) if project_ids is not None else {p.id for p in config.projects}
    unknown = wanted - {p.id for p in config.projects}
    if unknown:
        raise ValueError(f"unknown project ids: {', '.join(sorted(unknown))}")
    simulation = Simulation(seed=seed, persons=[], enrolments=[], invalid_rows=[], files=[], scale=scale)
    noisy = _noise_project(config, wanted, scale) if noise else None
    simulated: list[SimulatedProject] = []
    for position, project in enumerate(config.projects):
        if project.id not in wanted:
            continue
        months = [m for m in project.months() if until_month is None or m <= until_month]
        if not months:
            continue
        persons, enrolments = _simulate(project, seed, scale, position, len(simulation.persons), months[-1], styles)
        simulation.persons += persons
        for enrolment in enrolments:
            enrolment.index = len(simulation.enrolments)
            simulation.enrolments.append(enrolment)
        simulated.append(SimulatedProject(position, project, months, persons, enrolments))
    returning = _returning(simulated, simulation, seed, scale, styles)
    for entry in simulated:
        visitors = returning.get(entry.project.id, [])
        _write_project(simulation, entry.project, entry.months, simulation.persons, entry.enrolments + visitors,
                       styles, inbox, seed, entry.position, noise=entry.project.id == noisy,
                       planned_from=entry.enrolments)
    if mapping or (mapping is None and project_ids is None):
        generate_mappings(simulation, config, inbox, seed=seed, scale=scale, wanted=wanted, until_month=until_month)
    return simulation


def _returning(simulated: list[SimulatedProject], simulation: Simulation, seed: int, scale: float,
               styles: dict[tuple[str, str], DeliveryStyle]) -> dict[str, list[SimulatedEnrolment]]:
    """Enrolments of persons who come back in a later project, recorded after everyone else's."""
    by_person = {p.index: p for p in simulation.persons}
    returning: dict[str, list[SimulatedEnrolment]] = {}
    added_by_project = returning_enrolments(simulated, seed, scale)
    for entry in simulated:
        enrolments = _as_delivered_by(added_by_project.get(entry.project.id, []), entry.months[-1])
        choose_written_values(enrolments, by_person, styles,
                              random.Random(f"{seed}:{entry.project.id}:returning:presentation"))
        for enrolment in enrolments:
            enrolment.index = len(simulation.enrolments)
            simulation.enrolments.append(enrolment)
        if enrolments:
            returning[entry.project.id] = enrolments
    return returning


def _noise_project(config: ProjectsConfig, wanted: set[str], scale: float) -> str | None:
    """The one project whose deliveries carry the noise: UVAS when generated, else the largest."""
    if NOISE_PROJECT in wanted:
        return NOISE_PROJECT
    candidates = [p for p in config.projects if p.id in wanted]
    return max(candidates, key=lambda p: (persons_for(p, scale), len(p.municipalities))).id if candidates else None


def _simulate(project: Project, seed: int, scale: float, position: int, first_index: int, last_month: str,
              styles: dict[tuple[str, str], DeliveryStyle]) -> tuple[list[SimulatedPerson], list[SimulatedEnrolment]]:
    persons, enrolments = simulate_project(project, random.Random(f"{seed}:{project.id}:population"),
                                           scale=scale, first_index=first_index, partition_digit=position)
    enrolments = _as_delivered_by(enrolments, last_month)
    kept = {e.person_index for e in enrolments}
    persons = [p for p in persons if p.index in kept]
    choose_written_values(enrolments, {p.index: p for p in persons}, styles,
                          random.Random(f"{seed}:{project.id}:presentation"))
    return persons, enrolments


def _as_delivered_by(enrolments: list[SimulatedEnrolment], last_month: str) -> list[SimulatedEnrolment]:
    """Cut the story at the last generated month, so the truth is what the newest files say."""
    last_day = month_end(last_month)
    kept = []
    for enrolment in enrolments:
        if enrolment.startdatum > last_day:
            continue
        if enrolment.slutdatum is not None and enrolment.slutdatum > last_day:
            enrolment.slutdatum, enrolment.avslutsorsak, enrolment.counts = None, None, True
            for column in ("forsorjningsstod_slut", "uppfoljning_6m"):
                enrolment.attributes.pop(column, None)
        enrolment.fas_by_month = {m: f for m, f in enrolment.fas_by_month.items() if m <= last_month}
        kept.append(enrolment)
    return kept


def arrival_time(month: str, minutes_after: int) -> float:
    """About the 5th of the following month, at a fixed time per municipality (UTC epoch)."""
    following = add_months(month, 1)
    moment = dt.datetime(int(following[:4]), int(following[5:7]), ARRIVAL_DAY, ARRIVAL_HOUR) + dt.timedelta(
        minutes=minutes_after)
    return float(calendar.timegm(moment.timetuple()))


def _write_project(simulation: Simulation, project: Project, months: list[str], persons: list[SimulatedPerson],
                   enrolments: list[SimulatedEnrolment], styles: dict[tuple[str, str], DeliveryStyle],
                   inbox: Path, seed: int, position: int, noise: bool,
                   planned_from: list[SimulatedEnrolment] | None = None) -> None:
    """Write the project's files; the noise is planned on its own persons (planned_from), so
    persons returning from another project change no file but their municipality's."""
    by_person = {p.index: p for p in persons}
    by_muni: dict[str, list[SimulatedEnrolment]] = {code: [] for code in project.municipalities}
    for enrolment in enrolments:
        by_muni[enrolment.kommunkod].append(enrolment)
    own_by_muni: dict[str, list[SimulatedEnrolment]] = {code: [] for code in project.municipalities}
    for enrolment in enrolments if planned_from is None else planned_from:
        own_by_muni[enrolment.kommunkod].append(enrolment)
    noise_rng = random.Random(f"{seed}:{project.id}:noise")
    plan = plan_noise(project, months, own_by_muni, styles, noise_rng) if noise else NoisePlan()
    for muni_position, code in enumerate(project.municipalities):
        style = styles[(project.id, code)]
        minutes_after = (muni_position * 37 + random.Random(f"{seed}:{project.id}:{code}").randint(0, 30)) % 600
        for month in months:
            render_rng = random.Random(f"{seed}:{project.id}:{code}:{month}")
            table = build_table(by_muni[code], by_person, style, month, code, render_rng)
            delivery = _Delivery(simulation, project, code, month, style, inbox / project.id / code,
                                 arrival_time(month, minutes_after))
            if (code, month) in plan.junk:
                row_number, written, identifiers = insert_junk_row(
                    table, project, month, code, style, noise_rng, position)
                simulation.invalid_rows.append(InvalidRow(
                    project.id, code, month, delivery.path_for(corrected=(code, month) == plan.resubmission),
                    row_number, "PNR_OGILTIG", written, identifiers))
            if (code, month) == plan.resubmission:
                delivery.write(flawed_copy(table, style, noise_rng, project.activity_outcomes), superseded=True)
                delivery.write(table, corrected=True, delay=RESUBMISSION_DELAY)
            elif (code, month) == plan.rejected and "fas" in table.columns:
                delivery.write(without_column(table, "fas"), expected_rejected=True)
                delivery.write(table, corrected=True, delay=REJECTED_FIX_DELAY)
            else:
                delivery.write(table)


class _Delivery:
    """One municipality-month: names, dates and records the file(s) written for it."""

    def __init__(self, simulation: Simulation, project: Project, kommunkod: str, month: str,
                 style: DeliveryStyle, folder: Path, mtime: float):
        self.simulation, self.project, self.kommunkod, self.month = simulation, project, kommunkod, month
        self.style, self.folder, self.mtime = style, folder, mtime

    def path_for(self, corrected: bool = False) -> Path:
        name = self.style.file_name_for(self.project.id, self.kommunkod, self.month)
        return self.folder / (corrected_name(name) if corrected else name)

    def write(self, table: Table, *, corrected: bool = False, superseded: bool = False,
              expected_rejected: bool = False, delay: dt.timedelta = dt.timedelta()) -> None:
        path = self.path_for(corrected)
        mtime = self.mtime + delay.total_seconds()
        write_table(path, table, self.style, mtime)
        self.simulation.files.append(WrittenFile(
            path=path, project_id=self.project.id, kommunkod=self.kommunkod, reporting_month=self.month,
            fmt=self.style.fmt, separator=self.style.separator, n_rows=len(table.rows), mtime=mtime,
            superseded=superseded, expected_rejected=expected_rejected, encoding=self.style.encoding,
            headers=tuple(table.headers), columns=tuple(table.columns), pnr_form=self.style.pnr_form,
        ))

"""The mistakes real deliveries contain, placed so that the truth stays unambiguous.

- junk rows with a wrong check digit (rejected row by row, never whole files: at most one per
  file and only in files with at least 15 valid rows, far below the 20 % file threshold);
- a resubmission: a flawed last-month file replaced by 'leverans <month> (rättad).csv';
- a file without the required 'fas' column (rejected whole), followed by a corrected file.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from orchestration.generator.identities import random_contact
from orchestration.generator.model import SimulatedEnrolment
from orchestration.generator.months import age_on, month_end, month_start
from orchestration.generator.personnummer import (
    format_personnummer, kon_from_personnummer, make_personnummer, random_serial, with_wrong_check_digit,
)
from orchestration.generator.snapshot import Table, render_row, visible_enrolments
from orchestration.generator.styles import DeliveryStyle, render_code
from orchestration.projects.config import Project

MIN_ROWS_FOR_JUNK = 15
EARLIER_JUNK_ROWS = 3
MAIN_MUNICIPALITY = "2380"  # Östersund, UVAS's largest: its last month always carries a junk row
RESUBMISSION_STYLE = "excel-semicolon-sv"  # writes 'leverans <month>.csv'
REJECTED_STYLE = "excel-utf8-bom-alias"
CORRECTED_SUFFIX = " (rättad)"


@dataclass
class NoisePlan:
    junk: list[tuple[str, str]] = field(default_factory=list)  # (kommunkod, month)
    resubmission: tuple[str, str] | None = None
    rejected: tuple[str, str] | None = None


def plan_noise(project: Project, months: list[str], enrolments: dict[str, list[SimulatedEnrolment]],
               styles: dict[tuple[str, str], DeliveryStyle], rng: random.Random) -> NoisePlan:
    """Decide which files get which noise, before anything is written."""
    plan = NoisePlan()
    if not months:
        return plan
    last = months[-1]
    munis = list(project.municipalities)

    def rows(code: str, month: str) -> int:
        return len(visible_enrolments(enrolments.get(code, []), month))

    def is_csv(code: str) -> bool:
        return styles[(project.id, code)].fmt != "xlsx"

    main = MAIN_MUNICIPALITY if MAIN_MUNICIPALITY in munis else max(munis, key=lambda c: len(enrolments.get(c, [])))
    plan.resubmission = _pick_municipality(
        [c for c in munis if c != main and is_csv(c) and rows(c, last) >= 3], project, styles,
        RESUBMISSION_STYLE, fallback=main if rows(main, last) >= 3 else None, month=last)
    if len(months) >= 2:
        taken = {plan.resubmission[0]} if plan.resubmission else set()
        middle = months[(len(months) - 1) // 2]
        plan.rejected = _pick_municipality(
            [c for c in munis if c not in taken | {main} and is_csv(c) and rows(c, middle) >= 1], project,
            styles, REJECTED_STYLE, fallback=munis[0] if rows(munis[0], middle) else None, month=middle)
    if rows(main, last) >= MIN_ROWS_FOR_JUNK and is_csv(main):
        plan.junk.append((main, last))
    special = {plan.resubmission, plan.rejected}
    earlier = [(c, m) for c in munis for m in months[:-1]
               if is_csv(c) and (c, m) not in special and rows(c, m) >= MIN_ROWS_FOR_JUNK]
    plan.junk += rng.sample(earlier, min(EARLIER_JUNK_ROWS, len(earlier)))
    return plan


def _pick_municipality(candidates: list[str], project: Project, styles: dict[tuple[str, str], DeliveryStyle],
                       preferred_style: str, fallback: str | None, month: str) -> tuple[str, str] | None:
    preferred = [c for c in candidates if styles[(project.id, c)].name == preferred_style]
    chosen = (preferred or candidates or ([fallback] if fallback else [None]))[0]
    return (chosen, month) if chosen else None


def insert_junk_row(table: Table, project: Project, month: str, kommunkod: str, style: DeliveryStyle,
                    rng: random.Random, partition_digit: int) -> tuple[int, str, tuple[str, ...]]:
    """Insert a row with a wrong check digit; return its row number, written value and identifiers."""
    start = _random_day_in(month, project, rng)
    age = rng.randint(project.age_min, project.age_max)
    birth = start.replace(year=start.year - age - 1, day=min(start.day, 28)) + dt.timedelta(days=rng.randint(1, 360))
    if age_on(birth, start) < project.age_min:
        birth -= dt.timedelta(days=365)
    kon = rng.choice("KM")
    bad_pnr = with_wrong_check_digit(make_personnummer(birth, random_serial(rng, kon, partition_digit)), rng)
    contact = random_contact(rng, kon, set())
    row = {
        "personnummer": bad_pnr, "startdatum": start, "fas": rng.choice(["HITTA", "MOTA"]),
        "kon": kon_from_personnummer(bad_pnr), "kommunkod": kommunkod, "rapportmanad": month,
        "fodelseregion": "SVERIGE", "sysselsattning_start": "INAKTIV", "forsorjningsstod_start": "NEJ",
        "fornamn": contact.fornamn, "efternamn": contact.efternamn, "telefon": contact.telefon,
        "epost": contact.epost, "adress": contact.adress,
    }
    position = rng.randint(1, len(table.rows))
    table.rows.insert(position, render_row(row, style, rng))
    table.enrolments.insert(position, None)
    written = str(format_personnummer(bad_pnr, style.pnr_form))
    identifiers = tuple(v for c, v in row.items() if c in ("fornamn", "efternamn", "telefon", "epost", "adress")
                        and style.has(c))
    return position + 2, written, identifiers


def _random_day_in(month: str, project: Project, rng: random.Random) -> dt.date:
    first = max(month_start(month), project.period_start)
    last = min(month_end(month), project.period_end)
    return first + dt.timedelta(days=rng.randint(0, (last - first).days))


def flawed_copy(table: Table, style: DeliveryStyle, rng: random.Random, activity_outcomes: tuple[str, ...]) -> Table:
    """The first, wrong version of a resubmitted month: two rows missing, one exit reason wrong."""
    flawed = Table(list(table.headers), list(table.columns), [list(r) for r in table.rows], list(table.enrolments))
    real = [i for i, e in enumerate(flawed.enrolments) if e is not None]
    for position in sorted(rng.sample(real, min(2, len(real) - 1)), reverse=True):
        del flawed.rows[position]
        del flawed.enrolments[position]
    if "avslutsorsak" in flawed.columns:
        column = flawed.columns.index("avslutsorsak")
        ended = [i for i, row in enumerate(flawed.rows)
                 if row[column] and flawed.enrolments[i] is not None
                 and flawed.enrolments[i].avslutsorsak != "FELREGISTRERING"]  # type: ignore[union-attr]
        if ended:
            position = rng.choice(ended)
            truth = flawed.enrolments[position].avslutsorsak  # type: ignore[union-attr]
            wrong = "OVRIGT" if truth in activity_outcomes else activity_outcomes[0]
            flawed.rows[position][column] = render_code(wrong, style.code_case, rng)
    return flawed


def without_column(table: Table, column: str) -> Table:
    """The same table lacking one column (a required one makes the whole file rejected)."""
    index = table.columns.index(column)
    return Table(
        [h for i, h in enumerate(table.headers) if i != index],
        [c for i, c in enumerate(table.columns) if i != index],
        [[cell for i, cell in enumerate(row) if i != index] for row in table.rows],
        list(table.enrolments),
    )


def corrected_name(file_name: str) -> str:
    """'leverans 2018-06.csv' -> 'leverans 2018-06 (rättad).csv'."""
    stem, dot, extension = file_name.rpartition(".")
    return f"{stem}{CORRECTED_SUFFIX}{dot}{extension}"

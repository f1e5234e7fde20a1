"""Fast synthetic deliveries for benchmarks: N municipalities × M months of full snapshots.

`orchestration/generator` is the realistic generator with a truth record, built for tests; it
writes the demo's few hundred files well but is slow at national scale. This one draws the
same kind of data with numpy (valid personnummer, re-enrolments, movers between
municipalities, ended enrolments with reasons, the phase at each month's end) and writes each
municipality-month as one full snapshot: every enrolment from the project's start up to the
last day of that month.

Two presentations:
- `utf8`: every file UTF-8 CSV, comma, the contract's own column names (the national case).
- `mixed`: per municipality a different case system (CSV UTF-8 / UTF-8 with BOM / Windows-1252
  / tab, XLSX with real dates and personnummer as numbers, header aliases, names and notes
  that must be dropped or scrubbed, codes in mixed case, 12-digit personnummer, YYYYMMDD dates).

Beside the inbox it can write a plain UTF-8 CSV twin of every file (`floor_dir`) so the DuckDB
floor (benchmarks/floor.py) reads the same rows even where the inbox holds XLSX.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REASONS = ("ARBETE", "STUDIER", "PRAKTIK", "ARBETSMARKNADSPROGRAM", "ANNAN_INSATS", "OHALSA", "FLYTT",
           "AVBROTT", "EJ_KONTAKT", "OVRIGT", "FELREGISTRERING")
REASON_P = (0.30, 0.18, 0.08, 0.08, 0.08, 0.05, 0.04, 0.09, 0.05, 0.04, 0.01)
ACTIVITY = ("ARBETE", "STUDIER", "PRAKTIK")
FOLLOW_UP = ("ARBETE", "STUDIER", "PRAKTIK", "UTAN_SYSSELSATTNING", "EJ_NADD")
FOLLOW_UP_P = (0.35, 0.20, 0.05, 0.25, 0.15)
FAS = ("HITTA", "MOTA", "AKTIVERA", "MATCHA")
OPTIONAL = {
    "fodelseregion": (("SVERIGE", "EU_EES", "TREDJELAND", "OKAND"), (0.70, 0.08, 0.17, 0.05)),
    "funktionsnedsattning": (("JA", "NEJ", "OKAND"), (0.20, 0.65, 0.15)),
    "utbildningsniva": (("ISCED_0_2", "ISCED_3_4", "ISCED_5_8", "OKAND"), (0.35, 0.45, 0.10, 0.10)),
    "sysselsattning_start": (("ARBETSLOS_AF", "INAKTIV", "STUDERAR", "ARBETAR", "OKAND"), (0.40, 0.35, 0.08, 0.07, 0.10)),
    "forsorjningsstod_start": (("JA", "NEJ", "OKAND"), (0.35, 0.55, 0.10)),
}
CONTRACT_COLUMNS = ("personnummer", "startdatum", "slutdatum", "avslutsorsak", "fas", "kon", "fodelseregion",
                    "funktionsnedsattning", "utbildningsniva", "sysselsattning_start", "forsorjningsstod_start",
                    "forsorjningsstod_slut", "uppfoljning_6m")
FIRST_NAMES = ("Alva", "Elias", "Maja", "Hugo", "Ebba", "Noah", "Saga", "Liam", "Wilma", "Oscar", "Ali", "Fatima")
LAST_NAMES = ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson", "Hassan")
BENCH_KEY = "benchmark-key-" + "b" * 40   # synthetic data only


@dataclass(frozen=True)
class Style:
    """How one municipality's case system writes its monthly list."""

    fmt: str = "csv"              # csv or xlsx
    encoding: str = "utf-8"       # utf-8, utf-8-sig, cp1252
    separator: str = ","
    headers: dict[str, str] = field(default_factory=dict)   # canonical -> written header
    pnr12: bool = False           # YYYYMMDDNNNN instead of YYMMDD-NNNN
    pnr_number: bool = False      # XLSX: personnummer as a number (leading zeros lost)
    compact_dates: bool = False   # YYYYMMDD
    code_case: str = "upper"      # upper or title (Möta, Hitta)
    names: bool = False           # fornamn, efternamn, telefon columns (dropped by the pipeline)
    notes: bool = False           # anteckning, sometimes naming the person (scrubbed)
    file_name: str = "{month}.csv"


UTF8 = Style()
MIXED_STYLES = (
    Style(file_name="{month}.csv"),
    Style(encoding="cp1252", separator=";", code_case="title", names=True,
          headers={"personnummer": "Personnummer", "startdatum": "Inskrivningsdatum", "fas": "Steg", "kon": "Kön",
                   "fodelseregion": "Födelseregion", "avslutsorsak": "Avslutsorsak"},
          file_name="leverans {month}.csv"),
    Style(fmt="xlsx", pnr_number=True, pnr12=True, names=True, notes=True,
          headers={"personnummer": "Pnr", "startdatum": "Startdatum", "slutdatum": "Slutdatum"},
          file_name="uvas_{kommun}_{month}.xlsx"),
    Style(encoding="utf-8-sig", separator=";", notes=True, file_name="{kommun} {month}.csv"),
    Style(separator="\t", pnr12=True, compact_dates=True, file_name="{month}.tsv"),
    Style(fmt="xlsx", names=True, headers={"fas": "FAS", "kon": "KÖN"}, file_name="deltagare {month}.xlsx"),
    Style(encoding="cp1252", separator=";", headers={"utbildningsniva": "Utbildningsnivå"},
          file_name="{month}_uppfoljning.csv"),
    Style(separator=",", code_case="title", notes=True, file_name="export-{month}.csv"),
)


@dataclass
class GeneratedProject:
    project_id: str
    kommunkoder: list[str]
    months: list[str]
    files: list[Path]
    rows: int
    enrolments: int
    persons: int
    config_path: Path


def month_list(first: str, count: int) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _month_end(month: str) -> dt.date:
    year, number = int(month[:4]), int(month[5:7])
    return dt.date(year, number, calendar.monthrange(year, number)[1])


def _ordinal(day: dt.date) -> int:
    return day.toordinal()


def kommunkoder(count: int) -> list[str]:
    """The first `count` municipalities of SCB's list (290 in all)."""
    from orchestration.projects.config import load_kommuner

    codes = sorted(load_kommuner())
    if count > len(codes):
        raise ValueError(f"only {len(codes)} municipalities exist")
    step = len(codes) / count
    return [codes[int(i * step)] for i in range(count)]


def _luhn_digits(nine: np.ndarray) -> np.ndarray:
    """Check digit over rows of 9 digits (int array n×9)."""
    weights = np.array([2, 1, 2, 1, 2, 1, 2, 1, 2])
    products = nine * weights
    total = (products // 10 + products % 10).sum(axis=1)
    return (10 - total % 10) % 10


@dataclass
class Enrolments:
    """One municipality's enrolments over the whole period (columns as numpy arrays)."""

    person: np.ndarray       # index into the person table
    start: np.ndarray        # date ordinal
    end: np.ndarray          # date ordinal, or a large number when not ended within the period
    reason: np.ndarray       # index into REASONS (-1 never used when end is set)
    followup: np.ndarray     # index into FOLLOW_UP
    income_end: np.ndarray   # index into JA/NEJ/OKAND
    pace: np.ndarray         # months per phase step, 1..3


class Population:
    """Persons (birth date, personnummer, kön, background codes) drawn as needed."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.birth: list[int] = []
        self.pnr10: list[str] = []
        self.pnr12: list[str] = []
        self.kon: list[str] = []
        self.codes: dict[str, list[int]] = {c: [] for c in OPTIONAL}
        self._seen: set[str] = set()

    def draw(self, starts: np.ndarray) -> np.ndarray:
        """New persons aged 16–29 at the given start dates; returns their indices."""
        n = len(starts)
        first = len(self.birth)
        ages = self.rng.uniform(16.0, 29.9, n)
        births = (starts - ages * 365.25).astype(np.int64)
        serial = self.rng.integers(0, 1000, n)
        serial[serial == 0] = 1             # 000 is never issued: the contract rejects it (PNR_LOPNUMMER_000)
        for i in range(n):
            birth = dt.date.fromordinal(int(births[i]))
            while True:
                nine = f"{birth:%y%m%d}{serial[i]:03d}"
                digits = np.array([[int(c) for c in nine]])
                ten = nine + str(int(_luhn_digits(digits)[0]))
                if ten not in self._seen:
                    break
                serial[i] = serial[i] % 999 + 1
            self._seen.add(ten)
            self.birth.append(int(births[i]))
            self.pnr10.append(f"{ten[:6]}-{ten[6:]}")
            self.pnr12.append(f"{birth.year // 100:02d}{ten}")
            self.kon.append("M" if int(ten[8]) % 2 else "K")
        for column, (values, p) in OPTIONAL.items():
            self.codes[column] += self.rng.choice(len(values), size=n, p=p).tolist()
        return np.arange(first, first + n)


def simulate(kommuner: list[str], months: list[str], new_per_month: float, seed: int,
             mean_days: float = 240.0, return_share: float = 0.08, mover_share: float = 0.02
             ) -> tuple[Population, dict[str, Enrolments]]:
    """Every municipality's enrolments. Municipality sizes vary (log-normal, mean 1)."""
    rng = np.random.default_rng(seed)
    population = Population(rng)
    weights = rng.lognormal(0.0, 0.7, len(kommuner))
    weights /= weights.mean()
    month_starts = np.array([_ordinal(dt.date(int(m[:4]), int(m[5:7]), 1)) for m in months])
    month_ends = np.array([_ordinal(_month_end(m)) for m in months])
    horizon = int(month_ends[-1])
    never = 10 ** 7
    ended_people: list[tuple[int, int]] = []      # (person, end) of ended enrolments, any municipality
    result: dict[str, Enrolments] = {}
    for index, kommun in enumerate(kommuner):
        counts = rng.poisson(new_per_month * weights[index], len(months))
        n = int(counts.sum())
        starts = np.concatenate([rng.integers(month_starts[j], month_ends[j] + 1, c) for j, c in enumerate(counts)]) \
            if n else np.zeros(0, dtype=np.int64)
        starts = np.sort(starts)
        durations = rng.exponential(mean_days, n).astype(np.int64) + 14
        ends = starts + durations
        ends = np.where(ends <= horizon, ends, never)
        persons = population.draw(starts)
        # some enrolments are a person coming back (here or from another municipality) after an exit
        local_ended: list[tuple[int, int]] = []
        for i in range(n):
            pool = None
            roll = rng.random()
            if roll < return_share and local_ended:
                pool = local_ended
            elif roll < return_share + mover_share and ended_people:
                pool = ended_people
            if pool:
                person, end = pool[int(rng.integers(0, len(pool)))]
                if end < starts[i] - 30:
                    persons[i] = person
            if ends[i] != never:
                local_ended.append((int(persons[i]), int(ends[i])))
        ended_people += local_ended
        # one person may still get overlapping spells here (a return drawn twice): the later spell
        # goes to a new person, until no person has two overlapping spells in this municipality
        # (the pipeline would rightly reject both rows; the floor has no such rule)
        while True:
            order = np.lexsort((starts, persons))
            clash = [b for a, b in zip(order[:-1], order[1:]) if persons[a] == persons[b] and starts[b] <= ends[a]]
            if not clash:
                break
            for b in clash:
                persons[b] = population.draw(starts[b:b + 1])[0]
        result[kommun] = Enrolments(
            person=persons, start=starts, end=ends,
            reason=rng.choice(len(REASONS), size=n, p=REASON_P),
            followup=rng.choice(len(FOLLOW_UP), size=n, p=FOLLOW_UP_P),
            income_end=rng.choice(3, size=n, p=(0.2, 0.7, 0.1)),
            pace=rng.integers(1, 4, n),
        )
    return population, result


def snapshot_rows(population: Population, enrolments: Enrolments, month: str, month_index: int,
                  style: Style, rng: np.random.Generator, invalid_share: float) -> tuple[list[str], list[list]]:
    """The full snapshot of one municipality at the end of `month`: header and rows."""
    end_of_month = _ordinal(_month_end(month))
    six_months_before = end_of_month - 183
    shown = np.nonzero(enrolments.start <= end_of_month)[0]
    columns = list(CONTRACT_COLUMNS)
    if style.names:
        columns += ["fornamn", "efternamn", "telefon"]
    if style.notes:
        columns += ["anteckning"]
    header = [style.headers.get(c, c) for c in columns]
    rows = []
    ym = int(month[:4]) * 12 + int(month[5:7]) - 1
    for i in shown:
        person = int(enrolments.person[i])
        start = int(enrolments.start[i])
        end = int(enrolments.end[i])
        ended = end <= end_of_month
        start_date = dt.date.fromordinal(start)
        months_in = ym - (start_date.year * 12 + start_date.month - 1)
        fas = FAS[min(3, months_in // int(enrolments.pace[i]))]
        reason = REASONS[int(enrolments.reason[i])] if ended else ""
        pnr = population.pnr12[person] if style.pnr12 else population.pnr10[person]
        if invalid_share and rng.random() < invalid_share:
            pnr = pnr[:-1] + str((int(pnr[-1]) + 1) % 10)      # a typo: the check digit no longer holds
        row: list = [
            int(pnr) if style.pnr_number else pnr,
            _date_cell(start_date, style),
            _date_cell(dt.date.fromordinal(end), style) if ended else "",
            _code(reason, style),
            _code(fas, style),
            population.kon[person],
            *(_code(OPTIONAL[c][0][population.codes[c][person]], style) for c in OPTIONAL),
            ("JA", "NEJ", "OKAND")[int(enrolments.income_end[i])] if ended else "",
            FOLLOW_UP[int(enrolments.followup[i])] if ended and end <= six_months_before else "",
        ]
        if style.names:
            row += [FIRST_NAMES[person % len(FIRST_NAMES)], LAST_NAMES[person % len(LAST_NAMES)],
                    f"070-{person % 1000:03d} {person % 10000:04d}"]
        if style.notes:
            row.append(f"Samtal med {FIRST_NAMES[person % len(FIRST_NAMES)]}" if person % 7 == 0 else "")
        rows.append(row)
    return header, rows


def _date_cell(day: dt.date, style: Style):
    if style.fmt == "xlsx":
        return day
    return day.strftime("%Y%m%d") if style.compact_dates else day.isoformat()


def _code(code: str, style: Style) -> str:
    if not code or style.code_case == "upper":
        return code
    return {"MOTA": "Möta", "HITTA": "Hitta"}.get(code, code.title() if style.fmt == "csv" else code)


def write_file(path: Path, header: list[str], rows: list[list], style: Style, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if style.fmt == "xlsx":
        import openpyxl

        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet("Deltagare")
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        workbook.save(path)
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=style.separator, lineterminator="\r\n" if style.encoding == "cp1252" else "\n")
        writer.writerow(header)
        writer.writerows(rows)
        path.write_bytes(buffer.getvalue().encode(style.encoding))
    os.utime(path, (mtime, mtime))


def write_floor_twin(path: Path, rows: list[list], style: Style) -> None:
    """The same rows as plain UTF-8 CSV with the contract's columns (what benchmarks/floor.py reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CONTRACT_COLUMNS)
    for row in rows:
        cells = list(row[:len(CONTRACT_COLUMNS)])
        cells[0] = str(cells[0])
        for k in (1, 2):
            if isinstance(cells[k], dt.date):
                cells[k] = cells[k].isoformat()
            elif len(cells[k]) == 8:     # YYYYMMDD
                cells[k] = f"{cells[k][:4]}-{cells[k][4:6]}-{cells[k][6:]}"
        for k in (3, 4):                 # codes as the contract spells them (Möta -> MOTA)
            cells[k] = cells[k].upper().replace("Ö", "O")
        writer.writerow(cells)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def arrival_time(month: str, offset_seconds: float = 0.0) -> float:
    """Files arrive on the 5th of the following month (chronological arrival order)."""
    following = month_list(month, 2)[1]
    arrival = dt.datetime(int(following[:4]), int(following[5:7]), 5, 8, tzinfo=dt.timezone.utc)
    return arrival.timestamp() + offset_seconds


def write_config(path: Path, project_id: str, kommuner: list[str], months: list[str], participants_target: int) -> Path:
    start = f"{months[0]}-01"
    end = _month_end(months[-1]).isoformat()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "projects:\n"
        f"  - id: {project_id}\n"
        f"    name: \"Benchmark {project_id}\"\n"
        "    owner: \"benchmarks/\"\n"
        "    funder: \"Svenska ESF-rådet\"\n"
        f"    period: {{start: {start}, end: {end}}}\n"
        "    age: {min: 15, max: 29}\n"
        f"    municipalities: [{', '.join(repr(k).replace(chr(39), chr(34)) for k in kommuner)}]\n"
        f"    activity_outcomes: [{', '.join(ACTIVITY)}]\n"
        f"    targets: {{participants: {participants_target}, activity_share: 0.5}}\n"
        "    suppression: {min_count: 5}\n",
        encoding="utf-8")
    return path


def generate(inbox: Path, config_path: Path, *, project_id: str, municipalities: int, months: list[str],
             new_per_month: float, presentation: str = "utf8", seed: int = 2026, floor_dir: Path | None = None,
             write_months: list[str] | None = None, invalid_share: float = 0.0005,
             project_months: list[str] | None = None) -> GeneratedProject:
    """Write inbox/<project_id>/<kommunkod>/<file> for every municipality and month in `write_months`
    (default: all `months`). The simulation always covers `months`, so writing the first 37 and
    later the 38th gives the same files as writing all 38 at once."""
    kommuner = kommunkoder(municipalities)
    population, by_kommun = simulate(kommuner, months, new_per_month, seed)
    write_config(config_path, project_id, kommuner, project_months or months,
                 participants_target=int(new_per_month * municipalities * len(months) * 0.9))
    files: list[Path] = []
    total_rows = 0
    wanted = set(write_months or months)
    for k_index, kommun in enumerate(kommuner):
        style = MIXED_STYLES[k_index % len(MIXED_STYLES)] if presentation == "mixed" else UTF8
        rng = np.random.default_rng([seed, k_index])
        for m_index, month in enumerate(months):
            header, rows = snapshot_rows(population, by_kommun[kommun], month, m_index, style, rng, invalid_share)
            if month not in wanted or not rows:
                continue
            name = style.file_name.format(month=month, kommun=kommun)
            path = inbox / project_id / kommun / name
            write_file(path, header, rows, style, arrival_time(month, k_index))
            if floor_dir is not None:
                write_floor_twin(floor_dir / project_id / kommun / f"{month}.csv", rows, style)
            files.append(path)
            total_rows += len(rows)
    enrolments = sum(len(e.start) for e in by_kommun.values())
    return GeneratedProject(project_id, kommuner, months, files, total_rows, enrolments, len(population.birth),
                            config_path)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Write synthetic full-snapshot deliveries for a benchmark.")
    parser.add_argument("--inbox", required=True, type=Path)
    parser.add_argument("--config", required=True, type=Path, help="projects file to write")
    parser.add_argument("--project", default="bench")
    parser.add_argument("--municipalities", type=int, default=8)
    parser.add_argument("--months", type=int, default=37)
    parser.add_argument("--first-month", default="2021-01")
    parser.add_argument("--new-per-month", type=float, default=1.5,
                        help="mean new enrolments per municipality and month")
    parser.add_argument("--presentation", choices=("utf8", "mixed"), default="utf8")
    parser.add_argument("--floor-dir", type=Path)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    project = generate(args.inbox, args.config, project_id=args.project, municipalities=args.municipalities,
                       months=month_list(args.first_month, args.months), new_per_month=args.new_per_month,
                       presentation=args.presentation, seed=args.seed, floor_dir=args.floor_dir)
    print(f"{len(project.files)} files, {project.rows} snapshot rows, {project.enrolments} enrolments, "
          f"{project.persons} persons in {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

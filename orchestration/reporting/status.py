"""`followup status`: which municipality delivered which month, with verdicts and gaps.

A delivery is late when it was not received by the deadline day of the following month
(default the 10th, as municipalities are asked to deliver).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from orchestration.ingest.normalise import month_end
from orchestration.lib.warehouse import connect
from orchestration.projects.config import ProjectsConfig, load_kommuner

DEADLINE_DAY = 10
SYMBOLS = {"ACCEPTED": "✓", "ACCEPTED_WITH_WARNINGS": "!", "REJECTED": "✗", None: "·"}


def format_status(warehouse: Path, config: ProjectsConfig, project_id: str | None = None,
                  today: dt.date | None = None, deadline_day: int = DEADLINE_DAY) -> str:
    today = today or dt.date.today()
    kommuner = load_kommuner()
    with connect(warehouse, read_only=True) as db:
        deliveries = db.execute(
            "select project_id, kommunkod, reporting_month, file_name, received_at, verdict, verdict_reason, "
            "coalesce(rows_rejected, 0) from landing.deliveries order by received_at").fetchall()
        unrouted = db.execute("select inbox_path, message from landing.unrouted_files order by seen_at").fetchall()
    lines: list[str] = []
    for project in config.projects:
        if project_id and project.id != project_id:
            continue
        months = [m for m in project.months() if month_end(m) < today]
        mine = [d for d in deliveries if d[0] == project.id]
        newest: dict[tuple[str, str], tuple] = {}
        counts: dict[tuple[str, str], int] = {}
        for d in mine:
            newest[(d[1], d[2])] = d          # ordered by arrival: the last one is in force
            counts[(d[1], d[2])] = counts.get((d[1], d[2]), 0) + 1
        lines.append(f"{project.id} – {project.name} ({project.period_start} – {project.period_end})")
        lines.append(f"  {'kommun':<16} {months[0] if months else ''} … {months[-1] if months else ''}")
        problems: list[str] = []
        for code in project.municipalities:
            cells = []
            for month in months:
                d = newest.get((code, month))
                cells.append(SYMBOLS.get(d[5] if d else None, "?"))
                deadline = month_end(month) + dt.timedelta(days=deadline_day)
                if d is None:
                    if today > deadline:
                        problems.append(f"  saknas: {code} {kommuner.get(code, '')} {month}")
                    continue
                first_arrival = min(x[4] for x in mine if x[1] == code and x[2] == month)
                if first_arrival.date() > deadline:
                    problems.append(f"  sen: {code} {month} kom {first_arrival.date()} (senast {deadline})")
                if d[5] == "REJECTED":
                    problems.append(f"  avvisad: {code} {month} {d[3]}: {d[6]}")
                elif d[7]:
                    problems.append(f"  {d[7]} avvisade rader: {code} {month} {d[3]}")
                if counts[(code, month)] > 1:
                    problems.append(f"  {counts[(code, month)]} leveranser (ersatta): {code} {month}, gäller: {d[3]}")
            name = f"{code} {kommuner.get(code, '')}"[:16]
            lines.append(f"  {name:<16} {''.join(cells)}")
        lines.extend(problems)
        lines.append("")
    lines.append("✓ godkänd  ! godkänd med varningar/avvisade rader  ✗ hela filen avvisad  · ingen leverans")
    for path, message in unrouted:
        lines.append(f"Inte inläst: {path}: {message}")
    return "\n".join(lines)

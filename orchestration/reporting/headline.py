"""The headline per project at its newest month: participants and every measure with a target,
each with its figure, its target and whether the target is reached (targets.py) — for the
terminal (`followup demo`) and the Dagster UI (kpi_exports' metadata). Exact figures: these are
the coordinators' views, not the funders'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.safe_text import console, markdown_cell
from orchestration.projects.config import ProjectsConfig
from orchestration.reporting.targets import ALWAYS_SHOWN, Measure, format_value, project_measures

COLUMNS = ("projekt", "månad", "mått", "utfall", "mål", "nått?")


@dataclass(frozen=True)
class Headline:
    project_id: str
    name: str
    period: str | None
    participants: int | None
    measures: tuple[Measure, ...] = ()


def headlines(warehouse: Path, config: ProjectsConfig) -> list[Headline]:
    result = []
    for project_id, measures in project_measures(warehouse, config).items():
        project = config.project(project_id)
        participants = next((m.value for m in measures if m.kpi == ALWAYS_SHOWN), None)
        period = measures[0].period if measures else None
        result.append(Headline(project.id, project.name, period,
                               None if participants is None else int(participants), tuple(measures)))
    return result


def verdict(measure: Measure) -> str:
    """'nått' / 'inte nått', and for participants not yet at their target whether they are on
    pace: 'inte nått, i takt (hittills 300)'. Blank without a target."""
    text = measure.verdict
    pace = measure.pace
    if measure.met is False and pace is not None and pace.expected_by_now < pace.target:
        text += f", {'efter takt' if pace.behind else 'i takt'} (hittills {pace.expected_by_now:.0f})"
    return text


def _cells(headline: Headline) -> list[list[str]]:
    """One row per measure; the project and month only on its first row."""
    rows = []
    for i, m in enumerate(headline.measures):
        first = i == 0
        rows.append([headline.project_id if first else "", (headline.period or "–") if first else "", m.label,
                     "–" if m.value is None else format_value(m.kind, m.value),
                     "–" if m.target is None else format_value(m.kind, m.target), verdict(m)])
    return rows


def format_headlines(rows: list[Headline]) -> str:
    """A plain-text table for the terminal: a row per measure, numbers right-aligned."""
    table = [list(COLUMNS)] + [cells for h in rows for cells in _cells(h)]
    table = [[console(cell, keep_newlines=False) for cell in row] for row in table]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    right = {3, 4}
    return "\n".join(
        "  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in table)


def headlines_markdown(rows: list[Headline]) -> str:
    """The same table as markdown, for the Dagster UI (asset metadata), with the project's name."""
    lines = ["| projekt | månad | mått | utfall | mål | nått? |", "|---|---|---|--:|--:|---|"]
    for h in rows:
        for i, cells in enumerate(_cells(h)):
            cells[0] = h.name if i == 0 else ""
            lines.append("| " + " | ".join(markdown_cell(" ".join(c.split())) for c in cells) + " |")
    return "\n".join(lines)

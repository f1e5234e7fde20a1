"""The headline per project: participants and activity share against targets, newest month."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.warehouse import connect
from orchestration.projects.config import ProjectsConfig


@dataclass(frozen=True)
class Headline:
    project_id: str
    name: str
    period: str | None
    participants: int | None
    participants_target: float | None
    activity_share: float | None
    activity_share_target: float | None
    exit_activity_share: float | None
    exit_activity_share_target: float | None


def headlines(warehouse: Path, config: ProjectsConfig) -> list[Headline]:
    with connect(warehouse, read_only=True) as db:
        values = db.execute(
            "with newest as (select project_id, max(period) as period from marts.kpi_values group by project_id) "
            "select k.project_id, k.period, k.kpi, k.value from marts.kpi_values k join newest using (project_id, period) "
            "where k.area = 'ALL' and k.breakdown = 'total' "
            "and k.kpi in ('participants', 'activity_share', 'exit_activity_share')").fetchall()
    by_project: dict[str, dict] = {}
    for project_id, period, kpi, value in values:
        by_project.setdefault(project_id, {"period": period})[kpi] = value
    result = []
    for project in config.projects:
        found = by_project.get(project.id, {})
        participants = found.get("participants")
        result.append(Headline(
            project.id, project.name, found.get("period"),
            int(participants) if participants is not None else None, project.targets.get("participants"),
            found.get("activity_share"), project.targets.get("activity_share"),
            found.get("exit_activity_share"), project.targets.get("exit_activity_share"),
        ))
    return result


def format_headlines(rows: list[Headline]) -> str:
    """A plain-text table for the terminal."""
    pct = lambda x: "–" if x is None else f"{x:.0%}"  # noqa: E731
    num = lambda x: "–" if x is None else f"{x:.0f}"  # noqa: E731
    lines = [f"{'projekt':<18} {'månad':<8} {'deltagare':>9} {'mål':>5} {'i aktivitet':>11} {'mål':>5} "
             f"{'av avslutade':>12} {'mål':>5}"]
    for h in rows:
        lines.append(
            f"{h.project_id:<18} {h.period or '–':<8} {num(h.participants):>9} {num(h.participants_target):>5} "
            f"{pct(h.activity_share):>11} {pct(h.activity_share_target):>5} "
            f"{pct(h.exit_activity_share):>12} {pct(h.exit_activity_share_target):>5}")
    return "\n".join(lines)


def headlines_markdown(rows: list[Headline]) -> str:
    """The same table as markdown, for the Dagster UI (asset metadata)."""
    pct = lambda x: "–" if x is None else f"{x:.0%}"  # noqa: E731
    num = lambda x: "–" if x is None else f"{x:.0f}"  # noqa: E731
    lines = ["| projekt | månad | deltagare | mål | i aktivitet | mål | av avslutade | mål |",
             "|---|---|--:|--:|--:|--:|--:|--:|"]
    for h in rows:
        lines.append(f"| {h.name} | {h.period or '–'} | {num(h.participants)} | {num(h.participants_target)} | "
                     f"{pct(h.activity_share)} | {pct(h.activity_share_target)} | {pct(h.exit_activity_share)} | "
                     f"{pct(h.exit_activity_share_target)} |")
    return "\n".join(lines)

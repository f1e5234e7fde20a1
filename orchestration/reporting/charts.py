"""A project's trend against its targets as a PNG: participants and activity share per month.

Used by the Dagster asset metadata (coordinators) and the one-page funder report. matplotlib
with the Agg backend: no display, no network.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.warehouse import connect
from orchestration.projects.config import Project


@dataclass(frozen=True)
class Trend:
    periods: list[str]
    participants: list[float | None]      # None: not shown (suppressed in a funder chart)
    activity_share: list[float | None]


def project_trend(warehouse: Path, project_id: str, area: str = "ALL") -> Trend:
    with connect(warehouse, read_only=True) as db:
        rows = db.execute(
            "select period, max(case when kpi = 'participants' then value end), "
            "max(case when kpi = 'activity_share' then value end) from marts.kpi_values "
            "where project_id = ? and area = ? and breakdown = 'total' group by period order by period",
            [project_id, area]).fetchall()
    return Trend([r[0] for r in rows], [r[1] or 0 for r in rows], [r[2] for r in rows])


def linear_pace(project: Project, periods: list[str], target: float) -> list[float]:
    """The participants target spread evenly over the project's months (pace to date)."""
    months = project.months()
    return [target * (months.index(p) + 1) / len(months) if p in months else target for p in periods]


def trend_png(project: Project, trend: Trend) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    figure, left = plt.subplots(figsize=(8, 3.6), dpi=100)
    x = range(len(trend.periods))
    left.bar(x, [0 if p is None else p for p in trend.participants], color="#9ecae1", label="Deltagare (kumulativt)")
    target = project.targets.get("participants")
    if target:
        left.plot(x, linear_pace(project, trend.periods, target), color="#3182bd", linestyle="--",
                  label=f"Mål {target:.0f} deltagare, linjär takt")
    left.set_ylabel("Deltagare")
    right = left.twinx()
    shares = [s if s is not None else float("nan") for s in trend.activity_share]
    right.plot(x, shares, color="#e6550d", marker=".", label="Andel till aktivitet")
    share_target = project.targets.get("activity_share")
    if share_target is not None:
        right.axhline(share_target, color="#e6550d", linestyle=":", label=f"Mål {share_target:.0%}")
    right.set_ylim(0, 1)
    right.yaxis.set_major_formatter(PercentFormatter(1.0))
    step = max(1, len(trend.periods) // 8)
    left.set_xticks(list(x)[::step], trend.periods[::step], rotation=0, fontsize=8)
    left.set_title(project.name, fontsize=10)
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(handles, labels, loc="upper left", fontsize=7, frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()

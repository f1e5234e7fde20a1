"""A one-page report per project for funders: headline figures against targets and the trend.

Self-contained HTML (the chart embedded as PNG) that opens anywhere and prints on one page. Its
figures pass the same disclosure control as the funder tables (each month exactly as its
kpi.csv): a figure kpi.csv hides is hidden here too, in the table and in the chart.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

from orchestration.projects.config import Project
from orchestration.reporting.charts import Trend, trend_png
from orchestration.reporting.headline import Headline

HIDDEN = "visas inte"


@dataclass(frozen=True)
class Figure:
    value: float | None
    suppressed: bool = False


def _pct(figure: Figure) -> str:
    if figure.suppressed:
        return HIDDEN
    return "–" if figure.value is None else f"{figure.value:.0%}".replace("%", " %")


def _count(figure: Figure) -> str:
    if figure.suppressed:
        return HIDDEN
    return "–" if figure.value is None else f"{figure.value:.0f}"


def _target_pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}".replace("%", " %")


def published_figures(warehouse: Path, project: Project, period: str) -> tuple[dict[str, Figure], Trend]:
    """The ALL-area totals of every month up to `period` as the funder tables publish them: the
    newest month's headline figures, and the trend with hidden months left out of the chart."""
    from orchestration.reporting.export import is_headline, published_months

    rows = [r for _, month_rows in published_months(warehouse, project, period) for r in month_rows if is_headline(r)]
    by_month: dict[str, dict[str, Figure]] = {}
    for row in rows:
        by_month.setdefault(row["period"], {})[row["kpi"]] = Figure(
            None if row["suppressed"] else row["value"], bool(row["suppressed"]))
    periods = sorted(by_month)
    missing = Figure(None)
    trend = Trend(
        periods,
        [by_month[p].get("participants", missing).value for p in periods],
        [by_month[p].get("activity_share", missing).value for p in periods],
    )
    return by_month.get(period, {}), trend


def render_funder_report(project: Project, period: str | None, figures: dict[str, Figure], chart_png: bytes) -> str:
    missing = Figure(None)
    participants_target = project.targets.get("participants")
    rows = [
        ("Deltagare (unika personer)", _count(figures.get("participants", missing)),
         "–" if participants_target is None else f"{participants_target:.0f}"),
        ("Andel ut i arbete, studier eller praktik", _pct(figures.get("activity_share", missing)),
         _target_pct(project.targets.get("activity_share"))),
        ("Andel av avslutade som gick till aktivitet", _pct(figures.get("exit_activity_share", missing)),
         _target_pct(project.targets.get("exit_activity_share"))),
    ]
    table = "\n".join(f"<tr><th>{html.escape(a)}</th><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
                      for a, b, c in rows)
    image = base64.b64encode(chart_png).decode("ascii")
    return f"""<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>{html.escape(project.name)}</title>
<style>body{{font-family:sans-serif;max-width:820px;margin:2em auto}}table{{border-collapse:collapse}}
th,td{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}}td{{text-align:right}}</style></head>
<body><h1>{html.escape(project.name)}</h1>
<p>{html.escape(project.owner)} · finansiär {html.escape(project.funder)} · projektperiod {project.period_start} – {project.period_end}
· uppgifter till och med {html.escape(period or '–')}</p>
<table><tr><th></th><th>Utfall</th><th>Mål</th></tr>
{table}
</table>
<p><img alt="Deltagare och andel till aktivitet per månad" src="data:image/png;base64,{image}"></p>
<p style="font-size:small">Deltagare räknas en gång per projekt. Felregistreringar och avvisade rader räknas inte.
Röjandeskydd som i tabellerna till finansiärer: antal från 1 till {project.min_count - 1}, andelar över
färre än 10 personer och tal som annars kunde räknas fram ur dem visas inte; i diagrammet saknas de månaderna.</p>
</body></html>
"""


def write_funder_report(warehouse: Path, project: Project, headline: Headline, out_dir: Path) -> Path:
    """rapport.html and trend.png in out_dir/<project>/ for the headline's month."""
    figures, trend = published_figures(warehouse, project, headline.period) if headline.period else ({}, Trend([], [], []))
    png = trend_png(project, trend)
    target = out_dir / project.id / "rapport.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_funder_report(project, headline.period, figures, png), encoding="utf-8")
    (out_dir / project.id / "trend.png").write_bytes(png)
    return target

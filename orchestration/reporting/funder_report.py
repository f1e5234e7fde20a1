"""A one-page report per project for funders: headline figures against targets and the trend.

Self-contained HTML (the chart embedded as PNG) that opens anywhere and prints on one page.
Counts below the project's min_count are not shown, as in the funder table.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from orchestration.projects.config import Project
from orchestration.reporting.charts import project_trend, trend_png
from orchestration.reporting.headline import Headline


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}".replace("%", " %")


def _count(value: float | None, min_count: int) -> str:
    if value is None:
        return "–"
    return f"< {min_count}" if 0 < value < min_count else f"{value:.0f}"


def render_funder_report(project: Project, headline: Headline, chart_png: bytes) -> str:
    rows = [
        ("Deltagare (unika personer)", _count(headline.participants, project.min_count),
         "–" if headline.participants_target is None else f"{headline.participants_target:.0f}"),
        ("Andel ut i arbete, studier eller praktik", _pct(headline.activity_share), _pct(headline.activity_share_target)),
        ("Andel av avslutade som gick till aktivitet", _pct(headline.exit_activity_share),
         _pct(headline.exit_activity_share_target)),
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
· uppgifter till och med {html.escape(headline.period or '–')}</p>
<table><tr><th></th><th>Utfall</th><th>Mål</th></tr>
{table}
</table>
<p><img alt="Deltagare och andel till aktivitet per månad" src="data:image/png;base64,{image}"></p>
<p style="font-size:small">Deltagare räknas en gång per projekt. Felregistreringar och avvisade rader räknas inte.
Antal under {project.min_count} visas inte.</p>
</body></html>
"""


def write_funder_report(warehouse: Path, project: Project, headline: Headline, out_dir: Path) -> Path:
    png = trend_png(project, project_trend(warehouse, project.id))
    target = out_dir / project.id / "rapport.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_funder_report(project, headline, png), encoding="utf-8")
    (out_dir / project.id / "trend.png").write_bytes(png)
    return target

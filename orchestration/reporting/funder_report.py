"""A one-page report per project for funders: every measure with a target, whether it is reached,
and the trend; for a project with a mapping instrument, each domain's figures and the inventory.

Self-contained HTML (the chart embedded as PNG) that opens anywhere and prints on one page. Its
figures pass the same disclosure control as the funder tables (each month exactly as its
kpi.csv): a figure kpi.csv hides is hidden here too, in the table and in the chart.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib import kpis
from orchestration.projects.config import Project
from orchestration.reporting import mapping as mapping_figures
from orchestration.reporting.charts import Trend, chart_plan, trend_png
from orchestration.reporting.headline import Headline
from orchestration.reporting.kpi_names import KPI_LABELS, PARTICIPANTS_ON_PACE_LABEL
from orchestration.reporting.targets import ALWAYS_SHOWN, PACE_KPI, Pace, format_value, shown_kpis

HIDDEN = "visas inte"
REPORT_FILES = ["rapport.html", "trend.png", "rapport.pdf"]    # what write_funder_report writes (with pdf)
YES, NO = "ja", "nej"
PACE_LABEL = PARTICIPANTS_ON_PACE_LABEL


@dataclass(frozen=True)
class Figure:
    """A figure as the funder table publishes it: hidden figures have no value and no verdict."""

    value: float | None
    suppressed: bool = False
    target: float | None = None
    target_met: bool | None = None


def _shown(kind: str, figure: Figure) -> str:
    if figure.suppressed:
        return HIDDEN
    return "–" if figure.value is None else format_value(kind, figure.value)


def _verdict(figure: Figure) -> str:
    """ja/nej from the row's target_met (the warehouse's, blanked for a hidden figure)."""
    if figure.target is None:
        return ""
    if figure.suppressed or figure.target_met is None:
        return "–"
    return YES if figure.target_met else NO


def published_figures(warehouse: Path, project: Project, period: str) -> tuple[dict[str, Figure], Trend]:
    """The ALL-area totals of every month up to `period` as the funder tables publish them: the
    newest month's figures, and the trend of every measure with hidden months left out."""
    from orchestration.reporting.export import is_headline, published_months

    rows = [r for _, month_rows in published_months(warehouse, project, period, whole=lambda month: False)
            for r in month_rows if is_headline(r)]
    by_month: dict[str, dict[str, Figure]] = {}
    for row in rows:
        by_month.setdefault(row["period"], {})[row["kpi"]] = Figure(
            None if row["suppressed"] else row["value"], bool(row["suppressed"]), row["target"],
            None if row["suppressed"] else row["target_met"])
    periods = sorted(by_month)
    kpis = sorted({kpi for month in by_month.values() for kpi in month})
    trend = Trend(periods, {kpi: [by_month[p][kpi].value if kpi in by_month[p] else None for p in periods]
                            for kpi in kpis})
    return by_month.get(period, {}), trend


def report_rows(project: Project, figures: dict[str, Figure]) -> list[tuple[str, str, str, str]]:
    """(measure, Utfall, Mål, Målet nått) for every measure the project shows (targets.shown_kpis),
    and, while the participants target is not due yet, participants against the target to date."""
    rows = []
    for kpi in shown_kpis(project):
        kind = kpis.shown_as(kpi)
        figure = figures.get(kpi, Figure(None))
        target = figure.target if figure.target is not None else project.targets.get(kpi)
        figure = Figure(figure.value, figure.suppressed, target, figure.target_met)
        rows.append((KPI_LABELS[kpi], _shown(kind, figure), "–" if target is None else format_value(kind, target),
                     _verdict(figure)))
        pace = figures.get(PACE_KPI)
        if kpi == ALWAYS_SHOWN and target is not None and pace is not None and pace.value is not None \
                and pace.value < target:
            behind = None if figure.value is None else Pace(project.id, "", figure.value, pace.value, target).behind
            rows.append((PACE_LABEL, _shown(kind, figure), format_value(kind, pace.value),
                         "–" if behind is None else (NO if behind else YES)))
    return rows


def report_note(project: Project) -> str:
    """What is counted and what disclosure control hides: under the HTML report, and in the PDF's definitions."""
    return f"""Deltagare räknas en gång per projekt. Felregistreringar och avvisade rader räknas inte.
Målet för deltagare gäller hela projektperioden; målet hittills är det fördelat jämnt över projektets månader.
Röjandeskydd som i tabellerna till finansiärer: antal från 1 till {project.min_count - 1}, andelar över
färre än 10 personer och tal som annars kunde räknas fram ur dem visas inte, och inte heller om målet nåtts;
i diagrammet saknas de månaderna."""


def mapping_answers_text(summary: dict) -> str:
    """A question's latest answers in one line: each category with its share of those answering,
    or "visas inte"."""
    return "; ".join(f"{label} {HIDDEN if hidden else mapping_figures.percent(share)}"
                     for label, share, hidden in summary["categories"])


def mapping_answering_text(summary: dict) -> str:
    return HIDDEN if summary["base_hidden"] or summary["answering"] is None else f"{summary['answering']:.0f}"


def mapping_inventory_rows(inventory: list[dict]) -> list[tuple[str, str, str]]:
    """(figure, Antal, Andel av målgruppen) of the whole project's inventory."""
    return [(item["label"], HIDDEN if item["suppressed"] else f"{item['count']:.0f}",
             "" if item["figure"] == mapping_figures.TARGET_POPULATION else
             HIDDEN if item["suppressed"] else mapping_figures.percent(item["share"]) if item["share"] is not None else "–")
            for item in inventory]


MAPPING_NOTE = ("Kartläggning: varje persons senaste svar på varje fråga, som andel av dem som besvarat frågan "
                "(flerval: en person kan ha flera svar). Fritextsvar redovisas aldrig. Samma röjandeskydd som i "
                "tabellerna; fördelning på kommun, kön och ålder och före/efter för dem som svarat två gånger "
                "finns i kartlaggning.csv och kpi.xlsx.")


def _mapping_html(project: Project, mapping: list[dict]) -> str:
    summaries = mapping_figures.question_summaries(mapping, project)
    inventory = mapping_figures.inventory_summary(mapping)
    if not summaries and not inventory:
        return ""
    parts = ["<h2>Kartläggning</h2>"]
    for domain in mapping_figures.domains(summaries):
        rows = "\n".join(f"<tr><th>{html.escape(s['question'])}</th><td class=\"answers\">{html.escape(mapping_answers_text(s))}"
                         f"</td><td>{html.escape(mapping_answering_text(s))}</td></tr>"
                         for s in summaries if s["domain"] == domain)
        parts.append(f"<h3>{html.escape(domain)}</h3>\n<table><tr><th>Fråga</th><th>Svar, andel av de svarande</th>"
                     f"<th>Svarande</th></tr>\n{rows}\n</table>")
    if inventory:
        rows = "\n".join(f"<tr><th>{html.escape(a)}</th><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
                         for a, b, c in mapping_inventory_rows(inventory))
        parts.append(f"<h3>Inventering</h3>\n<table><tr><th></th><th>Antal</th><th>Andel av målgruppen</th></tr>"
                     f"\n{rows}\n</table>")
    parts.append(f"<p style=\"font-size:small\">{html.escape(MAPPING_NOTE)}</p>")
    return "\n".join(parts)


def render_funder_report(project: Project, period: str | None, figures: dict[str, Figure], chart_png: bytes,
                         chart_alt: str = "Utfall och mål per månad", mapping: list[dict] | None = None) -> str:
    table = "\n".join(f"<tr><th>{html.escape(a)}</th><td>{html.escape(b)}</td><td>{html.escape(c)}</td>"
                      f"<td>{html.escape(d)}</td></tr>" for a, b, c, d in report_rows(project, figures))
    image = base64.b64encode(chart_png).decode("ascii")
    return f"""<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>{html.escape(project.name)}</title>
<style>body{{font-family:sans-serif;max-width:820px;margin:2em auto}}table{{border-collapse:collapse}}
th,td{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}}td{{text-align:right}}
td.answers{{text-align:left}}</style></head>
<body><h1>{html.escape(project.name)}</h1>
<p>{html.escape(project.owner)} · finansiär {html.escape(project.funder)} · projektperiod {project.period_start} – {project.period_end}
· uppgifter till och med {html.escape(period or '–')}</p>
<table><tr><th></th><th>Utfall</th><th>Mål</th><th>Målet nått</th></tr>
{table}
</table>
<p><img alt="{html.escape(chart_alt)}" src="data:image/png;base64,{image}"></p>
{_mapping_html(project, mapping or [])}
<p style="font-size:small">{html.escape(report_note(project))}</p>
</body></html>
"""


def write_funder_report(warehouse: Path, project: Project, headline: Headline, out_dir: Path,
                        pdf: bool = False) -> Path:
    """rapport.html and trend.png in out_dir/<project>/ for the headline's month; with `pdf`
    rapport.pdf too, of the same figures (funder_pdf.py; it also reads the month's deliveries)."""
    figures, trend = published_figures(warehouse, project, headline.period) if headline.period else ({}, Trend([]))
    mapping = mapping_figures.published_rows(warehouse, project)
    png = trend_png(project, trend)
    plan = chart_plan(project, trend)
    measures = [s.label for s in plan.series if s.style != "pace"]
    alt = " och ".join([measures[0], *(m[0].lower() + m[1:] for m in measures[1:])]) + " per månad" + (
        ", med mål" if project.targets else "")
    target = out_dir / project.id / "rapport.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_funder_report(project, headline.period, figures, png, alt, mapping), encoding="utf-8")
    (out_dir / project.id / "trend.png").write_bytes(png)
    if pdf:
        from orchestration.reporting.export import data_version
        from orchestration.reporting.funder_pdf import write_funder_pdf

        deliveries = data_version(warehouse, project.id, headline.period) if headline.period else []
        write_funder_pdf(project, headline.period, figures, png, deliveries, out_dir / project.id / "rapport.pdf",
                         mapping=mapping)
    return target

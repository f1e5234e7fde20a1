"""The funder report as a PDF, one or two A4 pages beside rapport.html: for a funder who files,
prints or forwards the report rather than opening a web page.

It shows what rapport.html shows, from the same published rows (funder_report.published_figures:
each month exactly as its kpi.csv, after disclosure control): the targets table is the HTML's
(funder_report.report_rows), the chart is the HTML's trend.png itself. Besides, from the same
month's rows, the phases of the active participants (the workbook's Faser); the deliveries the
figures stand on, per municipality while the report fits two pages, else for the whole project
(the workbook's Datakvalitet, summed: counts of months, files and file rows, not of persons); and
the definitions with the HTML's note on disclosure control.
A figure kpi.csv hides is "visas inte" here too, never a number.

A pure function of those figures: drawn on plain matplotlib Figures with the PDF backend (no
pyplot state, no display). The same figures give the same bytes: no creation date, fonts
embedded as subsets in a fixed order. The fonts are Type 3 with their Unicode map (the text can
be searched and copied, pdftotext reads it): TrueType subsets (Type 42) took several times as long,
and every pipeline run writes one report per project.
"""

from __future__ import annotations

import functools
import io
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib import kpis
from orchestration.lib.contract import REJECTED
from orchestration.lib.mapping_contract import ENROLMENT
from orchestration.projects.config import Project, load_kommuner
from orchestration.reporting import mapping as mapping_figures
from orchestration.reporting.funder_report import (HIDDEN, MAPPING_NOTE, Figure, mapping_answering_text,
                                                   mapping_answers_text, mapping_inventory_rows, report_note, report_rows)
from orchestration.reporting.kpi_names import KPI_DEFINITIONS, KPI_LABELS
from orchestration.reporting.targets import PACE_KPI, format_value, shown_kpis

A4 = (8.27, 11.69)                       # inches, portrait
MARGIN = 0.7
BOTTOM = A4[1] - 0.75                    # the lowest baseline a block may reach; the footer is below
RIGHT = A4[0] - MARGIN
MAX_PAGES = 2
PHASES = kpis.parts_of("active_participants")
FUNNEL = ("active_participants", *PHASES)
GREY, BAR, INK = "#636363", "#9ecae1", "#000000"


@dataclass(frozen=True)
class Block:
    """A piece of a page that is never split: its height in inches and how to draw it with its
    top at `top` inches from the top of the page."""

    height: float
    draw: Callable[[object, float], None]


def render_funder_pdf(project: Project, period: str | None, figures: dict[str, Figure], chart_png: bytes,
                      deliveries: list[dict], mapping: list[dict] | None = None) -> bytes:
    """The report's bytes. figures: published_figures for the month; chart_png: the HTML's
    trend.png (charts.trend_png of the same published trend); deliveries: the data version
    (export.data_version) of the month; mapping: the published mapping rows (reporting/mapping.py),
    shown as the HTML shows them, after the phases."""
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    def blocks(per_municipality: bool) -> list[Block]:
        return [*_heading(project, period), *_targets(project, figures), _chart(chart_png), *_funnel(figures, period),
                *_mapping(project, mapping or []),
                *_quality(project, period, deliveries, per_municipality), *_definitions(project)]

    pages = _paginate(blocks(per_municipality=True))
    if len(pages) > MAX_PAGES:          # many municipalities: the project's total (kpi.xlsx lists every delivery)
        pages = _paginate(blocks(per_municipality=False))
    buffer = io.BytesIO()
    with matplotlib.rc_context({"pdf.fonttype": 3}):
        metadata = {"Title": f"{project.name}: uppföljning till och med {period or '–'}", "Author": project.owner,
                    "Subject": f"Rapport till {project.funder}", "CreationDate": None}
        with PdfPages(buffer, metadata=metadata) as pdf:
            for number, page in enumerate(pages, start=1):
                figure = _page(project, period, number, len(pages))
                top = MARGIN
                for block in page:
                    block.draw(figure, top)
                    top += block.height
                pdf.savefig(figure)
    return buffer.getvalue()


def write_funder_pdf(project: Project, period: str | None, figures: dict[str, Figure], chart_png: bytes,
                     deliveries: list[dict], target: Path, mapping: list[dict] | None = None) -> Path:
    """rapport.pdf, written as rapport.html is (every run, the same bytes for the same figures)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(render_funder_pdf(project, period, figures, chart_png, deliveries, mapping))
    return target


# ---- layout ----------------------------------------------------------------------------------

def _paginate(blocks: list[Block]) -> list[list[Block]]:
    """Blocks in order, a new page where the next one does not fit. More pages than planned are
    the caller's to shorten: a report that does not fit is still written, never a failed run."""
    pages: list[list[Block]] = [[]]
    used = MARGIN
    for block in blocks:
        if used + block.height > BOTTOM and pages[-1]:
            pages.append([])
            used = MARGIN
        pages[-1].append(block)
        used += block.height
    return pages


def _page(project: Project, period: str | None, number: int, pages: int):
    from matplotlib.figure import Figure as Canvas

    figure = Canvas(figsize=A4)
    name = textwrap.shorten(project.name, width=80, placeholder=" …")
    _text(figure, MARGIN, A4[1] - 0.45, f"{name} · uppgifter till och med {period or '–'}", size=7, colour=GREY)
    _text(figure, RIGHT, A4[1] - 0.45, f"Sida {number} av {pages}", size=7, colour=GREY, align="right")
    return figure


def _text(figure, x: float, y: float, text: str, *, size: float = 9, colour: str = INK, align: str = "left",
          bold: bool = False) -> None:
    """Text with its baseline `y` inches from the top of the page, as written (a $ in a name is
    not the start of a formula)."""
    figure.text(x / A4[0], 1 - y / A4[1], text, fontsize=size, color=colour, ha=align, va="baseline",
                fontweight="bold" if bold else "normal", parse_math=False)


def _line_height(size: float) -> float:
    return size * 1.45 / 72


@functools.lru_cache(maxsize=8)
def _advances(size: float) -> Callable[[str], float]:
    """The width in inches of a text in the font at `size` points: the sum of its characters'
    hinted advances, each measured once (laying out every candidate line was the slow part)."""
    from matplotlib.font_manager import FontProperties, findfont
    from matplotlib.ft2font import FT2Font

    font = FT2Font(findfont(FontProperties(family="DejaVu Sans")))
    font.set_size(size, 72)

    @functools.lru_cache(maxsize=None)
    def advance(character: str) -> float:
        return font.load_char(ord(character)).horiAdvance / 64 / 72

    return lambda text: sum(advance(character) for character in text)


def _wrapped(text: str, size: float, width: float) -> list[str]:
    """Words in lines no wider than `width` inches, as the font draws them (a count of characters
    let a line of wide letters run past the margin)."""
    inches = _advances(size)
    space = inches(" ")
    lines: list[str] = []
    line_width = 0.0
    for word in text.split():
        word_width = inches(word)
        if lines and line_width + space + word_width <= width:
            lines[-1] = f"{lines[-1]} {word}"
            line_width += space + word_width
        else:
            lines.append(word)
            line_width = word_width
    return lines


def _paragraph(text: str, size: float = 7.5, colour: str = INK) -> Block:
    """Prose wrapped to the text column."""
    lines = _wrapped(text, size, RIGHT - MARGIN)
    step = _line_height(size)

    def draw(figure, top: float) -> None:
        for i, line in enumerate(lines):
            _text(figure, MARGIN, top + step * (i + 1), line, size=size, colour=colour)

    return Block(step * len(lines) + 0.04, draw)


def _space(height: float) -> Block:
    return Block(height, lambda figure, top: None)


def _stack(blocks: list[Block]) -> Block:
    """Blocks drawn one under the other, kept on one page."""

    def draw(figure, top: float) -> None:
        for block in blocks:
            block.draw(figure, top)
            top += block.height

    return Block(sum(block.height for block in blocks), draw)


def _section(title: str, first: Block) -> list[Block]:
    """A section heading kept on the page of the section's first block."""
    height = 0.42

    def draw(figure, top: float) -> None:
        _text(figure, MARGIN, top + 0.3, title, size=11, bold=True)
        first.draw(figure, top + height)

    return [Block(height + first.height, draw)]


def _table(columns: list[tuple[str, float, str]], rows: list[list[str]], size: float = 9,
           bold_last: bool = False) -> Block:
    """columns: (label, x in inches, 'left'/'right'); the labels grey over a rule, then the rows."""
    step = _line_height(size) + 0.05

    def draw(figure, top: float) -> None:
        for label, x, align in columns:
            _text(figure, x, top + step - 0.04, label, size=size - 1, colour=GREY, align=align)
        _rule(figure, top + step + 0.03)
        for i, row in enumerate(rows, start=2):
            last = bold_last and i == len(rows) + 1
            for (_, x, align), cell in zip(columns, row):
                _text(figure, x, top + step * i - 0.04, cell, size=size, align=align, bold=last)

    return Block(step * (len(rows) + 1) + 0.1, draw)


def _rule(figure, y: float) -> None:
    from matplotlib.lines import Line2D

    height = 1 - y / A4[1]
    figure.add_artist(Line2D([MARGIN / A4[0], RIGHT / A4[0]], [height, height], color="#bdbdbd", linewidth=0.5))


# ---- what the pages show -----------------------------------------------------------------------

def _heading(project: Project, period: str | None) -> list[Block]:
    title = textwrap.wrap(project.name, width=48)
    facts = textwrap.wrap(f"{project.owner} · finansiär {project.funder}", width=105)
    facts.append(f"Projektperiod {project.period_start} – {project.period_end} · uppgifter till och med {period or '–'}")
    title_step, step = 0.32, _line_height(9) + 0.02
    below_title = 0.28 + title_step * (len(title) - 1)

    def draw(figure, top: float) -> None:
        for i, line in enumerate(title):
            _text(figure, MARGIN, top + 0.3 + title_step * i, line, size=17, bold=True)
        for i, line in enumerate(facts):
            _text(figure, MARGIN, top + 0.3 + below_title + step * i, line, size=9, colour=GREY)

    return [Block(0.47 + below_title + step * len(facts), draw)]


def _targets(project: Project, figures: dict[str, Figure]) -> list[Block]:
    columns = [("", MARGIN, "left"), ("Utfall", 4.9, "right"), ("Mål", 6.2, "right"), ("Målet nått", RIGHT, "right")]
    rows = [list(row) for row in report_rows(project, figures)]
    return _section("Mål och utfall", _table(columns, rows, size=10))


def _chart(png: bytes) -> Block:
    """trend.png as it is (the HTML's chart), across the text column."""
    import matplotlib.image

    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    width = RIGHT - MARGIN
    height = width * image.shape[0] / image.shape[1]

    def draw(figure, top: float) -> None:
        axes = figure.add_axes((MARGIN / A4[0], 1 - (top + 0.1 + height) / A4[1], width / A4[0], height / A4[1]))
        axes.imshow(image, interpolation="none")
        axes.set_axis_off()

    return Block(height + 0.2, draw)


def _shown(kind: str, figure: Figure | None) -> str:
    if figure is not None and figure.suppressed:
        return HIDDEN
    return "–" if figure is None or figure.value is None else format_value(kind, figure.value)


def _funnel(figures: dict[str, Figure], period: str | None) -> list[Block]:
    """The active participants at the month's end and the phase each is in, as bars; a hidden
    figure has no bar."""
    shown = [figures[k].value for k in FUNNEL if k in figures and figures[k].value is not None]
    largest = max(shown, default=0) or 1
    step = 0.27
    bar_from, bar_to = 3.6, 6.6

    def draw(figure, top: float) -> None:
        from matplotlib.patches import Rectangle

        for i, kpi in enumerate(FUNNEL):
            baseline = top + step * (i + 1)
            item = figures.get(kpi)
            _text(figure, MARGIN + (0.2 if kpi in PHASES else 0), baseline, KPI_LABELS[kpi], size=9)
            _text(figure, RIGHT, baseline, _shown("count", item), size=9, align="right")
            if item is not None and item.value:
                length = (bar_to - bar_from) * item.value / largest
                bottom = 1 - (baseline + 0.03) / A4[1]
                figure.add_artist(Rectangle((bar_from / A4[0], bottom), length / A4[0], 0.17 / A4[1],
                                            transform=figure.transFigure, color=BAR if kpi in PHASES else "#3182bd",
                                            linewidth=0))

    bars = Block(step * len(FUNNEL) + 0.12, draw)
    note = _paragraph("I vilken fas de aktiva deltagarna var vid månadens slut, enligt månadens egen leverans "
                      "från varje kommun; en kommun som inte lämnat någon leverans för månaden saknas i faserna.",
                      colour=GREY)
    return [*_section(f"Faser vid månadens slut, {period or '–'}", bars), note]


def _mapping(project: Project, mapping: list[dict]) -> list[Block]:
    """Each domain's questions (the latest answers' shares of those answering, the persons
    answering) and the inventory, as the HTML shows them; nothing without mapping figures."""
    summaries = mapping_figures.question_summaries(mapping, project)
    inventory = mapping_figures.inventory_summary(mapping)
    if not summaries and not inventory:
        return []
    blocks: list[Block] = []
    for domain in mapping_figures.domains(summaries):
        entries = [_stack([_paragraph(f"{s['question']} ({mapping_answering_text(s)} svarande)", size=8.5),
                           _paragraph(mapping_answers_text(s), colour=GREY), _space(0.04)])
                   for s in summaries if s["domain"] == domain]
        heading = _paragraph(domain, size=9.5)
        first = _stack([heading, entries[0]])
        blocks += [*(_section("Kartläggning", first) if not blocks else [first]), *entries[1:]]
    if inventory:
        columns = [("", MARGIN, "left"), ("Antal", 5.6, "right"), ("Andel av målgruppen", RIGHT, "right")]
        table = _table(columns, [list(row) for row in mapping_inventory_rows(inventory)])
        blocks += _section("Inventering", table) if blocks else _section("Kartläggning: inventering", table)
    return [*blocks, _paragraph(MAPPING_NOTE, colour=GREY)]


def _quality(project: Project, period: str | None, deliveries: list[dict], per_municipality: bool) -> list[Block]:
    """Per municipality (or the project's total only): the months a delivery is in force for,
    the months without one, the rows of the deliveries in force (rejected and warned among them)
    and the rejected files."""
    months = [m for m in project.months() if period is not None and m <= period]
    names = load_kommuner()
    by_kommun: dict[str, list[dict]] = {kommunkod: [] for kommunkod in project.municipalities}
    for delivery in deliveries:
        if delivery.get("extract_kind", ENROLMENT) == ENROLMENT:     # the mapping files have their own section
            by_kommun.setdefault(delivery["kommunkod"], []).append(delivery)
    rows, totals = [], [0] * 6
    for kommunkod, own in sorted(by_kommun.items()):
        current = [d for d in own if d.get("is_current")]
        in_force = {d["reporting_month"] for d in current}
        figures = [len(in_force), len([m for m in months if m not in in_force]),
                   sum(d.get("rows_total") or 0 for d in current), sum(d.get("rows_rejected") or 0 for d in current),
                   sum(d.get("rows_warned") or 0 for d in current),
                   len([d for d in own if d.get("verdict") == REJECTED])]
        totals = [a + b for a, b in zip(totals, figures)]
        rows.append([f"{names.get(kommunkod, kommunkod)} ({kommunkod})", *map(str, figures)])
    if not per_municipality:
        rows = []
    rows.append(["Hela projektet", *map(str, totals)])
    columns = [("Kommun", MARGIN, "left"), ("Leveranser", 3.6, "right"), ("Saknas", 4.2, "right"),
               ("Rader", 4.8, "right"), ("Avvisade rader", 5.85, "right"), ("Med varning", 6.7, "right"),
               ("Avvisade filer", RIGHT, "right")]
    note = _paragraph(f"Leveranserna som talen bygger på, månaderna {months[0] if months else '–'} – {period or '–'}: "
                      "månader med en leverans som gäller och månader utan; raderna i de gällande leveranserna, och "
                      "bland dem de avvisade (räknas inte) och de med varning (räknas); filer som avvisats hela. "
                      "Varje leverans finns i kpi.xlsx, bladen Datakvalitet och Definitioner.", colour=GREY)
    return [*_section("Datakvalitet", _table(columns, rows, bold_last=True)), note]


def _definitions(project: Project) -> list[Block]:
    """One block: the definitions are read together, not across a page break."""
    shown = [*shown_kpis(project), *([PACE_KPI] if "participants" in project.targets else []), *FUNNEL]
    entries = [_paragraph(f"{KPI_LABELS[k]}: {KPI_DEFINITIONS[k]}") for k in dict.fromkeys(shown)]
    return _section("Definitioner", _stack([*entries, _space(0.08), _paragraph(report_note(project))]))

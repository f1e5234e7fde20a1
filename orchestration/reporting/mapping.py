"""The mapping figures (kartläggning) as funders and coordinators read them: the rows of
`marts.mapping_values` with the instrument's Swedish labels, through the same disclosure control
as kpi.csv, for kartlaggning.csv, the workbook's sheet Kartläggning, the one-page report and the
Dagster UI.

Disclosure control reuses reporting/suppression.py's machinery (the ledger, the greedy protection
and the release of unneeded cells) over the mapping's own cells: every figure is a count of
persons in an area and breakdown group - the persons whose answer is in a category (per measure),
the persons answering a question (`svar`), those answering it twice (`fore` and `efter` share
them), the persons in an inventory figure. The relations a reader may subtract along are
suppression.relations' (groups against their total, municipalities against ALL) and, for a
question each person answers with one category (all but multiple choice), its categories against
its base. Primary suppression is kpi.csv's: a count 1..min_count-1, a share whose numerator or
denominator is such a count or whose denominator is under thresholds.MIN_SHARE_DENOMINATOR.

Free text never reaches these rows: dbt never reads it (stg_landing__mapping_answers).
No Dagster import: the assets call these functions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestration.lib.mapping_contract import MULTIPLE_CHOICE
from orchestration.lib.warehouse import connect
from orchestration.projects.config import Project
from orchestration.reporting import suppression
from orchestration.reporting.suppression import Cell, Ledger, Table, apply_suppression

MAPPING_COLUMNS = ("project_id", "area", "domain", "question_id", "question", "measure", "category",
                   "category_label", "breakdown", "group", "value", "numerator", "denominator", "suppressed")

ANSWER = "svar"
BEFORE = "fore"
AFTER = "efter"
INVENTORY = "inventering"
INVENTORY_DOMAIN = "Inventering"
TARGET_POPULATION = "malpopulation"
MAPPED = "kartlagda"
MEASURE_LABELS = {ANSWER: "Senaste svar", BEFORE: "Före (första svaret)", AFTER: "Efter (senaste svaret)",
                  INVENTORY: "Inventering"}
INVENTORY_LABELS = {
    TARGET_POPULATION: "Målgruppens storlek (enligt projektplanen)",
    MAPPED: "Kartlagda personer",
    "utanfor_arbete_studier": "Utanför arbete och studier",
    "varken_af_eller_fs": "Varken inskrivna på Arbetsförmedlingen eller med försörjningsstöd",
}

_SELECT = """
select project_id, area, domain, question_id, question_order, measure, category, category_order,
       breakdown, breakdown_group as "group", value, numerator, denominator
from marts.mapping_values where project_id = ?
order by area = 'ALL' desc, area, measure = 'inventering', question_order,
         case measure when 'svar' then 1 when 'fore' then 2 when 'efter' then 3 else 4 end,
         breakdown = 'total' desc, breakdown, breakdown_group, category_order
"""


def exact_rows(warehouse: Path, project: Project) -> list[dict]:
    """The project's rows of marts.mapping_values with the question's text and the category's
    label; none for a project without an instrument or a warehouse whose marts predate the mapping."""
    if project.mapping is None or not warehouse.exists():
        return []
    with connect(warehouse, read_only=True) as db:
        present = db.execute("select count(*) from information_schema.tables "
                             "where table_schema = 'marts' and table_name = 'mapping_values'").fetchone()[0]
        if not present:
            return []
        cursor = db.execute(_SELECT, [project.id])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values)) for values in cursor.fetchall()]
    return [_labelled(row, project) for row in rows]


def _labelled(row: dict, project: Project) -> dict:
    if row["measure"] == INVENTORY:
        return {**row, "question": INVENTORY_LABELS.get(row["question_id"], row["question_id"]), "category_label": ""}
    question = project.mapping.question(row["question_id"])
    labels = {c.code: c.label for c in question.categories()} if question else {}
    return {**row, "question": question.text if question else row["question_id"],
            "category_label": labels.get(row["category"], row["category"])}


def published_rows(warehouse: Path, project: Project, unsuppressed: bool = False) -> list[dict]:
    """The rows of kartlaggning.csv: after disclosure control, or exact (`suppressed` false) for
    the coordinators' kartlaggning_internal.csv."""
    rows = exact_rows(warehouse, project)
    if unsuppressed:
        return [{**row, "suppressed": False} for row in rows]
    return suppress(rows, project)


# ---- disclosure control -----------------------------------------------------------------------

def _cells(row: Mapping) -> list[tuple[Cell, float]]:
    """The counts of persons a row shows: its numerator and, for an answer figure, its base."""
    where = (row["area"], row["breakdown"], row["group"])
    base = (row["project_id"], "")
    measure, question = row["measure"], row["question_id"]
    if measure == INVENTORY:
        if question == TARGET_POPULATION or row["numerator"] is None:
            return []                               # the configuration's figure, not a count of persons here
        return [((*base, f"{INVENTORY}:{question}", *where), float(row["numerator"]))]
    out = []
    if row["numerator"] is not None:
        out.append(((*base, f"{measure}:{question}:{row['category']}", *where), float(row["numerator"])))
    if row["denominator"] is not None:
        out.append(((*base, _base_quantity(measure, question), *where), float(row["denominator"])))
    return out


def _base_quantity(measure: str, question: str) -> str:
    """`fore` and `efter` are over the same persons: those who answered the question twice."""
    return f"{ANSWER}:{question}" if measure == ANSWER else f"twice:{question}"


def primarily_suppressed(row: Mapping, min_count: int) -> bool:
    """kpi.csv's rule (suppression.small_count, thin_share) on a row of mapping_values. The target
    population is the configuration's, not a count in the data."""
    if row["measure"] == INVENTORY and row["question_id"] == TARGET_POPULATION:
        return False
    if row["denominator"] is None:
        return suppression.small_count(row["numerator"], min_count)
    return suppression.thin_share(row["numerator"], row["denominator"], min_count)


def _category_relations(values: Mapping[Cell, float], project: Project) -> list[suppression.Relation]:
    """A question each person answers with one category: its categories add up to its base, per
    measure (fore and efter each to the persons answering twice)."""
    single = {q.id for q in project.mapping.questions if q.type != MULTIPLE_CHOICE} if project.mapping else set()
    parts: dict[tuple, list[Cell]] = defaultdict(list)
    for cell in values:
        project_id, period, quantity, area, breakdown, group = cell
        measure, _, rest = quantity.partition(":")
        question, _, category = rest.partition(":")
        if measure in (ANSWER, BEFORE, AFTER) and category and question in single:
            total = (project_id, period, _base_quantity(measure, question), area, breakdown, group)
            parts[(measure, total)].append(cell)
    return [suppression.Relation(total, tuple(sorted(cells))) for (_, total), cells in sorted(parts.items())
            if total in values]


def build_table(rows: Sequence[Mapping], project: Project) -> Table:
    row_cells: list[list[Cell]] = []
    values: dict[Cell, float] = {}
    cell_rows: dict[Cell, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        cells = _cells(row)
        row_cells.append([cell for cell, _ in cells])
        for cell, value in cells:
            values.setdefault(cell, value)
            cell_rows[cell].append(index)
    found = sorted([*suppression.relations(values), *_category_relations(values, project)],
                   key=lambda r: (r.total, r.parts))
    cell_relations: dict[Cell, list[int]] = defaultdict(list)
    for index, relation in enumerate(found):
        for cell in relation.cells:
            cell_relations[cell].append(index)
    return Table(values, row_cells, dict(cell_rows), found, dict(cell_relations))


def rows_to_hide(rows: Sequence[Mapping], project: Project) -> set[int]:
    """Primary, then secondary suppression (suppression.protect, then release_unneeded)."""
    table = build_table(rows, project)
    primary = {index for index, row in enumerate(rows) if primarily_suppressed(row, project.min_count)}
    ledger = Ledger(table, suppression.hidden_cells(table, primary))
    return suppression.release_unneeded(table, suppression.protect(table, primary, ledger), primary, ledger)


def suppress(rows: Sequence[Mapping], project: Project) -> list[dict]:
    """The rows with `suppressed`, a hidden row without value, numerator and denominator."""
    hidden = rows_to_hide(rows, project)
    return [{k: v for k, v in row.items() if k != "target_met"} for row in apply_suppression(rows, hidden)]


# ---- summaries --------------------------------------------------------------------------------

def total_rows(rows: Sequence[Mapping], area: str = "ALL") -> list[dict]:
    """The area's rows of the whole group (breakdown total)."""
    return [dict(r) for r in rows if r["area"] == area and r["breakdown"] == "total"]


def question_summaries(rows: Sequence[Mapping], project: Project, area: str = "ALL") -> list[dict]:
    """Per question of the instrument with figures (in its order): domain, text, its `svar`
    categories in order (label, share or None, suppressed) and the persons answering (None when
    hidden), from the area's total rows."""
    by_question: dict[str, list[dict]] = defaultdict(list)
    for row in total_rows(rows, area):
        if row["measure"] == ANSWER:
            by_question[row["question_id"]].append(row)
    summaries = []
    for question in project.mapping.questions if project.mapping else ():
        found = sorted(by_question.get(question.id, []), key=lambda r: r["category_order"])
        if not found:
            continue
        shown_base = next((r["denominator"] for r in found if not r.get("suppressed")), None)
        summaries.append({
            "domain": question.domain, "question_id": question.id, "question": question.text,
            "multiple": question.type == MULTIPLE_CHOICE, "answering": shown_base,
            "base_hidden": all(r.get("suppressed") for r in found),
            "categories": [(r["category_label"], None if r.get("suppressed") else r["value"], bool(r.get("suppressed")))
                           for r in found],
        })
    return summaries


def inventory_summary(rows: Sequence[Mapping], area: str = "ALL") -> list[dict]:
    """The area's inventory figures in order: label, count, share of the target population
    (ALL), suppressed."""
    found = [r for r in total_rows(rows, area) if r["measure"] == INVENTORY]
    found.sort(key=lambda r: r["question_order"])
    return [{"figure": r["question_id"], "label": r["question"], "count": r["numerator"],
             "share": r["value"] if r["denominator"] else None, "suppressed": bool(r.get("suppressed"))}
            for r in found]


def domains(summaries: Sequence[Mapping]) -> list[str]:
    return list(dict.fromkeys(s["domain"] for s in summaries))


def most_common(summary: Mapping) -> tuple[str, float] | None:
    """The category with the largest share (the first in order on a tie), of the shown ones."""
    shown = [(label, share) for label, share, hidden in summary["categories"] if not hidden and share is not None]
    if not shown:
        return None
    best = max(share for _, share in shown)
    return next((label, share) for label, share in shown if share == best)


def percent(share: float | None) -> str:
    """0.256 → '25,6 %' (Swedish decimal comma)."""
    return "–" if share is None else f"{share * 100:.1f} %".replace(".", ",")


def summary_markdown(project: Project, rows: Sequence[Mapping]) -> str:
    """The coordinators' summary of a project's mapping for the Dagster UI (exact figures, the
    whole project): per domain a table of its questions with the most common latest answer, its
    share and the persons answering; then the inventory figures."""
    from orchestration.lib.safe_text import markdown_cell

    summaries = question_summaries(rows, project)
    inventory = inventory_summary(rows)
    if not summaries and not inventory:
        return "Inga kartläggningssvar som räknas ännu."
    parts = [f"### {markdown_cell(project.name)}"]
    for domain in domains(summaries):
        lines = [f"**{markdown_cell(domain)}**", "", "| fråga | vanligaste svar | andel | svarande |", "|---|---|--:|--:|"]
        for s in (s for s in summaries if s["domain"] == domain):
            top = most_common(s)
            answering = "–" if s["answering"] is None else f"{s['answering']:.0f}"
            lines.append(f"| {markdown_cell(s['question'])} | {markdown_cell(top[0]) if top else '–'} | "
                         f"{percent(top[1]) if top else '–'} | {answering} |")
        parts.append("\n".join(lines))
    if inventory:
        lines = ["**Inventering**", "", "| figur | antal | andel av målgruppen |", "|---|--:|--:|"]
        for item in inventory:
            count = "–" if item["count"] is None else f"{item['count']:.0f}"
            share = "" if item["figure"] == TARGET_POPULATION else percent(item["share"])
            lines.append(f"| {markdown_cell(item['label'])} | {count} | {share} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)

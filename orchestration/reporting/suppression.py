"""Disclosure control for funder tables (kpis.md): primary and secondary suppression.

Pure functions on the long KPI rows `followup export` reads from marts.kpi_values; no warehouse,
no Dagster. The coordinators' warehouse keeps the exact figures; only funder exports pass here.

The model
---------
Every figure in a row is, or is made of, a count of persons in a *cell*: a quantity
(participants, exited, the numerator of not_known_share, …) in an area (kommunkod or ALL) and a
breakdown group. A count KPI shows one quantity; a share shows two (numerator and denominator;
its value is their ratio); `median_days_to_activity` shows one (the persons it is taken over, as
its denominator). `SHARE_QUANTITIES` says which quantity each share's parts are, so that
`activity_share`'s denominator and the `participants` row are known to be the same figure.

Primary suppression (the spec's rule, row by row): a count from 1 to min_count − 1; a share (or
median) whose numerator or denominator is such a count, or whose denominator is below 10. Zeros
are shown.

Secondary suppression. Someone who knows the definitions can add and subtract what is shown:

- within a breakdown: the groups add up to the total (K + M + X + OKAND = T);
- across areas: the municipalities add up to ALL. They do not quite (a person enrolled in two
  municipalities counts once in ALL), but we assume they do: that is the attacker's best case;
- across KPIs: participants = active_participants + exited (exact: everyone who started is
  either ongoing or has ended), and active_participants = the four phase counts (assumed).

A hidden cell is recoverable from such a relation when it is the only hidden cell in it. Since
zeros are always shown, a hidden cell is known to be at least 1, so when a relation's total is
shown and its hidden cells add up to exactly their number, each of them is 1: that too counts as
recoverable. A relation in either state is *unsafe*.

The heuristic (greedy, to a fixed point over all relations at once): while some relation is
unsafe, hide in it the shown part with the smallest non-zero value (the total only when no part
is left; zeros are never hidden). Hiding a cell can make another relation unsafe, so that one is
checked again. Then every row that shows a hidden cell is hidden; a cell that no shown row
reveals any more (the parts of a share hidden for its small denominator) is protected the same
way, and the whole is repeated until nothing changes. It does not find the fewest cells to hide
(an integer programme would); it hides the smallest ones it can, one relation at a time.

What it does not protect against: combining several relations into one system of equations
(each relation on its own is safe, but in a rare pattern a cell can be isolated by adding and
subtracting whole rows and columns), narrowing a hidden cell to a range, ratios between shown
counts (a share hidden only for its denominator below 10 can still be computed from the two
counts if both are shown: that rule is about reliability, not disclosure), and subtracting two
months' exports from each other (each kpi.csv holds one month; the cumulative counts of two
consecutive months differ by that month's new participants).
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from orchestration.projects.config import COUNT_KPIS

MIN_SHARE_DENOMINATOR = 10
ALL_AREAS = "ALL"
TOTAL = ("total", "T")

# (project_id, period, quantity, area, breakdown, group)
Cell = tuple[str, str, str, str, str, str]

# What the numerator and denominator of each non-count KPI count (None: not a count of persons,
# e.g. a target). A KPI not listed here gets quantities of its own, '<kpi>:numerator' and
# '<kpi>:denominator', which are protected by the same relations.
SHARE_QUANTITIES: dict[str, tuple[str | None, str | None]] = {
    "activity_share": ("moved_to_activity", "participants"),
    "exit_activity_share": ("exited_to_activity", "exited"),
    "not_known_share": ("not_known", "known_start_status"),
    "income_support_start_share": ("income_support_at_start", "known_income_support"),
    "income_support_end_share": ("income_support_at_end", "known_income_support"),
    "outcome_6m_activity_share": ("outcome_6m_activity", "known_outcome_6m"),
    "from_other_project_share": ("from_other_project", "participants"),
    "participants_target_share": ("participants", None),   # over the project's target
    "reach": ("participants", None),                       # over the target population
    "median_days_to_activity": (None, "moved_to_activity"),
    "participants_pace_target": (None, None),              # a target, not data
}

# Counts that are the sum of other counts, for the same area and group.
PARTITIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("participants", ("active_participants", "exited")),
    ("active_participants", ("phase_hitta", "phase_mota", "phase_aktivera", "phase_matcha")),
)


@dataclass(frozen=True)
class Relation:
    """total = sum(parts), as someone reading the table may assume."""

    total: Cell
    parts: tuple[Cell, ...]


def is_number(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def revealed_cells(row: Mapping) -> list[tuple[Cell, float]]:
    """The counts of persons a row shows when it is not suppressed."""
    where = (row["area"], row["breakdown"], row["group"])
    base = (row["project_id"], row["period"])
    kpi = row["kpi"]
    if kpi in COUNT_KPIS:
        return [((*base, kpi, *where), float(row["value"]))] if is_number(row["value"]) else []
    numerator, denominator = SHARE_QUANTITIES.get(kpi, (f"{kpi}:numerator", f"{kpi}:denominator"))
    cells = []
    if numerator and is_number(row["numerator"]):
        cells.append(((*base, numerator, *where), float(row["numerator"])))
    if denominator and is_number(row["denominator"]):
        cells.append(((*base, denominator, *where), float(row["denominator"])))
    return cells


def primarily_suppressed(row: Mapping, min_count: int) -> bool:
    """The spec's rule: a count 1..min_count-1; a share or median whose numerator or denominator
    is such a count or whose denominator is below 10. Zeros are shown."""
    def small(value: object) -> bool:
        return is_number(value) and 0 < value < min_count

    if row["kpi"] in COUNT_KPIS:
        return small(row["value"])
    if is_number(row["denominator"]):
        return small(row["numerator"]) or small(row["denominator"]) or row["denominator"] < MIN_SHARE_DENOMINATOR
    return False


def relations(cells: Iterable[Cell]) -> list[Relation]:
    """Every additive relation among the cells: groups vs total, municipalities vs ALL, and the
    KPI partitions. A relation whose total is not in the table is left out (nothing to subtract from)."""
    present = set(cells)
    found: list[Relation] = []
    by_breakdown: dict[tuple, list[Cell]] = defaultdict(list)
    by_area: dict[tuple, list[Cell]] = defaultdict(list)
    for cell in present:
        project, period, quantity, area, breakdown, group = cell
        if (breakdown, group) != TOTAL:
            by_breakdown[(project, period, quantity, area, breakdown)].append(cell)
        if area != ALL_AREAS:
            by_area[(project, period, quantity, breakdown, group)].append(cell)
    for (project, period, quantity, area, _), parts in by_breakdown.items():
        total = (project, period, quantity, area, *TOTAL)
        if total in present:
            found.append(Relation(total, tuple(sorted(parts))))
    for (project, period, quantity, breakdown, group), parts in by_area.items():
        total = (project, period, quantity, ALL_AREAS, breakdown, group)
        if total in present:
            found.append(Relation(total, tuple(sorted(parts))))
    for cell in present:
        project, period, quantity, area, breakdown, group = cell
        for whole, names in PARTITIONS:
            if quantity == whole:
                parts = tuple(p for name in names if (p := (project, period, name, area, breakdown, group)) in present)
                if parts:
                    found.append(Relation(cell, parts))
    return sorted(found, key=lambda r: (r.total, r.parts))


def is_unsafe(relation: Relation, values: Mapping[Cell, float], hidden: set[Cell]) -> bool:
    """One hidden cell alone, or hidden parts under a shown total that can only all be 1."""
    hidden_parts = [c for c in relation.parts if c in hidden]
    count = len(hidden_parts) + (relation.total in hidden)
    if count == 1:
        return True
    return (count >= 2 and relation.total not in hidden
            and sum(values[c] for c in hidden_parts) == len(hidden_parts))


def _complement(relation: Relation, values: Mapping[Cell, float], hidden: set[Cell]) -> Cell | None:
    """The cell to hide next in an unsafe relation: the smallest non-zero shown part, else the total."""
    parts = [c for c in relation.parts if c not in hidden and values[c] > 0]
    if parts:
        return min(parts, key=lambda c: (values[c], c))
    if relation.total not in hidden and values[relation.total] > 0:
        return relation.total
    return None


def protect(values: Mapping[Cell, float], hidden: set[Cell], relations: Sequence[Relation]) -> set[Cell]:
    """Add cells to `hidden` until no relation is unsafe (greedy, smallest non-zero first)."""
    hidden = set(hidden)
    containing: dict[Cell, list[int]] = defaultdict(list)
    for index, relation in enumerate(relations):
        for cell in (relation.total, *relation.parts):
            containing[cell].append(index)
    queue = deque(range(len(relations)))
    queued = set(queue)
    while queue:
        index = queue.popleft()
        queued.discard(index)
        relation = relations[index]
        if not is_unsafe(relation, values, hidden):
            continue
        cell = _complement(relation, values, hidden)
        if cell is None:
            continue  # nothing non-zero left to hide: every cell of it is hidden or zero
        hidden.add(cell)
        for other in (index, *containing[cell]):
            if other not in queued:
                queue.append(other)
                queued.add(other)
    return hidden


def suppress(rows: Sequence[Mapping], min_count: int) -> list[dict]:
    """Primary and secondary suppression of funder rows; a hidden row keeps its keys and target
    and gets `suppressed` true and blank value, numerator, denominator and target_met."""
    revealed = [revealed_cells(row) for row in rows]
    values: dict[Cell, float] = {}
    for cells in revealed:
        for cell, value in cells:
            values.setdefault(cell, value)
    all_relations = relations(values)
    primary = [primarily_suppressed(row, min_count) for row in rows]
    hidden = {cell for cell, value in values.items() if 0 < value < min_count}
    while True:
        row_hidden = [p or any(cell in hidden for cell, _ in cells) for p, cells in zip(primary, revealed)]
        shown = {cell for is_hidden, cells in zip(row_hidden, revealed) if not is_hidden for cell, _ in cells}
        needed = hidden | {cell for cell, value in values.items() if value > 0 and cell not in shown}
        protected = protect(values, needed, all_relations)
        if protected == hidden:
            break
        hidden = protected
    out = []
    for row, is_hidden in zip(rows, row_hidden):
        row = dict(row)
        row["suppressed"] = is_hidden
        if is_hidden:
            row["value"] = row["numerator"] = row["denominator"] = row["target_met"] = None
        out.append(row)
    return out

"""Disclosure control for funder tables (kpis.md): primary and secondary suppression.

Pure functions on the long KPI rows `followup export` reads from marts.kpi_values; no warehouse,
no Dagster. The coordinators' warehouse keeps the exact figures; only funder exports pass here.

The model
---------
Every figure in a row is, or is made of, a count of persons in a *cell*: a quantity
(participants, exited, the numerator of not_known_share, …) in an area (kommunkod or ALL) and a
breakdown group. A count KPI shows one quantity; a share shows two (numerator and denominator;
its value is their ratio); `median_days_to_activity` shows one (the persons it is taken over, as
its denominator). The KPI catalogue (lib/kpis.py) says which quantity each share's parts are, so
that `activity_share`'s denominator and the `participants` row are known to be the same figure. A
cell is hidden when every row that shows it is hidden; a share's own numerator (not_known, …)
is shown by that share's row only, so hiding it hides its denominator there too.

Primary suppression (the spec's rule, row by row): a count from 1 to min_count − 1; a share (or
median) whose numerator or denominator is such a count, or whose denominator is below 10. Zeros
are shown, so a reader knows that every hidden count is at least 1.

Secondary suppression protects these relations, each `total = sum of parts`, for every quantity:

- within a breakdown: the groups add up to the total (K + M + X = T), in every area;
- across areas: the municipalities add up to ALL, in every group. They do not quite (a person
  enrolled in two municipalities counts once in ALL), but the reader is assumed to take them as
  exact: that is the attacker's best case;
- across KPIs: a count and the counts the catalogue names as its parts (`part_of`):
  participants = active_participants + exited (exact: everyone who started is either ongoing or
  has ended), and active_participants = the four phase counts (taken as exact; in the warehouse
  the phases come from each month's own snapshot and only nearly add up).

The attack protected against is the one the spec names, subtraction: a reader takes one relation,
puts in the shown figures and solves for a hidden one. That works when exactly one figure of the
relation is hidden and the result is a possible count (at least 1: a relation that is not exact
can give 0 or less, which the reader knows to be wrong). It also works with several hidden parts
under a shown total when they add up to exactly their number: each is at least 1, so each is 1.
What one relation gives away can be put into the next, but when no single relation gives
anything away, that chain never starts.

The heuristic. Greedy, to a fixed point over all relations at once: while a relation gives a
figure away, hide one more non-zero cell of it (zeros are never hidden), choosing the one after
which the fewest relations around it give anything away, then the smallest. That looks one step
ahead, so partners line up (hiding the same group in a second municipality protects the group's
relation across areas and that municipality's breakdown at once). Then the other way: every
secondarily hidden row is shown again, the ones hiding the largest figures first, when that gives
nothing away, until no such row is left. So every secondary suppression that remains is needed
(showing it alone would give a figure away), which is not the same as the fewest cells an integer
programme would find, but it never hides a cell for nothing.

What it does not protect against: solving several relations as one system of equations (each
relation on its own gives nothing away, but e.g. a hidden total and one hidden group can differ
by a known amount, and adding and subtracting whole rows and columns can isolate a cell in a rare
pattern); narrowing a hidden cell to a range (two hidden cells under a shown total are each
between 1 and the remainder − 1); relations among other quantities than those above
(moved_to_activity against exited, a share's denominator against participants, which it is a part
of); ratios between shown counts (a share hidden only for its denominator below 10 can still be
computed from the two counts if both are shown: that rule is about reliability, not disclosure);
and subtracting months: each month is suppressed on its own, yet participants of two consecutive
months differ by exactly the later month's new_participants when both come from the same
snapshots (as in the trend of one kpi.xlsx), so a hidden new_participants can be recovered from
two shown participants figures; protecting that needs the months suppressed together.
"""

from __future__ import annotations

import contextlib
import gc
import math
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter

import numpy as np

from orchestration.lib import kpis
from orchestration.lib.thresholds import MIN_SHARE_DENOMINATOR

ALL_AREAS = "ALL"
TOTAL = ("total", "T")

# (project_id, period, quantity, area, breakdown, group)
Cell = tuple[str, str, str, str, str, str]

# What the numerator (a count: its value) and denominator of each KPI are as counts of persons
# (None: absent, or not a count of persons, e.g. a target), and which KPIs are counts: from the
# KPI catalogue, looked up once per row.
_QUANTITIES: dict[str, tuple[str | None, str | None]] = {k.id: k.counts_of_persons() for k in kpis.catalogue().values()}
_COUNT_KPIS = frozenset(kpis.of_kind("count"))
# Counts that are the sum of other counts, for the same area and group (the catalogue's part_of).
PARTITIONS: tuple[tuple[str, tuple[str, ...]], ...] = kpis.partitions()


def quantities(kpi: str) -> tuple[str | None, str | None]:
    """A KPI's quantities (_QUANTITIES). One the catalogue does not know gets quantities of its
    own, '<kpi>:numerator' and '<kpi>:denominator', which are protected by the same relations."""
    found = _QUANTITIES.get(kpi)
    return (f"{kpi}:numerator", f"{kpi}:denominator") if found is None else found


@dataclass(frozen=True)
class Relation:
    """total = sum(parts), as someone reading the table may assume."""

    total: Cell
    parts: tuple[Cell, ...]

    @property
    def cells(self) -> tuple[Cell, ...]:
        return (self.total, *self.parts)


@dataclass(frozen=True)
class Table:
    """The cells the rows show and the relations among them, indexed both ways. A cell is a Cell,
    or its number (_numbered_table): anything hashable that orders as the cells do."""

    values: dict[Cell, float]
    row_cells: list[list[Cell]]
    cell_rows: dict[Cell, list[int]]
    relations: list[Relation]
    cell_relations: dict[Cell, list[int]]


def is_number(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def revealed_cells(row: Mapping) -> list[tuple[Cell, float]]:
    """The counts of persons a row shows when it is not suppressed."""
    where = (row["area"], row["breakdown"], row["group"])
    base = (row["project_id"], row["period"])
    numerator, denominator = quantities(row["kpi"])
    if row["kpi"] in _COUNT_KPIS:
        return [((*base, numerator, *where), float(row["value"]))] if is_number(row["value"]) else []
    cells = []
    if numerator and is_number(row["numerator"]):
        cells.append(((*base, numerator, *where), float(row["numerator"])))
    if denominator and is_number(row["denominator"]):
        cells.append(((*base, denominator, *where), float(row["denominator"])))
    return cells


def primarily_suppressed(row: Mapping, min_count: int) -> bool:
    """The spec's rule for a row of kpi_values: a count 1..min_count-1; a share or median whose
    numerator or denominator is such a count or whose denominator is below 10. Zeros are shown."""
    return _primary(row["kpi"], row.get("value"), row.get("numerator"), row.get("denominator"), min_count)


def _primary(kpi: str, value: object, numerator: object, denominator: object, min_count: int) -> bool:
    if kpi in _COUNT_KPIS:
        return small_count(value, min_count)
    if is_number(denominator):
        return thin_share(numerator, denominator, min_count)
    return False


def small_count(value: object, min_count: int) -> bool:
    """A count that would single people out: 1..min_count-1 (zero is shown)."""
    return is_number(value) and 0 < value < min_count


def thin_share(numerator: object, denominator: float, min_count: int) -> bool:
    """A share that would: its numerator or denominator a small count, or its denominator under
    MIN_SHARE_DENOMINATOR (so also a share of nobody)."""
    return (small_count(numerator, min_count) or small_count(denominator, min_count)
            or denominator < MIN_SHARE_DENOMINATOR)


def relations(cells: Iterable[Cell]) -> list[Relation]:
    """Every additive relation among the cells: groups vs total, municipalities vs ALL, and the
    KPI partitions. A relation whose total is not in the table is left out (nothing to subtract from).

    Sorted by total, then parts. The cells are sorted once first, so each group's parts come out
    in order and the relations nearly so (one sort of ~110 000 cells instead of one per group and
    another of the relations' tuples: a national month's table, BENCHMARKS.md)."""
    present = set(cells)
    ordered = sorted(present)
    found: list[Relation] = []
    by_breakdown: dict[tuple, list[Cell]] = defaultdict(list)
    by_area: dict[tuple, list[Cell]] = defaultdict(list)
    partitioned: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for whole, names in PARTITIONS:
        partitioned[whole].append(names)
    wholes: list[Cell] = []
    total_breakdown, total_group = TOTAL
    for cell in ordered:
        project, period, quantity, area, breakdown, group = cell
        if breakdown != total_breakdown or group != total_group:
            by_breakdown[(project, period, quantity, area, breakdown)].append(cell)
        if area != ALL_AREAS:
            by_area[(project, period, quantity, breakdown, group)].append(cell)
        if quantity in partitioned:
            wholes.append(cell)
    for (project, period, quantity, area, _), parts in by_breakdown.items():
        total = (project, period, quantity, area, *TOTAL)
        if total in present:
            found.append(Relation(total, tuple(parts)))          # in order: the cells were
    for (project, period, quantity, breakdown, group), parts in by_area.items():
        total = (project, period, quantity, ALL_AREAS, breakdown, group)
        if total in present:
            found.append(Relation(total, tuple(parts)))
    for cell in wholes:
        project, period, quantity, area, breakdown, group = cell
        for names in partitioned[quantity]:
            parts = tuple(p for name in names if (p := (project, period, name, area, breakdown, group)) in present)
            if parts:
                found.append(Relation(cell, parts))
    return sorted(found, key=lambda r: (r.total, r.parts))


def build_table(rows: Sequence[Mapping]) -> Table:
    row_cells: list[list[Cell]] = []
    values: dict[Cell, float] = {}
    cell_rows: dict[Cell, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        cells = revealed_cells(row)
        row_cells.append([cell for cell, _ in cells])
        for cell, value in cells:
            values.setdefault(cell, value)
            cell_rows[cell].append(index)
    found = relations(values)
    cell_relations: dict[Cell, list[int]] = defaultdict(list)
    for index, relation in enumerate(found):
        cell_relations[relation.total].append(index)
        for cell in relation.parts:
            cell_relations[cell].append(index)
    return Table(values, row_cells, dict(cell_rows), found, dict(cell_relations))


class Ledger:
    """What each relation shows, kept up to date as cells are hidden and shown: how many of its
    parts are hidden, the sum of its shown parts and whether its total is hidden. Asking whether a
    relation gives a figure away then costs the same for a breakdown of three groups as for a
    national table's 290 municipalities under ALL, and so does asking it of a trial (a few cells
    more hidden or shown) without copying the hidden set. The sums are of counts of persons, whole
    numbers, so adding and taking away as floats stays exact."""

    def __init__(self, table: Table, hidden: set[Cell]):
        self.table = table
        self.hidden = set(hidden)
        self.hidden_parts = [0] * len(table.relations)
        self.shown_sum = [0.0] * len(table.relations)
        for index, relation in enumerate(table.relations):
            for cell in relation.parts:
                if cell in self.hidden:
                    self.hidden_parts[index] += 1
                else:
                    self.shown_sum[index] += table.values[cell]

    def hide(self, cells: Iterable[Cell]) -> None:
        for cell in cells:
            if cell not in self.hidden:
                self.hidden.add(cell)
                self._count(cell, 1)

    def show(self, cells: Iterable[Cell]) -> None:
        for cell in cells:
            if cell in self.hidden:
                self.hidden.discard(cell)
                self._count(cell, -1)

    def _count(self, cell: Cell, hidden: int) -> None:
        for index in self.table.cell_relations.get(cell, ()):
            if self.table.relations[index].total != cell:
                self.hidden_parts[index] += hidden
                self.shown_sum[index] -= hidden * self.table.values[cell]

    def gives_away(self, index: int, hiding: Iterable[Cell] = (), showing: Iterable[Cell] = ()) -> bool:
        """Whether a reader who takes relation `index` as exact, sees its shown cells and knows
        that a hidden count is at least 1 can work out a hidden count from it alone; with
        `hiding` (cells now shown) hidden and `showing` (cells now hidden) shown, as a trial."""
        relation = self.table.relations[index]
        hidden_parts, shown_parts = self.hidden_parts[index], self.shown_sum[index]
        total_hidden = relation.total in self.hidden
        for cells, sign in ((hiding, 1), (showing, -1)) if hiding or showing else ():
            for cell in cells:
                if index not in self.table.cell_relations.get(cell, ()):
                    continue
                if cell == relation.total:
                    total_hidden = sign > 0
                else:
                    hidden_parts += sign
                    shown_parts -= sign * self.table.values[cell]
        if hidden_parts + total_hidden == 0:
            return False
        if total_hidden:
            return hidden_parts == 0 and shown_parts >= 1
        remainder = self.table.values[relation.total] - shown_parts
        if hidden_parts == 1:
            return remainder >= 1
        return remainder == hidden_parts


def hidden_cells(table: Table, hidden_rows: set[int]) -> set[Cell]:
    """The non-zero cells no shown row shows. Zeros are never hidden: the spec shows them, and a
    zero a share row hides (its denominator below 10) can be read off a count it is part of."""
    return {cell for cell, rows in table.cell_rows.items()
            if table.values[cell] > 0 and all(row in hidden_rows for row in rows)}


def consequences(table: Table, cell: Cell, hidden_rows: set[int], hidden: set[Cell]) -> tuple[list[int], set[Cell]]:
    """The rows to hide so that `cell` is hidden, and the cells hidden with them (the cell, and a
    share's own numerator or denominator that no other row shows)."""
    rows = [row for row in table.cell_rows[cell] if row not in hidden_rows]
    cells = {cell}
    for row in rows:
        for other in table.row_cells[row]:
            if other not in hidden and table.values[other] > 0 and \
                    all(r in hidden_rows or r in rows for r in table.cell_rows[other]):
                cells.add(other)
    return rows, cells


def partner(table: Table, relation: Relation, hidden_rows: set[int], ledger: Ledger) -> Cell:
    """The shown non-zero cell of an unsafe relation to hide next: the one after which the fewest
    relations around it give anything away, then the one hiding the least."""
    best: tuple | None = None
    for cell in relation.cells:
        if cell in ledger.hidden or table.values[cell] <= 0:
            continue
        _, cells = consequences(table, cell, hidden_rows, ledger.hidden)
        around = {index for other in cells for index in table.cell_relations.get(other, ())}
        unsafe = sum(1 for index in around if ledger.gives_away(index, hiding=cells))
        cost = (unsafe, sum(table.values[other] for other in cells), cell)
        if best is None or cost < best:
            best = cost
    # An unsafe relation always has a shown non-zero cell: a figure that can be worked out as at
    # least 1 is a difference or sum of shown figures, and not all of them are 0.
    assert best is not None, relation
    return best[-1]


def protect(table: Table, hidden_rows: set[int], ledger: Ledger) -> set[int]:
    """Hide rows until no relation gives a hidden count away (greedy, one step of lookahead).
    `ledger` starts with the cells `hidden_rows` hide and ends with those of the rows returned."""
    hidden_rows = set(hidden_rows)
    queue = deque(range(len(table.relations)))
    queued = set(queue)
    while queue:
        index = queue.popleft()
        queued.discard(index)
        if not ledger.gives_away(index):
            continue
        cell = partner(table, table.relations[index], hidden_rows, ledger)
        rows, cells = consequences(table, cell, hidden_rows, ledger.hidden)
        hidden_rows.update(rows)
        ledger.hide(cells)
        for cell in sorted(cells):  # sorted: the same table always gets the same suppression
            for other in table.cell_relations.get(cell, ()):
                if other not in queued:
                    queue.append(other)
                    queued.add(other)
    return hidden_rows


def release_unneeded(table: Table, hidden_rows: set[int], primary_rows: set[int], ledger: Ledger) -> set[int]:
    """Show again every secondarily hidden row that no relation needs hidden, the rows hiding the
    largest figures first, until each one left would give something away if shown alone.
    `ledger` starts with the cells `hidden_rows` hide and ends with those of the rows returned."""
    hidden_rows = set(hidden_rows)
    released = True
    while released:
        released = False
        for row in sorted(hidden_rows - primary_rows,
                          key=lambda row: (-sum(table.values[c] for c in table.row_cells[row] if c in ledger.hidden), row)):
            showing = [cell for cell in table.row_cells[row] if cell in ledger.hidden]
            around = {index for cell in table.row_cells[row] for index in table.cell_relations.get(cell, ())}
            if not any(ledger.gives_away(index, showing=showing) for index in around):
                hidden_rows.discard(row)
                ledger.show(showing)
                released = True
    return hidden_rows


def suppress(rows: Sequence[Mapping], min_count: int) -> list[dict]:
    """Primary and secondary suppression of funder rows; a hidden row keeps its keys and target
    and gets `suppressed` true and blank value, numerator, denominator and target_met."""
    return apply_suppression(rows, rows_to_hide(rows, min_count))


def rows_to_hide(rows: Sequence[Mapping], min_count: int) -> set[int]:
    """The positions of the rows to hide: primary, then secondary suppression."""
    return positions_to_hide(ROW_COLUMNS, [tuple(row.get(name) for name in ROW_COLUMNS) for row in rows], min_count)


# The columns of a row that disclosure control reads, in the order positions_to_hide takes them.
ROW_COLUMNS = ("project_id", "period", "kpi", "area", "breakdown", "group", "value", "numerator", "denominator")


def positions_to_hide(names: Sequence[str], values: Sequence[Sequence], min_count: int) -> set[int]:
    """rows_to_hide of rows as tuples whose columns `names` names (ROW_COLUMNS at least): a
    national month's ~106 000 rows need not become dicts first."""
    rows = list(map(itemgetter(*(list(names).index(name) for name in ROW_COLUMNS)), values))
    with _no_cyclic_gc():
        table = _numbered_table(rows) or build_table([dict(zip(ROW_COLUMNS, row)) for row in rows])
        primary_rows = {index for index, (_, _, kpi, _, _, _, value, numerator, denominator) in enumerate(rows)
                        if _primary(kpi, value, numerator, denominator, min_count)}
        ledger = Ledger(table, hidden_cells(table, primary_rows))
        return release_unneeded(table, protect(table, primary_rows, ledger), primary_rows, ledger)


def _numbered_table(rows: list[tuple]) -> Table | None:
    """build_table of rows as tuples of ROW_COLUMNS, each cell a number instead of a tuple of six
    texts: the numbers order as the tuples do (each part's rank among the table's texts, in the
    tuple's order, as the digits of one number), so protect and release_unneeded, which break ties
    by a cell's order, hide the same rows, with a fraction of the hashing and comparing; and the
    cells and relations are found with numpy, not row by row (a national month: ~106 000 rows,
    ~112 000 cells, ~44 000 relations: 1.2 -> 0.4 s). None when a part of a cell is not a text
    (build_table then): texts alone are ordered the same way as numbers and tuples."""
    kpi_quantities = {kpi: quantities(kpi) for kpi in {row[2] for row in rows}}
    if any(kpi in _COUNT_KPIS and numerator is None for kpi, (numerator, _) in kpi_quantities.items()):
        return None
    named = {q for pair in kpi_quantities.values() for q in pair if q is not None}
    named |= {q for whole, parts in PARTITIONS for q in (whole, *parts)}
    parts_of = [{row[i] for row in rows} for i in (0, 1)]
    parts_of[2:2] = [named]
    parts_of += [{row[3] for row in rows} | {ALL_AREAS}, {row[4] for row in rows} | {TOTAL[0]},
                 {row[5] for row in rows} | {TOTAL[1]}]
    if not rows or not all(isinstance(text, str) for texts in parts_of for text in texts):
        return None
    # rank × stride of every text of each part (project, period, quantity, area, breakdown, group)
    strides = [1] * 6
    for i in range(4, -1, -1):
        strides[i] = strides[i + 1] * len(parts_of[i + 1])
    if strides[0] * len(parts_of[0]) >= 2 ** 62:
        return None
    digit = [{text: rank * stride for rank, text in enumerate(sorted(texts))} for texts, stride in zip(parts_of, strides)]
    project_of, period_of, quantity_of, area_of, breakdown_of, group_of = digit

    count = len(rows)
    projects, periods, kpi_column, areas, breakdowns, groups, value, numerator, denominator = zip(*rows)

    def digits(of: dict, texts: tuple) -> np.ndarray:
        return np.fromiter(map(of.__getitem__, texts), dtype=np.int64, count=count)

    def figures(column: tuple) -> np.ndarray:
        """NaN where is_number is false (None or NaN)."""
        return np.array([math.nan if v is None else v for v in column], dtype=np.float64)

    where = (digits(project_of, projects) + digits(period_of, periods) + digits(area_of, areas)
             + digits(breakdown_of, breakdowns) + digits(group_of, groups))
    kpi_ids = list(kpi_quantities)
    kpi = digits({k: i for i, k in enumerate(kpi_ids)}, kpi_column)
    is_count = np.array([k in _COUNT_KPIS for k in kpi_ids])[kpi]
    numerator_of, denominator_of = (np.array([-1 if kpi_quantities[k][part] is None else quantity_of[kpi_quantities[k][part]]
                                              for k in kpi_ids], dtype=np.int64)[kpi] for part in (0, 1))
    # A row shows its first cell (a count's value, or a share's numerator) and a share its denominator.
    first_figure = np.where(is_count, figures(value), figures(numerator))
    first_cell, first_shown = where + numerator_of, (numerator_of >= 0) & ~np.isnan(first_figure)
    second_figure = figures(denominator)
    second_cell, second_shown = where + denominator_of, ~is_count & (denominator_of >= 0) & ~np.isnan(second_figure)
    positions = np.arange(count, dtype=np.int64)
    cells = np.concatenate([first_cell[first_shown], second_cell[second_shown]])
    seen = np.concatenate([2 * positions[first_shown], 2 * positions[second_shown] + 1])   # in the rows' order
    shown = np.concatenate([first_figure[first_shown], second_figure[second_shown]])
    order = np.lexsort((seen, cells))
    cells, seen, shown = cells[order], seen[order], shown[order]
    starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]]) if len(cells) else np.zeros(0, dtype=np.int64)
    numbered = cells[starts]
    ordered = numbered.tolist()
    values = dict(zip(ordered, shown[starts].tolist()))             # the figure of a cell's first row
    showing = (seen >> 1).tolist()
    bounds = [*starts.tolist(), len(cells)]
    cell_rows = {cell: showing[a:b] for cell, a, b in zip(ordered, bounds, bounds[1:])}
    row_cells = [[a, b] if x and y else [a] if x else [b] if y else []
                 for a, b, x, y in zip(first_cell.tolist(), second_cell.tolist(), first_shown.tolist(),
                                       second_shown.tolist())]
    found = _numbered_relations(numbered, strides, area_of[ALL_AREAS], breakdown_of[TOTAL[0]] + group_of[TOTAL[1]],
                                {quantity_of[whole]: [tuple(quantity_of[q] for q in names) for w, names in PARTITIONS
                                                      if w == whole] for whole, _ in PARTITIONS})
    members = np.array([cell for relation in found for cell in (relation.total, *relation.parts)], dtype=np.int64)
    of = np.repeat(np.arange(len(found), dtype=np.int64), [len(relation.parts) + 1 for relation in found])
    order = np.argsort(members, kind="stable")                      # each cell's relations in their order
    members, of = members[order], of[order]
    starts = np.flatnonzero(np.r_[True, members[1:] != members[:-1]]) if len(members) else np.zeros(0, dtype=np.int64)
    bounds, relation_of = [*starts.tolist(), len(members)], of.tolist()
    cell_relations = {cell: relation_of[a:b] for cell, a, b in zip(members[starts].tolist(), bounds, bounds[1:])}
    return Table(values, row_cells, cell_rows, found, cell_relations)


def _numbered_relations(cells: np.ndarray, strides: list[int], all_areas: int, total: int,
                        partitioned: dict[int, list[tuple[int, ...]]]) -> list[Relation]:
    """relations() of numbered cells (_numbered_table; sorted, each once): the same relations,
    numbered, in the same order. all_areas and total: the digits of ALL and of the breakdown
    total; partitioned: the digits of each whole's quantity and of its parts'."""
    present = set(cells.tolist())
    _, period_stride, quantity_stride, area_stride, breakdown_stride, _ = strides
    where = cells % area_stride                                     # breakdown and group
    parts = cells[where != total]
    keys = parts - parts % breakdown_stride                         # a part without its group
    found = _grouped(parts, keys, keys - keys % area_stride + total, present)
    area = cells % quantity_stride - where
    parts, keys = cells[area != all_areas], (cells - area)[area != all_areas]
    order = np.argsort(keys, kind="stable")                         # each municipality's cells stay in order
    found += _grouped(parts[order], keys[order], keys[order] + all_areas, present)
    quantity = cells % period_stride - cells % quantity_stride
    for cell, of in zip(cells[np.isin(quantity, list(partitioned))].tolist(),
                        quantity[np.isin(quantity, list(partitioned))].tolist()):
        for names in partitioned[of]:
            shown = tuple(p for name in names if (p := cell - of + name) in present)
            if shown:
                found.append(Relation(cell, shown))
    return sorted(found, key=lambda r: (r.total, r.parts))


def _grouped(parts: np.ndarray, keys: np.ndarray, totals: np.ndarray, present: set[int]) -> list[Relation]:
    """A relation of each run of equal keys (its parts) with its total, where the total is present."""
    if not len(keys):
        return []
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    bounds = [*starts.tolist(), len(keys)]
    numbered = parts.tolist()
    return [Relation(whole, tuple(numbered[a:b])) for whole, a, b in zip(totals[starts].tolist(), bounds, bounds[1:])
            if whole in present]


@contextlib.contextmanager
def _no_cyclic_gc():
    """Python's cycle collector off while a table is worked out. The table is millions of small
    tuples, sets and lists without a cycle among them (reference counting frees them all), and
    each full collection walks every one of them, a cost that grows faster than the table
    (BENCHMARKS.md)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def apply_suppression(rows: Iterable[Mapping], hidden: set[int]) -> list[dict]:
    out = []
    for index, row in enumerate(rows):
        row = dict(row)
        row["suppressed"] = index in hidden
        if row["suppressed"]:
            row["value"] = row["numerator"] = row["denominator"] = row["target_met"] = None
        out.append(row)
    return out

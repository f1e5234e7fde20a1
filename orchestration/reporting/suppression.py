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
    """The cells the rows show and the relations among them, indexed both ways."""

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
    if row["kpi"] in _COUNT_KPIS:
        return small_count(row["value"], min_count)
    if is_number(row["denominator"]):
        return thin_share(row["numerator"], row["denominator"], min_count)
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
        for cells, sign in ((hiding, 1), (showing, -1)):
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
    with _no_cyclic_gc():
        table = build_table(rows)
        primary_rows = {index for index, row in enumerate(rows) if primarily_suppressed(row, min_count)}
        ledger = Ledger(table, hidden_cells(table, primary_rows))
        return release_unneeded(table, protect(table, primary_rows, ledger), primary_rows, ledger)


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


def apply_suppression(rows: Sequence[Mapping], hidden: set[int]) -> list[dict]:
    out = []
    for index, row in enumerate(rows):
        row = dict(row)
        row["suppressed"] = index in hidden
        if row["suppressed"]:
            row["value"] = row["numerator"] = row["denominator"] = row["target_met"] = None
        out.append(row)
    return out

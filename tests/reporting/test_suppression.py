"""Disclosure control of funder tables: primary and secondary suppression.

The attacker below is written from kpis.md alone, independently of
orchestration/reporting/suppression.py. It reads a published table the way a funder could and
tries every subtraction: a group as its total minus the other groups, a municipality as ALL
minus the other municipalities, exited as participants minus active, a phase as active minus
the other phases (and each total as the sum of its parts). It takes every such relation as exact
(municipalities do not quite add up to ALL, nor the phases to active: that is the attacker's best
case), knows that a hidden count is at least 1 (zeros are shown), and repeats with whatever it
worked out. The tables come from small generated populations, so every relation holds as it
does in the warehouse (a mover counts in two municipalities and once in ALL).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.reporting.suppression import suppress

# --- The attacker, from kpis.md -------------------------------------------------------------

COUNTS = {"participants", "new_participants", "active_participants", "exited", "moved_to_activity",
          "phase_hitta", "phase_mota", "phase_aktivera", "phase_matcha"}
PHASES = ("phase_hitta", "phase_mota", "phase_aktivera", "phase_matcha")
# A figure that appears in several rows is one count (kpis.md's definitions of the shares).
SAME_COUNT = {
    ("activity_share", "numerator"): "moved_to_activity",
    ("activity_share", "denominator"): "participants",
    ("exit_activity_share", "denominator"): "exited",
    ("median_days_to_activity", "denominator"): "moved_to_activity",
    ("participants_target_share", "numerator"): "participants",
    ("reach", "numerator"): "participants",
    ("from_other_project_share", "denominator"): "participants",
    ("income_support_end_share", "denominator"): "income_support_start_share.denominator",
}
NOT_A_COUNT = {("participants_target_share", "denominator"), ("reach", "denominator"),
               ("median_days_to_activity", "numerator")}


def number(text) -> float | None:
    if text is None or text == "":
        return None
    value = float(text)
    return None if math.isnan(value) else value


def is_suppressed(row) -> bool:
    return str(row.get("suppressed")).lower() == "true"


def counts_in(rows) -> dict[tuple, float]:
    """(count, area, breakdown, group) → value, for every count a shown row shows."""
    found: dict[tuple, float] = {}
    for row in rows:
        if is_suppressed(row):
            continue
        where = (row["area"], row["breakdown"], row["group"])
        fields = ["value"] if row["kpi"] in COUNTS else ["numerator", "denominator"]
        for name in fields:
            value = number(row[name])
            if value is None or (row["kpi"], name) in NOT_A_COUNT:
                continue
            count = row["kpi"] if name == "value" else SAME_COUNT.get((row["kpi"], name), f"{row['kpi']}.{name}")
            found[(count, *where)] = value
    return found


def subtraction_relations(cells) -> list[tuple[tuple, list[tuple]]]:
    """(total, parts) for every subtraction a reader of the table can try."""
    cells = set(cells)
    relations = []
    groups, areas = defaultdict(list), defaultdict(list)
    for count, area, breakdown, group in cells:
        if breakdown != "total":
            groups[(count, area, breakdown)].append((count, area, breakdown, group))
        if area != "ALL":
            areas[(count, breakdown, group)].append((count, area, breakdown, group))
    for (count, area, _), parts in groups.items():
        relations.append(((count, area, "total", "T"), parts))
    for (count, breakdown, group), parts in areas.items():
        relations.append(((count, "ALL", breakdown, group), parts))
    for count, area, breakdown, group in cells:
        if count == "participants":
            relations.append(((count, area, breakdown, group),
                              [("active_participants", area, breakdown, group), ("exited", area, breakdown, group)]))
        if count == "active_participants":
            relations.append(((count, area, breakdown, group), [(p, area, breakdown, group) for p in PHASES]))
    return [(total, [p for p in parts if p in cells]) for total, parts in relations if total in cells]


class Attacker:
    """Someone who knows the definitions and the table's layout (which cells exist) and reads a
    published table: what can they work out about its hidden counts?"""

    def __init__(self, truth_rows):
        self.truth = counts_in([dict(row, suppressed=False) for row in truth_rows])
        self.relations = subtraction_relations(self.truth)

    def recovers(self, published_rows, first_only: bool = False) -> set[tuple]:
        """The hidden counts this reader can pin down (with first_only, the first one found)."""
        known = counts_in(published_rows)
        # Zeros are shown; one that a share's row hides (denominator below 10) follows from a
        # count it is part of, so the reader is granted every zero.
        known.update({cell: 0.0 for cell, value in self.truth.items() if value == 0})
        recovered: set[tuple] = set()
        changed = True
        while changed:
            changed = False
            for total, parts in self.relations:
                found = pinned_down(total, parts, known)
                if not found:
                    continue
                known.update(found)
                recovered.update(found)  # a leak whether or not the relation is exact
                if first_only:
                    return recovered
                changed = True
        return recovered


def pinned_down(total, parts, known: dict) -> dict:
    """What one relation, total = sum of parts, gives away to a reader who knows the cells in
    `known`: the one unknown cell, or every unknown part when they add up to their number (each
    is at least 1, so each is 1)."""
    unknown = [c for c in (total, *parts) if c not in known]
    if len(unknown) == 1:
        (cell,) = unknown
        value = (known[total] - sum(known[p] for p in parts if p != cell) if cell != total
                 else sum(known[p] for p in parts))
        return {cell: value} if value >= 1 else {}  # a hidden count is at least 1: else not exact here
    if len(unknown) > 1 and total in known and \
            known[total] - sum(known[p] for p in parts if p in known) == len(unknown):
        return {cell: 1.0 for cell in unknown}
    return {}


def recoverable(truth_rows, published_rows) -> set[tuple]:
    return Attacker(truth_rows).recovers(published_rows)


def spec_primary(row, min_count) -> bool:
    """kpis.md's primary rule, written again."""
    small = lambda v: v is not None and 0 < v < min_count  # noqa: E731
    if row["kpi"] in COUNTS:
        return small(number(row["value"]))
    denominator = number(row["denominator"])
    return denominator is not None and (small(number(row["numerator"])) or small(denominator) or denominator < 10)


def shown_again(published_rows, truth_rows, index) -> list[dict]:
    """The published table with one hidden row shown as it is."""
    rows = list(published_rows)
    rows[index] = dict(truth_rows[index], suppressed=False)
    return rows


def check_published(truth, published, min_count) -> None:
    """Same rows in the same order; the spec's primary rule applied; hidden rows blank, shown rows exact."""
    keys = ("area", "period", "kpi", "breakdown", "group")
    assert [tuple(r[k] for k in keys) for r in published] == [tuple(r[k] for k in keys) for r in truth]
    for before, after in zip(truth, published):
        if spec_primary(before, min_count):
            assert after["suppressed"], before
        if after["suppressed"]:
            assert after["value"] is None and after["numerator"] is None and after["denominator"] is None
            assert after["target_met"] is None and after["target"] == before["target"]
        else:
            assert (after["value"], after["numerator"], after["denominator"], after["target_met"]) == \
                   (before["value"], before["numerator"], before["denominator"], before["target_met"])


# --- Generated funder tables ----------------------------------------------------------------

KON = ("K", "M", "X")
ALDER = ("15-19", "20-24", "25-29")
# An ongoing enrolment in a phase, or one whose municipality sent no snapshot this month (it
# counts as active but in no phase, so the phases do not add up to active), or an ended one.
PHASE_STATES = ("HITTA", "MOTA", "AKTIVERA", "MATCHA")
STATES = (*PHASE_STATES, "UTAN_FAS", "EXIT", "EXIT_ACTIVITY")
ENDED = ("EXIT", "EXIT_ACTIVITY")


@dataclass(frozen=True)
class Person:
    kon: str
    alder: str
    enrolments: tuple[tuple[str, str], ...]   # (kommunkod, state at period end)
    known_start: bool
    not_known: bool
    income_support: tuple[bool, bool] | None = None   # (at start, at end), when both are known


def funder_rows(persons: list[Person], municipalities: list[str]) -> list[dict]:
    """The long KPI rows for one project and period, computed straight from the persons."""
    rows = []

    def add(area, kpi, breakdown, group, value, numerator=None, denominator=None, target=None, target_met=None):
        rows.append({"project_id": "p", "area": area, "period": "2020-06", "kpi": kpi, "breakdown": breakdown,
                     "group": group, "value": value, "numerator": numerator, "denominator": denominator,
                     "target": target, "target_met": target_met})

    for area in ("ALL", *municipalities):
        members = []
        for person in persons:
            states = [s for k, s in person.enrolments if area == "ALL" or k == area]
            if not states:
                continue
            ongoing = [s for s in states if s not in ENDED]
            members.append((person, ongoing, "EXIT_ACTIVITY" in states))
        for breakdown, groups in (("total", ("T",)), ("kon", KON), ("alder", ALDER)):
            for group in groups:
                chosen = [m for m in members if group == "T" or getattr(m[0], breakdown) == group]
                participants = len(chosen)
                active = sum(1 for _, ongoing, _ in chosen if ongoing)
                moved = sum(1 for _, _, m in chosen if m)
                exited_moved = sum(1 for _, ongoing, m in chosen if m and not ongoing)
                known = sum(1 for p, _, _ in chosen if p.known_start)
                not_known = sum(1 for p, _, _ in chosen if p.known_start and p.not_known)
                # over exited persons whose income support is known at start and end
                support = [p.income_support for p, ongoing, _ in chosen if not ongoing and p.income_support]
                for kpi, value in (("participants", participants), ("active_participants", active),
                                   ("exited", participants - active), ("moved_to_activity", moved)):
                    add(area, kpi, breakdown, group, float(value), float(value))
                for phase, state in zip(PHASES, PHASE_STATES):
                    value = float(sum(1 for _, ongoing, _ in chosen if state in ongoing))
                    add(area, phase, breakdown, group, value, value)
                for kpi, num, den in (("activity_share", moved, participants),
                                      ("exit_activity_share", exited_moved, participants - active),
                                      ("not_known_share", not_known, known),
                                      ("income_support_start_share", sum(s for s, _ in support), len(support)),
                                      ("income_support_end_share", sum(e for _, e in support), len(support))):
                    add(area, kpi, breakdown, group, num / den if den else None, float(num), float(den))
                add(area, "median_days_to_activity", breakdown, group, 90.0 + moved if moved else None,
                    None, float(moved))
                if area == "ALL" and group == "T":
                    add(area, "participants_target_share", breakdown, group, participants / 350,
                        float(participants), 350.0, 350.0, participants >= 350)
                    add(area, "participants_pace_target", breakdown, group, 120.0)
    return rows


@st.composite
def populations(draw):
    municipalities = [f"{2300 + i:04d}" for i in range(draw(st.integers(1, 6)))]
    # min of two draws: the last municipalities get few persons, some none at all
    where = st.builds(min, st.sampled_from(municipalities), st.sampled_from(municipalities))
    person = st.builds(
        lambda kon, alder, first, second, state, moved_state, known, not_known, support: Person(
            kon, alder, ((first, state),) if second is None or second == first
            else ((first, moved_state), (second, state)), known, not_known, support),
        st.sampled_from(KON), st.sampled_from(ALDER), where, st.none() | where,
        st.sampled_from(STATES), st.sampled_from(STATES), st.booleans(), st.booleans(),
        st.none() | st.tuples(st.booleans(), st.booleans()))
    persons = draw(st.lists(person, max_size=draw(st.sampled_from((8, 40, 120)))))
    return persons, municipalities, draw(st.integers(min_value=1, max_value=7))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(populations())
def test_no_suppressed_figure_can_be_recovered_by_subtraction(population):
    persons, municipalities, min_count = population
    truth = funder_rows(persons, municipalities)
    published = suppress(truth, min_count)
    check_published(truth, published, min_count)
    assert recoverable(truth, published) == set()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(populations())
def test_every_secondary_suppression_is_needed(population):
    """Hiding as little as possible: a row hidden beyond the spec's primary rule, shown again on
    its own, would let the attacker work out a hidden count."""
    persons, municipalities, min_count = population
    truth = funder_rows(persons, municipalities)
    published = suppress(truth, min_count)
    attacker = Attacker(truth)
    secondary = [i for i, (before, after) in enumerate(zip(truth, published))
                 if after["suppressed"] and not spec_primary(before, min_count)]
    for index in secondary:
        assert attacker.recovers(shown_again(published, truth, index), first_only=True), truth[index]
    by_key = {(r["area"], r["kpi"], r["breakdown"], r["group"]): r for r in published}
    assert not by_key[("ALL", "participants_pace_target", "total", "T")]["suppressed"]
    if not any(spec_primary(r, min_count) for r in truth):
        assert not any(r["suppressed"] for r in published)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(populations(), st.data())
def test_the_ledger_answers_as_a_recount_after_any_hiding_and_showing(population, data):
    """The disclosure control keeps each relation's hidden parts and shown sum up to date instead
    of summing them again (a national table has 290 municipalities under ALL). After any sequence
    of hiding and showing, and for any trial on top, it says a relation gives a figure away
    exactly when the attacker above pins one down from it."""
    from orchestration.reporting.suppression import Ledger, build_table

    persons, municipalities, _ = population
    table = build_table(funder_rows(persons, municipalities))
    cells = sorted(table.values)
    hidden = set(data.draw(st.sets(st.sampled_from(cells), max_size=10)))
    ledger = Ledger(table, hidden)

    def some_of(pool):
        return data.draw(st.sets(st.sampled_from(sorted(pool)), max_size=3)) if pool else set()

    for _ in range(data.draw(st.integers(0, 12))):
        if data.draw(st.booleans()):
            some = some_of(cells)
            ledger.hide(some)
            hidden |= some
        else:
            some = some_of(hidden) | some_of(cells)      # mostly hidden ones, and a shown one or two
            ledger.show(some)
            hidden -= some
    hiding, showing = some_of(set(cells) - hidden), some_of(hidden)
    trial = (hidden | hiding) - showing

    def attacker_pins_down(relation, hidden_now) -> bool:
        shown = {c: table.values[c] for c in relation.cells if c not in hidden_now}
        return bool(pinned_down(relation.total, relation.parts, shown))

    for index, relation in enumerate(table.relations):
        assert ledger.gives_away(index) == attacker_pins_down(relation, hidden)
        assert ledger.gives_away(index, hiding=hiding, showing=showing) == attacker_pins_down(relation, trial), relation
    assert ledger.hidden == hidden


# --- Small tables by hand -------------------------------------------------------------------

@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(populations(), st.booleans())
def test_numbered_cells_make_the_table_of_tuples_and_hide_the_same_rows(population, shuffled):
    """rows_to_hide numbers its cells (one integer each, ordered as the tuples) and finds them and
    their relations with numpy, for speed; the table of tuples (build_table) is the model. Read
    back as the tuples they stand for, the numbered table has the same figures, rows and relations
    in the same order, and the same rows are hidden, in any order of the rows."""
    from orchestration.reporting import suppression

    persons, municipalities, min_count = population
    rows = funder_rows(persons, municipalities)
    if shuffled:
        rows = rows[1::2] + rows[::2]
    table = suppression.build_table(rows)
    numbered = suppression._numbered_table([tuple(row.get(name) for name in suppression.ROW_COLUMNS) for row in rows])
    cell_of = {number: cell for numbers, cells in zip(numbered.row_cells, table.row_cells)
               for number, cell in zip(numbers, cells, strict=True)}
    assert {cell_of[n]: value for n, value in numbered.values.items()} == table.values
    assert {cell_of[n]: rows_ for n, rows_ in numbered.cell_rows.items()} == table.cell_rows
    assert [(cell_of[r.total], tuple(cell_of[p] for p in r.parts)) for r in numbered.relations] == \
           [(r.total, r.parts) for r in table.relations]
    assert {cell_of[n]: found for n, found in numbered.cell_relations.items()} == table.cell_relations
    primary = {i for i, row in enumerate(rows) if suppression.primarily_suppressed(row, min_count)}
    ledger = suppression.Ledger(table, suppression.hidden_cells(table, primary))
    expected = suppression.release_unneeded(table, suppression.protect(table, primary, ledger), primary, ledger)
    assert suppression.rows_to_hide(rows, min_count) == expected


def rows_for(table: dict[tuple, float]) -> list[dict]:
    return [{"project_id": "p", "area": area, "period": "2020-06", "kpi": kpi, "breakdown": breakdown,
             "group": group, "value": value, "numerator": value, "denominator": None, "target": None,
             "target_met": None} for (area, kpi, breakdown, group), value in table.items()]


def hidden_keys(rows) -> set[tuple]:
    return {(r["area"], r["kpi"], r["breakdown"], r["group"]) for r in rows if r["suppressed"]}


def test_a_small_group_is_hidden_together_with_its_smallest_sibling_only():
    table = {("ALL", "participants", "total", "T"): 40.0, ("ALL", "participants", "kon", "K"): 3.0,
             ("ALL", "participants", "kon", "M"): 30.0, ("ALL", "participants", "kon", "X"): 7.0}
    published = suppress(rows_for(table), min_count=5)
    assert hidden_keys(published) == {("ALL", "participants", "kon", "K"), ("ALL", "participants", "kon", "X")}
    assert recoverable(rows_for(table), published) == set()


def test_a_small_municipality_cannot_be_recovered_from_all_minus_the_others():
    table = {("ALL", "participants", "total", "T"): 55.0, ("0101", "participants", "total", "T"): 3.0,
             ("0102", "participants", "total", "T"): 40.0, ("0103", "participants", "total", "T"): 12.0}
    published = suppress(rows_for(table), min_count=5)
    assert hidden_keys(published) == {("0101", "participants", "total", "T"), ("0103", "participants", "total", "T")}
    # Primary suppression alone would have given 0101 away: 55 - 40 - 12.
    primary_only = [dict(r, suppressed=r["area"] == "0101") for r in rows_for(table)]
    assert recoverable(rows_for(table), primary_only) == {("participants", "0101", "total", "T")}


def test_a_municipality_that_all_minus_the_others_puts_at_zero_needs_no_partner():
    # 0102's only participant also counts in 0101, and once in ALL: 4 - 4 - 0 says 0102 has no
    # one, which the reader knows is wrong (a hidden count is at least 1). Nothing more to hide.
    table = {("ALL", "participants", "total", "T"): 4.0, ("0101", "participants", "total", "T"): 4.0,
             ("0102", "participants", "total", "T"): 1.0, ("0103", "participants", "total", "T"): 0.0}
    published = suppress(rows_for(table), min_count=3)
    assert hidden_keys(published) == {("0102", "participants", "total", "T")}
    assert recoverable(rows_for(table), published) == set()


def test_two_hidden_ones_under_a_shown_total_get_a_third_partner():
    table = {("ALL", "participants", "total", "T"): 32.0, ("ALL", "participants", "kon", "K"): 1.0,
             ("ALL", "participants", "kon", "M"): 1.0, ("ALL", "participants", "kon", "X"): 30.0}
    published = suppress(rows_for(table), min_count=5)
    # K + M = 2 with both at least 1 would give both away; hiding X too leaves K + M + X = 32.
    assert hidden_keys(published) == {("ALL", "participants", "kon", g) for g in ("K", "M", "X")}
    assert recoverable(rows_for(table), published) == set()


def test_zeros_are_shown_and_never_chosen_as_partners():
    table = {("ALL", "participants", "total", "T"): 23.0, ("ALL", "participants", "kon", "K"): 3.0,
             ("ALL", "participants", "kon", "M"): 20.0, ("ALL", "participants", "kon", "X"): 0.0}
    published = suppress(rows_for(table), min_count=5)
    assert hidden_keys(published) == {("ALL", "participants", "kon", "K"), ("ALL", "participants", "kon", "M")}


def test_a_total_is_hidden_when_only_ones_and_zeros_are_under_it():
    # Two participants, one in each of two phases: hitta + mota = active = 2 would give both phases
    # away, and the zeros cannot be hidden, so active goes, and with it participants (= active + 0).
    persons = [Person("K", "15-19", (("0101", "HITTA"),), False, False),
               Person("K", "15-19", (("0101", "MOTA"),), False, False)]
    truth = funder_rows(persons, ["0101"])
    published = suppress(truth, min_count=2)
    assert ("ALL", "active_participants", "total", "T") in hidden_keys(published)
    assert ("ALL", "participants", "total", "T") in hidden_keys(published)
    assert recoverable(truth, published) == set()


def test_a_share_is_hidden_when_it_would_show_a_hidden_count():
    persons = [Person("K", "20-24", (("0101", "EXIT_ACTIVITY"),), True, False) for _ in range(3)] + \
              [Person("M", "20-24", (("0101", "EXIT_ACTIVITY"),), True, False) for _ in range(30)] + \
              [Person("X", "20-24", (("0101", "EXIT_ACTIVITY"),), True, False) for _ in range(7)] + \
              [Person("M", "15-19", (("0102", "MOTA"),), True, False) for _ in range(40)]
    truth = funder_rows(persons, ["0101", "0102"])
    published = suppress(truth, min_count=5)
    by_key = {(r["area"], r["kpi"], r["breakdown"], r["group"]): r for r in published}
    # participants 0101/X (7) is hidden as the partner of 0101/K (3), and so is every share over it.
    assert by_key[("0101", "participants", "kon", "X")]["suppressed"]
    assert by_key[("0101", "activity_share", "kon", "X")]["suppressed"]
    assert by_key[("0101", "participants", "kon", "M")]["suppressed"] is False
    assert by_key[("0101", "activity_share", "kon", "M")]["suppressed"] is False
    assert recoverable(truth, published) == set()


def test_a_share_over_fewer_than_ten_protects_its_own_counts():
    # not_known_share's numerator and denominator are shown nowhere else: hiding K's share (2 of
    # 6, below 10) would be undone by T - M - X unless another group's share goes too.
    persons = [Person("K", "20-24", (("0101", "MOTA"),), True, i < 2) for i in range(6)] + \
              [Person("M", "20-24", (("0101", "MOTA"),), True, i < 6) for i in range(20)] + \
              [Person("X", "20-24", (("0101", "MOTA"),), True, i < 6) for i in range(12)]
    truth = funder_rows(persons, ["0101"])
    published = suppress(truth, min_count=5)
    hidden = hidden_keys(published)
    assert ("ALL", "not_known_share", "kon", "K") in hidden
    assert ("ALL", "not_known_share", "kon", "X") in hidden   # the smaller sibling
    assert ("ALL", "not_known_share", "kon", "M") not in hidden
    assert recoverable(truth, published) == set()


# --- The demo's funder tables ---------------------------------------------------------------

def read_csv(path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_no_suppressed_figure_of_the_demo_exports_can_be_recovered(demo_pipeline):
    internal = {e.project_id: read_csv(e.path) for e in demo_pipeline.internal}
    for exported in demo_pipeline.exported:
        truth, published = internal[exported.project_id], read_csv(exported.path)
        assert recoverable(truth, published) == set(), exported.project_id
        assert any(r["suppressed"] == "false" for r in published)


@pytest.mark.slow
def test_every_secondary_suppression_of_the_demo_exports_is_needed(demo_pipeline):
    internal = {e.project_id: read_csv(e.path) for e in demo_pipeline.internal}
    keys = ("area", "period", "kpi", "breakdown", "group")
    checked = 0
    for exported in demo_pipeline.exported:
        truth, published = internal[exported.project_id], read_csv(exported.path)
        min_count = demo_pipeline.config.project(exported.project_id).min_count
        assert [tuple(r[k] for k in keys) for r in published] == [tuple(r[k] for k in keys) for r in truth]
        attacker = Attacker(truth)
        for index, (before, after) in enumerate(zip(truth, published)):
            if is_suppressed(after) and not spec_primary(before, min_count):
                assert attacker.recovers(shown_again(published, truth, index), first_only=True), before
                checked += 1
    assert checked > 0


@pytest.mark.slow
def test_the_counts_shares_are_made_of_are_the_count_rows_of_the_warehouse(demo_pipeline):
    """SAME_COUNT (and the suppression module's own map) must match what the marts compute."""
    checked = 0
    for exported in demo_pipeline.internal:
        rows = read_csv(exported.path)
        counts = {(r["kpi"], r["area"], r["breakdown"], r["group"]): number(r["value"])
                  for r in rows if r["kpi"] in COUNTS}
        for row in rows:
            for name in ("numerator", "denominator"):
                same = SAME_COUNT.get((row["kpi"], name))
                if same in COUNTS and number(row[name]) is not None:
                    assert number(row[name]) == counts[(same, row["area"], row["breakdown"], row["group"])], row
                    checked += 1
        for (kpi, area, breakdown, group), value in counts.items():
            if kpi == "participants":
                assert value == counts[("active_participants", area, breakdown, group)] + \
                    counts[("exited", area, breakdown, group)]
    assert checked > 1000


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(populations(), min_size=2, max_size=4), st.integers(0, 3))
def test_the_suppression_cache_never_changes_what_is_published(tmp_path_factory, months, changed):
    """What the exports publish month by month (reporting/export.published_months, with its
    suppression cache beside the warehouse) is what `suppress` gives each month afresh: on a first
    export, on a repeat, after one month's figures changed (a correction restates history) and
    after a change of the minimum count."""
    import dataclasses

    from orchestration.projects.config import load_projects
    from orchestration.reporting.export import is_headline, kpi_months, published_months, suppression_cache

    warehouse = tmp_path_factory.mktemp("home") / "warehouse.duckdb"
    project = dataclasses.replace(load_projects().project("uvas"), id="p", min_count=months[0][2])
    history = []
    for index, (persons, municipalities, _) in enumerate(months):
        history += [dict(row, period=f"2020-{index + 1:02d}") for row in funder_rows(persons, municipalities)]

    def published_equals_afresh(min_count) -> bool:
        changed = dataclasses.replace(project, min_count=min_count)
        # the trend's history: the headline rows of a month (read alone when the month is remembered)
        headlines = list(published_months(warehouse, changed, "2020-12", whole=lambda month: False))
        published = list(published_months(warehouse, changed, "2020-12"))
        afresh = [(month, suppress(exact, min_count)) for month, exact in kpi_months(warehouse, "p", "2020-12")]
        return published == afresh and headlines == [(m, [r for r in rows if is_headline(r)]) for m, rows in afresh]

    write_kpi_values(warehouse, history)
    assert published_equals_afresh(project.min_count)
    assert suppression_cache(warehouse, "p").exists()
    assert published_equals_afresh(project.min_count)
    assert published_equals_afresh(project.min_count + 1)
    # One month's figures change (a participant more everywhere): that month is suppressed anew.
    period = f"2020-{changed % len(months) + 1:02d}"
    write_kpi_values(warehouse, [dict(row, value=row["value"] + 1, numerator=row["value"] + 1)
                                 if row["period"] == period and row["kpi"] == "participants" else row
                                 for row in history])
    assert published_equals_afresh(project.min_count)


def test_months_worked_out_in_child_processes_are_published_as_in_one_process(tmp_path, monkeypatch):
    """A project with many rows to suppress has its months worked out by child processes
    (reporting/suppression_workers.py): what is published and what the cache remembers are what
    the step's own process gives."""
    import dataclasses
    import random

    from orchestration.projects.config import load_projects
    from orchestration.reporting import export

    draw = random.Random(19)
    municipalities = [f"{2300 + i:04d}" for i in range(5)]
    history = []
    for month in range(1, 5):
        persons = [Person(draw.choice(KON), draw.choice(ALDER), ((draw.choice(municipalities), draw.choice(STATES)),),
                          draw.random() < 0.8, draw.random() < 0.3) for _ in range(draw.choice((8, 40, 120)))]
        history += [dict(row, period=f"2020-{month:02d}") for row in funder_rows(persons, municipalities)]
    project = dataclasses.replace(load_projects().project("uvas"), id="p", min_count=5)
    published, caches = [], []
    for threshold in (len(history) + 1, 0):
        monkeypatch.setattr(export, "_ROWS_FOR_CHILDREN", threshold)
        warehouse = tmp_path / str(threshold) / "warehouse.duckdb"
        warehouse.parent.mkdir()
        write_kpi_values(warehouse, history)
        published.append(list(export.published_months(warehouse, project, "2020-12")))
        caches.append(export.suppression_cache(warehouse, "p").read_text(encoding="utf-8"))
    assert published[0] == published[1]
    assert caches[0] == caches[1]


def test_an_error_in_a_child_process_is_raised_as_it_was_raised_there(tmp_path):
    import duckdb

    from orchestration.reporting.suppression_workers import hidden_positions

    warehouse = tmp_path / "warehouse.duckdb"
    write_kpi_values(warehouse, funder_rows([], ["2301"]))
    with pytest.raises(duckdb.CatalogException, match="no_such_table"):
        hidden_positions([("2020-06", str(warehouse), "select * from no_such_table", (), 5)])


def write_kpi_values(warehouse, rows) -> None:
    """The rows as marts.kpi_values, replacing what was there."""
    import duckdb
    import pandas as pd

    with duckdb.connect(str(warehouse)) as db:
        db.execute("create schema if not exists marts")
        db.execute("create or replace table marts.kpi_values (project_id varchar, area varchar, period varchar, "
                   "kpi varchar, breakdown varchar, breakdown_group varchar, value double, numerator double, "
                   "denominator double, target double, target_met boolean)")
        frame = pd.DataFrame(rows).rename(columns={"group": "breakdown_group"})
        db.register("rows_frame", frame)
        db.execute("insert into marts.kpi_values by name select * from rows_frame")

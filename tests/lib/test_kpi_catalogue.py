"""The KPI catalogue (dbt/seeds/kpi_catalogue.csv, read by orchestration/lib/kpis.py) is the one
list of KPIs, and everything that knows a KPI agrees with it: the warehouse's marts.kpi_values
after a real dbt build (every KPI of the catalogue there, with its kind, in the cells of its
scope, its numerator and denominator the counts the catalogue names), the projects
configuration check (which KPIs may have a target, which are shares) and the disclosure control
(which figures are counts of persons, and which of them are the same count).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration.lib import kpis
from orchestration.lib.warehouse import ensure_schema
from orchestration.projects.config import BUNDLED_CONFIG, ConfigError, load_projects
from orchestration.reporting import suppression
from orchestration.reporting.kpi_names import KPI_DEFINITIONS, KPI_LABELS
from orchestration.reporting.targets import PACE_KPI
from orchestration.reporting.workbook import BREAKDOWN_KPIS, PHASE_KPIS, SUMMARY_KPIS, TARGET_SHEET_KPIS, TREND_KPIS

CATALOGUE = kpis.catalogue()
KEY = ("project_id", "area", "period", "breakdown", "breakdown_group")


# --- the catalogue itself ---------------------------------------------------------------------

def test_the_catalogue_reads_every_kpi_in_display_order_with_its_kind_and_scope():
    assert list(CATALOGUE)[:2] == ["participants", PACE_KPI]
    assert [k.order for k in CATALOGUE.values()] == sorted(k.order for k in CATALOGUE.values())
    assert CATALOGUE["activity_share"].numerator == "moved_to_activity"
    assert CATALOGUE["activity_share"].denominator == "participants"
    assert CATALOGUE[PACE_KPI].kind == "target" and not CATALOGUE[PACE_KPI].targetable
    assert {k.id for k in CATALOGUE.values() if k.scope == kpis.PROJECT_TOTAL} == {
        PACE_KPI, "participants_target_share", "reach"}
    assert not CATALOGUE["from_other_project_share"].targetable       # as before the catalogue
    assert kpis.parts_of("participants") == ("active_participants", "exited")


def test_names_and_kinds_shown_to_readers_are_the_catalogues():
    assert KPI_LABELS == {k.id: k.label for k in CATALOGUE.values()}
    assert list(KPI_DEFINITIONS) == list(CATALOGUE)
    assert {kpi: kpis.shown_as(kpi) for kpi in CATALOGUE} == {
        k.id: {"share": "share", "days": "days"}.get(k.kind, "count") for k in CATALOGUE.values()}
    assert TARGET_SHEET_KPIS == tuple(k for k in CATALOGUE if k not in PHASE_KPIS)
    assert set(SUMMARY_KPIS + BREAKDOWN_KPIS + TREND_KPIS + PHASE_KPIS) <= set(CATALOGUE)


@pytest.mark.parametrize(("change", "message"), [
    (lambda rows: rows.append(rows[1]), "more than one row"),
    (lambda rows: rows[1].__setitem__(1, "ratio"), "kpi_type 'ratio'"),
    (lambda rows: rows[1].__setitem__(4, "somewhere"), "scope 'somewhere'"),
    (lambda rows: rows[1].__setitem__(6, "yes"), "targetable 'yes'"),
    (lambda rows: rows[-1].__setitem__(5, "activity_share"), "only a count can be part of another count"),
    (lambda rows: rows[9].__setitem__(3, ""), "a KPI of kind share has a numerator and a denominator"),
])
def test_a_broken_catalogue_is_refused_naming_what_is_wrong(tmp_path, change, message):
    import csv

    with kpis.CATALOGUE_CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    change(rows)
    broken = tmp_path / "kpi_catalogue.csv"
    with broken.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(ValueError, match=message):
        kpis.read_catalogue(broken)


# --- the configuration check ------------------------------------------------------------------

def _config_with_targets(tmp_path: Path, targets: dict) -> Path:
    document = yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))
    document["projects"][0]["targets"] = targets
    path = tmp_path / "projects.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def test_every_targetable_kpi_may_have_a_target_and_a_share_target_is_a_share(tmp_path):
    targets = {kpi.id: 0.5 if kpi.kind == "share" else 30 for kpi in CATALOGUE.values() if kpi.targetable}
    loaded = load_projects(_config_with_targets(tmp_path, targets)).projects[0].targets
    assert loaded == {kpi: float(value) for kpi, value in targets.items()}
    for kpi in (k.id for k in CATALOGUE.values() if k.kind == "share" and k.targetable):
        with pytest.raises(ConfigError, match=f"fält targets.{kpi}: 1.5 är en andel och ska ligga mellan 0 och 1"):
            load_projects(_config_with_targets(tmp_path, {kpi: 1.5}))
    for kpi in (k.id for k in CATALOGUE.values() if k.kind != "share" and k.targetable):
        assert load_projects(_config_with_targets(tmp_path, {kpi: 1.5})).projects[0].targets == {kpi: 1.5}


@pytest.mark.parametrize("kpi", [k.id for k in CATALOGUE.values() if not k.targetable])
def test_a_target_for_a_kpi_that_cannot_have_one_is_refused_in_swedish(tmp_path, kpi):
    with pytest.raises(ConfigError) as refused:
        load_projects(_config_with_targets(tmp_path, {kpi: 10}))
    message = str(refused.value)
    assert f"fält targets.{kpi}: {CATALOGUE[kpi].label}" in message
    assert "Nyckeltal som kan ha ett mål: " + ", ".join(sorted(kpis.targetable())) in message
    if CATALOGUE[kpi].kind == "target":
        assert "räknas fram ur målet för participants och ställs inte in själv" in message
    else:
        assert "är ett nyckeltal som inte kan ha ett mål" in message


def test_a_target_for_an_unknown_kpi_is_refused_in_swedish(tmp_path):
    with pytest.raises(ConfigError, match="fält targets.deltagare: är inget nyckeltal som kan ha ett mål"):
        load_projects(_config_with_targets(tmp_path, {"deltagare": 10}))


# --- the disclosure control -------------------------------------------------------------------

def test_disclosure_control_takes_counts_and_their_parts_from_the_catalogue():
    for kpi in CATALOGUE.values():
        expected = kpi.counts_of_persons()
        assert suppression.quantities(kpi.id) == expected, kpi.id
        if kpi.kind == "count":
            assert expected == (kpi.id, None)          # a count shows itself as a count of persons
    assert suppression.quantities("participants_target_share") == ("participants", None)
    assert suppression.quantities("reach") == ("participants", None)
    assert suppression.quantities(PACE_KPI) == (None, None)
    assert suppression.quantities("unknown_share") == ("unknown_share:numerator", "unknown_share:denominator")
    assert dict(suppression.PARTITIONS) == {
        "participants": ("active_participants", "exited"),
        "active_participants": ("phase_hitta", "phase_mota", "phase_aktivera", "phase_matcha")}


# --- the warehouse, after a real dbt build ----------------------------------------------------

PROJECT = "p"


def _load_landing(warehouse: Path) -> None:
    """One project of two municipalities with a participants target, a share target and a
    target population, so that every KPI of the catalogue has rows; a few persons in January."""
    ensure_schema(warehouse)
    with duckdb.connect(str(warehouse)) as db:
        db.execute("insert into landing.projects values (?, 'Projekt', null, null, ?, ?, 16, 29, 100, 5)",
                   [PROJECT, dt.date(2020, 1, 1), dt.date(2020, 6, 30)])
        db.executemany("insert into landing.project_municipalities values (?, ?, ?)",
                       [[PROJECT, "0136", "Haninge"], [PROJECT, "0192", "Nynäshamn"]])
        db.execute("insert into landing.project_activity_outcomes values (?, 'ARBETE')", [PROJECT])
        db.executemany("insert into landing.project_targets values (?, ?, ?)",
                       [[PROJECT, "participants", 10.0], [PROJECT, "activity_share", 0.5]])
        for seq, kommunkod in enumerate(("0136", "0192"), start=1):
            db.execute(
                "insert into landing.deliveries (delivery_id, project_id, kommunkod, reporting_month, file_name, "
                "archive_path, sha256, size_bytes, received_at, status, verdict, arrival_seq) "
                "values (?, ?, ?, '2020-01', 'f.csv', 'a.csv', ?, 1, ?, 'VALIDATED', 'ACCEPTED', ?)",
                [f"d{kommunkod}", PROJECT, kommunkod, str(seq) * 64, dt.datetime(2020, 2, 3, 9), seq])
        rows = [("0136", "A", "K", "2020-01-05", "2020-01-20", "ARBETE", "MATCHA"),
                ("0136", "B", "M", "2020-01-10", None, None, "HITTA"),
                ("0192", "C", "K", "2020-01-12", None, None, "MOTA")]
        for number, (kommunkod, person, kon, start, end, reason, fas) in enumerate(rows, start=2):
            db.execute(
                "insert into landing.enrolment_rows (delivery_id, project_id, kommunkod, reporting_month, "
                "row_number, person_id, is_anonymous, kon, age_at_start, startdatum, slutdatum, avslutsorsak, "
                "fas, warnings) values (?, ?, ?, '2020-01', ?, ?, false, ?, 20, ?, ?, ?, ?, '')",
                [f"d{kommunkod}", PROJECT, kommunkod, number, f"person-{person}", kon,
                 dt.date.fromisoformat(start), end and dt.date.fromisoformat(end), reason, fas])


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The warehouse after dbt built kpi_values and everything it stands on, the catalogue's seed
    among them (dbt's data tests aside: tests/transform/test_dbt_models.py runs them)."""
    from orchestration.transform import dbt_build

    root = tmp_path_factory.mktemp("kpi_catalogue")
    warehouse = root / "warehouse.duckdb"
    _load_landing(warehouse)
    result = dbt_build.build(["build", "--select", "+kpi_values", "--exclude", "resource_type:test",
                              "resource_type:unit_test"], warehouse, root / "target")
    assert result.success, [(n.unique_id, n.message) for n in result.nodes if n.status != "success"]
    return warehouse


def _query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as db:
        return db.execute(sql).fetchall()


@pytest.mark.slow
def test_the_warehouse_holds_the_catalogue_as_the_file_has_it(built):
    rows = _query(built, "select kpi, kpi_type, numerator, denominator, scope, part_of, targetable, "
                         "display_order, label, definition from marts.kpi_catalogue order by display_order")
    assert rows == [(k.id, k.kind, k.numerator, k.denominator, k.scope, k.part_of, k.targetable, k.order,
                     k.label, k.definition) for k in CATALOGUE.values()]


@pytest.mark.slow
def test_kpi_values_has_every_kpi_of_the_catalogue_with_its_kind_in_the_cells_of_its_scope(built):
    kinds = dict(_query(built, "select distinct kpi, kpi_type from marts.kpi_values"))
    assert kinds == {k.id: k.kind for k in CATALOGUE.values()}
    cells = _query(built, f"select count(*) from (select distinct {', '.join(KEY)} from intermediate.int_kpi_counts)")[0][0]
    per_kpi = dict(_query(built, "select kpi, count(*) from marts.kpi_values group by kpi"))
    periods = _query(built, "select count(distinct period) from marts.kpi_values")[0][0]
    for kpi in CATALOGUE.values():
        # every cell of int_kpi_counts, or ALL/total of each month (the project has both figures)
        assert per_kpi[kpi.id] == (cells if kpi.scope == kpis.EVERY_GROUP else periods), kpi.id
    outside = _query(built, "select distinct kpi from marts.kpi_values where area <> 'ALL' or breakdown <> 'total'")
    assert {kpi for (kpi,) in outside} == {k.id for k in CATALOGUE.values() if k.scope == kpis.EVERY_GROUP}


@pytest.mark.slow
def test_each_kpis_numerator_and_denominator_are_the_counts_the_catalogue_names(built):
    columns = {name for (name, *_) in _query(built, "describe intermediate.int_kpi_counts")}
    named = {q for k in CATALOGUE.values() for q in (k.numerator, k.denominator) if q}
    assert named - kpis.PROJECT_QUANTITIES <= columns
    days = {k.id for k in CATALOGUE.values() if k.kind == "days"}
    assert days <= columns                               # a median is the column of its own name
    join = " and ".join(f"v.{c} = c.{c}" for c in KEY)
    for kpi in CATALOGUE.values():
        for part in ("numerator", "denominator"):
            quantity = getattr(kpi, part)
            if quantity in columns:
                differing = _query(built, f"select count(*) from marts.kpi_values v join intermediate.int_kpi_counts c "
                                          f"on {join} where v.kpi = '{kpi.id}' and v.{part} is distinct from c.{quantity}")
                assert differing == [(0,)], (kpi.id, part)
            elif quantity is None:
                assert _query(built, f"select count(*) from marts.kpi_values where kpi = '{kpi.id}' "
                                     f"and {part} is not null") == [(0,)], (kpi.id, part)
    project_parts = dict(_query(built, "select kpi, denominator from marts.kpi_values where kpi in "
                                       "('participants_target_share', 'reach') and period = '2020-01'"))
    assert project_parts == {kpi.id: {"participants_target": 10.0, "target_population": 100.0}[kpi.denominator]
                             for kpi in CATALOGUE.values() if kpi.denominator in kpis.PROJECT_QUANTITIES}


@pytest.mark.slow
def test_what_disclosure_control_takes_for_the_same_count_is_the_same_figure_in_the_warehouse(built):
    """A share's numerator or denominator that suppression takes to be a count KPI's figure (so
    that hiding one hides the other) has that count's value in every cell of the warehouse."""
    with duckdb.connect(str(built), read_only=True) as db:
        cursor = db.execute("select project_id, area, period, kpi, breakdown, breakdown_group as \"group\", "
                            "value, numerator, denominator from marts.kpi_values")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    figures: dict[tuple, set[float]] = {}
    for row in rows:
        for cell, value in suppression.revealed_cells(row):
            figures.setdefault(cell, set()).add(value)
    assert figures and all(len(values) == 1 for values in figures.values())
    shared = {q for k in CATALOGUE.values() if k.kind != "count" for q in k.counts_of_persons()} & set(CATALOGUE)
    assert shared >= {"participants", "moved_to_activity", "exited"}    # the relation is really exercised

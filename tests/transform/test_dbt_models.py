"""End to end: hand-made landing rows → `dbt build` → the KPI figures worked out by hand.

The scenario (project p1, 2020, municipalities 0136 and 0192; activity = ARBETE, STUDIER):

  0136 delivers January, then February twice (the later file wins), then a REJECTED March.
  0192 delivers February, and a March file that was never validated.
  Counting months are 2020-01 and 2020-02, so those are the periods (E = 01-31, 02-29).

  A (K)   0136: 01-10..01-25 AVBROTT, re-enrolled 02-05.. ongoing      → one person
  B (M)   0136: 01-05..02-10 FLYTT;  0192: 02-15.. ongoing             → the mover
  C (K)   0136: 01-15..01-20 FELREGISTRERING                          → never counts
  D (M)   0136: 01-20..  in January's file and the replaced February file;
          the winning February file restates it as ended 01-31 ARBETE → exited into activity in January
  E (-)   0192: 02-01..02-20 STUDIER, kon unknown (anonymous)         → OKAND group
  F (K)   only in the replaced February file of 0136                  → withdrawn, never counts
  G (X)   only in the rejected March file of 0136                     → never counts

Every expected figure below is reasoned from these rows and shared/spec/kpis.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.warehouse import ensure_schema

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"

PROJECT = "p1"

DELIVERIES = [
    # delivery_id, kommunkod, month, received_at, status, verdict
    ("d_0136_01", "0136", "2020-01", dt.datetime(2020, 2, 3, 9), "VALIDATED", "ACCEPTED"),
    ("d_0136_02_first", "0136", "2020-02", dt.datetime(2020, 3, 2, 9), "VALIDATED", "ACCEPTED"),
    ("d_0136_02_resent", "0136", "2020-02", dt.datetime(2020, 3, 5, 9), "VALIDATED", "ACCEPTED_WITH_WARNINGS"),
    ("d_0136_03_rejected", "0136", "2020-03", dt.datetime(2020, 4, 2, 9), "VALIDATED", "REJECTED"),
    ("d_0192_02", "0192", "2020-02", dt.datetime(2020, 3, 4, 9), "VALIDATED", "ACCEPTED"),
    ("d_0192_03_unvalidated", "0192", "2020-03", dt.datetime(2020, 4, 3, 9), "PSEUDONYMISED", None),
]


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


ENROLMENT_ROWS = [
    # delivery_id, row, person, kon, start, end, avslutsorsak, fas
    ("d_0136_01", 2, "A", "K", d("2020-01-10"), d("2020-01-25"), "AVBROTT", "MOTA"),
    ("d_0136_01", 3, "B", "M", d("2020-01-05"), None, None, "HITTA"),
    ("d_0136_01", 4, "C", "K", d("2020-01-15"), d("2020-01-20"), "FELREGISTRERING", "HITTA"),
    ("d_0136_01", 5, "D", "M", d("2020-01-20"), None, None, "HITTA"),
    ("d_0136_02_first", 2, "A", "K", d("2020-01-10"), d("2020-01-25"), "AVBROTT", "MOTA"),
    ("d_0136_02_first", 3, "A", "K", d("2020-02-05"), None, None, "MOTA"),
    ("d_0136_02_first", 4, "B", "M", d("2020-01-05"), None, None, "HITTA"),
    ("d_0136_02_first", 5, "D", "M", d("2020-01-20"), None, None, "MOTA"),
    ("d_0136_02_first", 6, "F", "K", d("2020-02-01"), None, None, "HITTA"),
    ("d_0136_02_resent", 2, "A", "K", d("2020-01-10"), d("2020-01-25"), "AVBROTT", "MOTA"),
    ("d_0136_02_resent", 3, "A", "K", d("2020-02-05"), None, None, "AKTIVERA"),
    ("d_0136_02_resent", 4, "B", "M", d("2020-01-05"), d("2020-02-10"), "FLYTT", "MOTA"),
    ("d_0136_02_resent", 5, "C", "K", d("2020-01-15"), d("2020-01-20"), "FELREGISTRERING", "HITTA"),
    ("d_0136_02_resent", 6, "D", "M", d("2020-01-20"), d("2020-01-31"), "ARBETE", "MATCHA"),
    ("d_0136_03_rejected", 2, "G", "X", d("2020-03-01"), None, None, "HITTA"),
    ("d_0192_02", 2, "B", "M", d("2020-02-15"), None, None, "HITTA"),
    ("d_0192_02", 3, "E", None, d("2020-02-01"), d("2020-02-20"), "STUDIER", "MOTA"),
    ("d_0192_03_unvalidated", 2, "H", "K", d("2020-03-01"), None, None, "HITTA"),
]


def load_landing(warehouse: Path) -> None:
    ensure_schema(warehouse)
    connection = duckdb.connect(str(warehouse))
    try:
        connection.execute(
            "insert into landing.projects values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [PROJECT, "Projekt 1", "Förbundet", "ESF", d("2020-01-01"), d("2020-12-31"), 16, 29, 100, 5],
        )
        # a second project without any delivery yet: no periods, no KPI rows
        connection.execute(
            "insert into landing.projects values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ["p2", "Projekt 2", None, None, d("2021-01-01"), d("2021-06-30"), 16, 25, None, 5],
        )
        connection.executemany(
            "insert into landing.project_municipalities values (?, ?, ?)",
            [[PROJECT, "0136", "Haninge"], [PROJECT, "0192", "Nynäshamn"], ["p2", "0482", "Flen"]],
        )
        connection.executemany(
            "insert into landing.project_activity_outcomes values (?, ?)",
            [[PROJECT, "ARBETE"], [PROJECT, "STUDIER"], ["p2", "ARBETE"]],
        )
        connection.executemany(
            "insert into landing.project_targets values (?, ?, ?)",
            [[PROJECT, "participants", 10.0], [PROJECT, "activity_share", 0.5]],
        )
        arrival_order = sorted(DELIVERIES, key=lambda delivery: delivery[3])  # found in mtime order
        for delivery_id, kommunkod, month, received_at, status, verdict in DELIVERIES:
            connection.execute(
                """insert into landing.deliveries
                   (delivery_id, project_id, kommunkod, reporting_month, file_name, archive_path,
                    sha256, size_bytes, received_at, status, verdict, arrival_seq)
                   values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [delivery_id, PROJECT, kommunkod, month, f"{month}.csv", f"archive/{delivery_id}.csv",
                 delivery_id.ljust(64, "0"), 100, received_at, status, verdict,
                 1 + [d[0] for d in arrival_order].index(delivery_id)],
            )
        months = {delivery[0]: (delivery[1], delivery[2]) for delivery in DELIVERIES}
        for delivery_id, row_number, person, kon, start, end, avslutsorsak, fas in ENROLMENT_ROWS:
            kommunkod, month = months[delivery_id]
            is_anonymous = kon is None
            person_id = f"anon-{kommunkod}-{person}" if is_anonymous else f"person-{person}"
            connection.execute(
                """insert into landing.enrolment_rows
                   (delivery_id, project_id, kommunkod, reporting_month, row_number, person_id,
                    is_anonymous, kon, age_at_start, startdatum, slutdatum, avslutsorsak, fas, warnings)
                   values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')""",
                [delivery_id, PROJECT, kommunkod, month, row_number, person_id, is_anonymous, kon, 20,
                 start, end, avslutsorsak, fas],
            )
    finally:
        connection.close()


@dataclass
class DbtResult:
    returncode: int
    stdout: str
    stderr: str


def run_dbt(command: str, warehouse: Path, tmp_path: Path, *extra: str, reuse_parse: bool = False) -> DbtResult:
    """dbt on `warehouse`, in this process (dbt's dbtRunner, as the pipeline runs it), its output
    as dbt prints it; with `reuse_parse`, from the parse made at install, which names the
    warehouse by a path relative to dbt's working directory."""
    from dbt.cli.main import dbtRunner

    from orchestration.transform.dbt_build import _close_duckdb, _environment

    if reuse_parse:
        (tmp_path / "target").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DBT_PROJECT_DIR / "target" / "partial_parse.msgpack", tmp_path / "target" / "partial_parse.msgpack")
    args = [command, *extra, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
            "--no-send-anonymous-usage-stats", "--no-use-colors"]
    printed = io.StringIO()
    try:
        with _environment(FOLLOWUP_WAREHOUSE=warehouse.name if reuse_parse else str(warehouse)), \
                contextlib.chdir(warehouse.parent if reuse_parse else tmp_path), contextlib.redirect_stdout(printed):
            result = dbtRunner().invoke(args)
    finally:
        _close_duckdb()
    returncode = 0 if result.success else 2 if result.exception is not None else 1
    return DbtResult(returncode, printed.getvalue(), repr(result.exception) if result.exception else "")


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("dbt_build")
    warehouse = tmp_path / "warehouse.duckdb"
    load_landing(warehouse)
    result = run_dbt("build", warehouse, tmp_path, reuse_parse=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Unable to do partial parsing" not in result.stdout
    return warehouse


def kpi_rows(warehouse: Path) -> dict[tuple[str, str, str, str, str], tuple]:
    """(area, period, kpi, breakdown, group) → (value, numerator, denominator, target, target_met)."""
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = connection.execute(
            """select area, period, kpi, breakdown, breakdown_group,
                      value, numerator, denominator, target, target_met
               from marts.kpi_values where project_id = ?""",
            [PROJECT],
        ).fetchall()
    finally:
        connection.close()
    return {tuple(row[:5]): tuple(row[5:]) for row in rows}


# (area, period) → kpi → {group: count}; groups absent from a dict are 0.
EXPECTED_COUNTS: dict[tuple[str, str], dict[str, dict[str, int]]] = {
    # January, 0136 (January's file): A, B, D have started (C is FELREGISTRERING).
    # B is ongoing; A ended 01-25 with nothing ongoing; D ended 01-31 ARBETE per the restating
    # February file.
    ("0136", "2020-01"): {
        "participants": {"K": 1, "M": 2},
        "new_participants": {"K": 1, "M": 2},
        "active_participants": {"M": 1},
        "exited": {"K": 1, "M": 1},
        "moved_to_activity": {"M": 1},
        # phases come from January's own file: B and D ongoing in HITTA
        "phase_hitta": {"M": 2},
    },
    # February, 0136: A is active again (re-enrolment, not new); B has moved away (exited here).
    ("0136", "2020-02"): {
        "participants": {"K": 1, "M": 2},
        "new_participants": {},
        "active_participants": {"K": 1},
        "exited": {"M": 2},
        "moved_to_activity": {"M": 1},
        "phase_aktivera": {"K": 1},
    },
    # 0192 delivered nothing for January and nobody there had started.
    ("0192", "2020-01"): {},
    ("0192", "2020-02"): {
        "participants": {"M": 1, "OKAND": 1},
        "new_participants": {"M": 1, "OKAND": 1},
        "active_participants": {"M": 1},
        "exited": {"OKAND": 1},
        "moved_to_activity": {"OKAND": 1},
        "phase_hitta": {"M": 1},
    },
    ("ALL", "2020-01"): {
        "participants": {"K": 1, "M": 2},
        "new_participants": {"K": 1, "M": 2},
        "active_participants": {"M": 1},
        "exited": {"K": 1, "M": 1},
        "moved_to_activity": {"M": 1},
        "phase_hitta": {"M": 2},
    },
    # The mover B counts once; being ongoing in 0192 he is active, not exited, in ALL.
    ("ALL", "2020-02"): {
        "participants": {"K": 1, "M": 2, "OKAND": 1},
        "new_participants": {"OKAND": 1},
        "active_participants": {"K": 1, "M": 1},
        "exited": {"M": 1, "OKAND": 1},
        "moved_to_activity": {"M": 1, "OKAND": 1},
        "phase_hitta": {"M": 1},
        "phase_aktivera": {"K": 1},
    },
}
COUNT_KPIS = (
    "participants", "new_participants", "active_participants", "exited", "moved_to_activity",
    "phase_hitta", "phase_mota", "phase_aktivera", "phase_matcha",
)
GROUPS = {"0136": ("K", "M", "X"), "0192": ("K", "M", "X", "OKAND"), "ALL": ("K", "M", "X", "OKAND")}

# (area, period, kpi, group) → (numerator, denominator); value = numerator/denominator or None.
EXPECTED_SHARES = {
    ("0136", "2020-01", "activity_share", "T"): (1, 3),
    ("0136", "2020-01", "activity_share", "K"): (0, 1),
    ("0136", "2020-01", "activity_share", "M"): (1, 2),
    ("0136", "2020-01", "activity_share", "X"): (0, 0),
    ("0136", "2020-01", "exit_activity_share", "T"): (1, 2),
    ("0136", "2020-01", "exit_activity_share", "K"): (0, 1),
    ("0136", "2020-01", "exit_activity_share", "M"): (1, 1),
    ("0136", "2020-02", "exit_activity_share", "K"): (0, 0),
    ("0136", "2020-02", "exit_activity_share", "M"): (1, 2),
    ("0192", "2020-01", "activity_share", "T"): (0, 0),
    ("0192", "2020-02", "activity_share", "T"): (1, 2),
    ("0192", "2020-02", "exit_activity_share", "T"): (1, 1),
    ("ALL", "2020-01", "activity_share", "T"): (1, 3),
    ("ALL", "2020-02", "activity_share", "T"): (2, 4),
    ("ALL", "2020-02", "activity_share", "OKAND"): (1, 1),
    ("ALL", "2020-02", "exit_activity_share", "T"): (2, 2),
    ("ALL", "2020-01", "participants_target_share", "T"): (3, 10),
    ("ALL", "2020-02", "participants_target_share", "T"): (4, 10),
    ("ALL", "2020-02", "reach", "T"): (4, 100),
}


@pytest.mark.slow
def test_kpi_values_match_hand_computed_figures(built_warehouse: Path) -> None:
    rows = kpi_rows(built_warehouse)

    # Only the counting months: the rejected and the unvalidated March files do not extend the periods.
    assert {key[1] for key in rows} == {"2020-01", "2020-02"}
    assert {key[0] for key in rows} == {"0136", "0192", "ALL"}

    for (area, period), expected in EXPECTED_COUNTS.items():
        for kpi in COUNT_KPIS:
            by_group = expected.get(kpi, {})
            for group in GROUPS[area]:
                key = (area, period, kpi, "kon", group)
                assert key in rows, key
                value, numerator, denominator, _, _ = rows[key]
                assert (value, numerator, denominator) == (by_group.get(group, 0), by_group.get(group, 0), None), key
            total = rows[(area, period, kpi, "total", "T")]
            assert total[0] == sum(by_group.values()), (area, period, kpi)
        # OKAND appears only where some person's kon is unknown (E, in 0192 and ALL)
        assert ((area, period, "participants", "kon", "OKAND") in rows) == ("OKAND" in GROUPS[area])

    for (area, period, kpi, group), (numerator, denominator) in EXPECTED_SHARES.items():
        breakdown = "total" if group == "T" else "kon"
        value, got_numerator, got_denominator, _, _ = rows[(area, period, kpi, breakdown, group)]
        assert (got_numerator, got_denominator) == (numerator, denominator), (area, period, kpi, group)
        if denominator == 0:
            assert value is None, (area, period, kpi, group)
        else:
            assert value == pytest.approx(numerator / denominator), (area, period, kpi, group)

    # participants_target_share and reach exist for the whole project only
    assert not [key for key in rows if key[2] in {"participants_target_share", "reach"} and key[0] != "ALL"]
    assert not [key for key in rows if key[2] in {"participants_target_share", "reach"} and key[3] != "total"]

    # 3 areas × 2 periods: 9 count KPIs, 7 shares and the median over each group - 0136: T, kon
    # K/M/X, alder 16-19/20-24/25-29, and (no optional columns delivered) fodelseregion 3+OKAND,
    # funktionsnedsattning 2+OKAND, utbildningsniva 3+OKAND, forsorjningsstod_start 2+OKAND = 21;
    # 0192 and ALL also kon OKAND = 22 - plus participants_target_share, reach and the pace target
    # on ALL/total
    assert len(rows) == 2 * (21 + 22 + 22) * (9 + 7 + 1) + 2 * 3


@pytest.mark.slow
def test_new_kpis_and_breakdowns_match_hand_computed_figures(built_warehouse: Path) -> None:
    rows = kpi_rows(built_warehouse)
    value = lambda *key: rows[key][0]  # noqa: E731

    # days to activity: D 01-20..01-31 ARBETE = 11 days; E 02-01..02-20 STUDIER = 19 days
    assert rows[("0136", "2020-01", "median_days_to_activity", "total", "T")][:3] == (11.0, None, 1.0)
    assert rows[("ALL", "2020-02", "median_days_to_activity", "total", "T")][:3] == (15.0, None, 2.0)
    assert rows[("0192", "2020-02", "median_days_to_activity", "kon", "OKAND")][:3] == (19.0, None, 1.0)
    assert rows[("0192", "2020-01", "median_days_to_activity", "total", "T")][:3] == (None, None, 0.0)
    # the target of 10 over the 12 months of 2020: 10 * 2 / 12 by February
    assert value("ALL", "2020-02", "participants_pace_target", "total", "T") == pytest.approx(10 * 2 / 12)
    # everyone is 20 at start: all in 20-24 of the 16-29 project's bands
    assert [value("ALL", "2020-02", "participants", "alder", band) for band in ("16-19", "20-24", "25-29")] == [0, 4, 0]
    # no optional column was delivered: every person is OKAND, and the shares over known codes are blank
    for breakdown in ("fodelseregion", "funktionsnedsattning", "utbildningsniva", "forsorjningsstod_start"):
        assert value("ALL", "2020-02", "participants", breakdown, "OKAND") == 4
    for kpi in ("not_known_share", "income_support_start_share", "income_support_end_share", "outcome_6m_activity_share"):
        assert rows[("ALL", "2020-02", kpi, "total", "T")][:3] == (None, 0.0, 0.0), kpi
    # one project only: nobody came from another
    assert rows[("ALL", "2020-02", "from_other_project_share", "total", "T")][:3] == (0.0, 0.0, 4.0)


@pytest.mark.slow
def test_targets_are_project_wide(built_warehouse: Path) -> None:
    rows = kpi_rows(built_warehouse)

    # a count target sits on the ALL/total row only
    assert rows[("ALL", "2020-02", "participants", "total", "T")][3:] == (10.0, False)
    assert rows[("0136", "2020-02", "participants", "total", "T")][3:] == (None, None)
    assert rows[("ALL", "2020-02", "participants", "kon", "K")][3:] == (None, None)
    # a share target sits on every row of its KPI; target_met is null when the share is
    assert rows[("ALL", "2020-02", "activity_share", "total", "T")][3:] == (0.5, True)
    assert rows[("ALL", "2020-01", "activity_share", "total", "T")][3:] == (0.5, False)
    assert rows[("0136", "2020-01", "activity_share", "kon", "M")][3:] == (0.5, True)
    assert rows[("0192", "2020-01", "activity_share", "total", "T")][3:] == (0.5, None)
    # no target configured
    assert rows[("ALL", "2020-02", "exit_activity_share", "total", "T")][3:] == (None, None)


@pytest.mark.slow
def test_only_the_newest_snapshot_reaches_fct_enrolments(built_warehouse: Path) -> None:
    connection = duckdb.connect(str(built_warehouse), read_only=True)
    try:
        enrolments = connection.execute(
            "select delivery_id, person_id, is_counting from marts.fct_enrolments order by delivery_id, row_number"
        ).fetchall()
        deliveries = dict(connection.execute(
            "select delivery_id, (is_counting, is_current, is_newest) from marts.fct_deliveries"
        ).fetchall())
    finally:
        connection.close()

    assert {delivery for delivery, _, _ in enrolments} == {"d_0136_02_resent", "d_0192_02"}
    assert ("d_0136_02_resent", "person-C", False) in enrolments
    assert sum(1 for _, _, counting in enrolments if counting) == 6
    assert deliveries == {
        "d_0136_01": (True, True, False),
        "d_0136_02_first": (True, False, False),
        "d_0136_02_resent": (True, True, True),
        "d_0136_03_rejected": (False, False, False),
        "d_0192_02": (True, True, True),
        "d_0192_03_unvalidated": (False, False, False),
    }


def test_each_broken_rule_of_a_model_is_one_row_of_its_rules_test(built_warehouse: Path, tmp_path: Path) -> None:
    """Every rule of a model is checked by its one `rules` test (tests/generic/rules.sql); it passed
    in the build of `built_warehouse`. Rows of kpi_values are broken one rule each; the test fails
    with one row per broken rule, naming the rule, the column and how many rows break it."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built_warehouse, warehouse)
    key = "project_id, area, period, kpi, breakdown, breakdown_group"
    with duckdb.connect(str(warehouse)) as db:
        ids = [r[0] for r in db.execute(
            "select kpi_value_id from marts.kpi_values where kpi = 'participants' and breakdown = 'kon' "
            "order by kpi_value_id limit 4").fetchall()]
        share = db.execute("select kpi_value_id from marts.kpi_values where kpi = 'activity_share' "
                           "and value is not null order by kpi_value_id limit 1").fetchone()[0]
        duplicate = db.execute(f"select {key} from marts.kpi_values where kpi_value_id = ?", [ids[0]]).fetchone()
        db.execute("insert into marts.kpi_values select * from marts.kpi_values where kpi_value_id = ?", [ids[0]])
        db.execute("update marts.kpi_values set kpi_type = 'antal' where kpi_value_id = ?", [ids[1]])
        db.execute("update marts.kpi_values set area = '12x4' where kpi_value_id = ?", [ids[2]])
        db.execute("update marts.kpi_values set value = null where kpi_value_id = ?", [ids[3]])
        db.execute("update marts.kpi_values set value = 1.5 where kpi_value_id = ?", [share])
        project = db.execute("select project_id from marts.kpi_values where kpi_value_id = ?", [ids[2]]).fetchone()[0]
    failed = run_dbt("test", warehouse, tmp_path, "--select", "rules_kpi_values", "--store-failures", reuse_parse=True)
    assert failed.returncode == 1, failed.stdout[-3000:]
    assert "Failure in test rules_kpi_values" in failed.stdout and "Got 7 results" in failed.stdout
    with duckdb.connect(str(warehouse), read_only=True) as db:
        stored = set(db.execute("select rule, column_names, value, row_count from dbt_test__audit.rules_kpi_values").fetchall())
    assert stored == {
        ("unique", key, " | ".join(duplicate), 2),
        ("unique", "kpi_value_id", ids[0], 2),
        ("accepted_values", "kpi_type", "antal", 1),
        ("patterns", "area", "12x4", 1),
        ("references", "project_id, area -> dim_project_areas.project_id, area", f"{project} | 12x4", 1),
        ("not_null where kpi_type = 'count'", "value", None, 1),
        ("between where kpi_type = 'share' and kpi not in ('participants_target_share', 'reach')", "value", "1.5", 1),
    }


def test_dbt_parses_without_a_warehouse(tmp_path: Path) -> None:
    result = run_dbt("parse", tmp_path / "absent.duckdb", tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.slow
def test_docs_generate_and_every_model_and_column_is_described(built_warehouse: Path, tmp_path: Path) -> None:
    result = run_dbt("docs", built_warehouse, tmp_path, "generate", reuse_parse=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text(encoding="utf-8"))
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text(encoding="utf-8"))
    undescribed = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        if not node["description"].strip():
            undescribed.append(unique_id)
        documented = {name.lower() for name, column in node["columns"].items() if column["description"].strip()}
        if node["config"]["materialized"] == "ephemeral":     # never built, so not in the catalog
            undescribed += [f"{unique_id}.{name}" for name, column in node["columns"].items()
                            if not column["description"].strip()] + ([f"{unique_id} (no columns)"] if not documented else [])
            continue
        built = {name.lower() for name in catalog["nodes"][unique_id]["columns"]}
        undescribed += [f"{unique_id}.{name}" for name in sorted(built - documented)]
    assert undescribed == []


def test_the_pipeline_parses_the_project_from_the_parse_saved_at_install(tmp_path, monkeypatch):
    """A process's first dbt build parses the project once (transform/dbt_build.py); naming the
    warehouse as the install-time parse did, it is a partial parse that reads no file again (a
    full one took ~3 s more), wherever the data home's warehouse is."""
    from orchestration.transform import dbt_build

    monkeypatch.setattr(dbt_build, "_parsed", {})            # as in a new process
    monkeypatch.setenv("FOLLOWUP_WAREHOUSE", str(tmp_path / "elsewhere" / "warehouse.duckdb"))
    target = tmp_path / "target"
    manifest = dbt_build.parsed_project(target)
    assert "model.followup.kpi_values" in manifest.nodes
    performance = json.loads((target / "perf_info.json").read_text(encoding="utf-8"))
    assert performance["is_partial_parse_enabled"] is True
    assert performance["path_count"] > 50 and performance["parsed_path_count"] == 0
    assert not (tmp_path / "elsewhere").exists() and os.environ["FOLLOWUP_WAREHOUSE"].startswith(str(tmp_path))

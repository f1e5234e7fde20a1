"""Exports written once per set of figures: `followup export` after a run copies the run's files
instead of working them out again, a rebuild of the same figures keeps them, changed figures are
written anew, and the same figures always give the same bytes (reporting/export.py, the workbook's
time from the build: reporting/workbook.py).

A real DuckDB warehouse with the marts the exports read, made by hand (two months, three areas),
and the build recorded as the dbt step records it (lib/warehouse.record_marts_build)."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import duckdb
import openpyxl

from orchestration.lib.warehouse import record_marts_build
from orchestration.projects.config import Project, ProjectsConfig
from orchestration.reporting.export import export_all, figures_built_by, suppression_cache

PROJECT = Project(
    id="p1", name="Projekt Ett", owner="Förbundet", funder="ESF", period_start=dt.date(2020, 1, 1),
    period_end=dt.date(2020, 12, 31), age_min=16, age_max=25, municipalities=("0136", "0192"),
    activity_outcomes=("ARBETE", "STUDIER"), targets={"participants": 120.0}, min_count=5,
)
CONFIG = ProjectsConfig((PROJECT,), Path("projects.yaml"))
FILES = ("kpi.csv", "kpi.xlsx")


def kpi_rows(participants_0192: float) -> list[tuple]:
    rows = []
    for period, scale in (("2020-01", 1), ("2020-02", 2)):
        by_area = {"0136": 20.0 * scale, "0192": participants_0192 * scale}
        by_area["ALL"] = sum(by_area.values())
        for area, participants in by_area.items():
            women = participants // 2
            rows += [("p1", area, period, "participants", "total", "T", participants, participants, None, 120.0, False),
                     ("p1", area, period, "participants", "kon", "K", women, women, None, None, None),
                     ("p1", area, period, "participants", "kon", "M", participants - women, participants - women,
                      None, None, None)]
    return rows


def warehouse(tmp_path: Path, participants_0192: float = 3.0) -> Path:
    """The marts the exports read; the 0192 figures small enough to be hidden."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("create schema if not exists marts")
        db.execute("create or replace table marts.kpi_values (project_id varchar, area varchar, period varchar, "
                   "kpi varchar, breakdown varchar, breakdown_group varchar, value double, numerator double, "
                   "denominator double, target double, target_met boolean)")
        db.executemany("insert into marts.kpi_values values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       kpi_rows(participants_0192))
        db.execute("create or replace table marts.fct_deliveries as select 'p1' as project_id, '0136' as kommunkod, "
                   "'2020-02' as reporting_month, 'januari.csv' as file_name, repeat('a', 64) as sha256, "
                   "timestamp '2020-03-05 08:00' as received_at, 'ACCEPTED' as verdict, null::varchar as verdict_reason, "
                   "40 as rows_total, 40 as rows_accepted, 0 as rows_rejected, 0 as rows_warned, true as is_current, "
                   "'DELTAGARE' as extract_kind")
    return path


def run_exports(home: Path, path: Path):
    """What the run's kpi_exports step does: the build recorded by dbt, into the home's exports."""
    return export_all(path, CONFIG, home / "exports", built_by=figures_built_by(home / "dagster", path),
                      reuse=home / "exports")


def identity(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_ino, status.st_mtime_ns


def test_an_export_after_the_run_copies_its_files_byte_for_byte_without_working_them_out(tmp_path):
    path = warehouse(tmp_path)
    record_marts_build(path, "run-1")
    (run,) = run_exports(tmp_path, path)
    assert run.reused == ()                                     # the first exports of these figures
    cache = suppression_cache(path, "p1")
    before = identity(cache)                                    # rewritten whenever a month is read and suppressed

    (copied,) = export_all(path, CONFIG, tmp_path / "out", built_by=figures_built_by(tmp_path / "dagster", path),
                           reuse=tmp_path / "exports")
    assert copied.reused == FILES and copied.rows == run.rows
    for name in FILES:
        assert (tmp_path / "out" / "p1" / name).read_bytes() == (tmp_path / "exports" / "p1" / name).read_bytes()
    assert identity(cache) == before, "no month was read and suppressed again"

    # a file of the run's changed since (or half rewritten) is worked out again, not copied
    run_csv = tmp_path / "exports" / "p1" / "kpi.csv"
    original = run_csv.read_bytes()
    run_csv.write_bytes(original.replace(b"p1", b"p2"))
    (again,) = export_all(path, CONFIG, tmp_path / "out2", built_by=figures_built_by(tmp_path / "dagster", path),
                          reuse=tmp_path / "exports")
    assert again.reused == ("kpi.xlsx",)
    assert (tmp_path / "out2" / "p1" / "kpi.csv").read_bytes() == original


def test_exports_of_one_build_are_byte_equal_and_dated_by_the_build_not_the_clock(tmp_path):
    path = warehouse(tmp_path)
    record_marts_build(path, "run-1")
    built = figures_built_by(tmp_path / "dagster", path)
    first = export_all(path, CONFIG, tmp_path / "a", built_by=built)
    second = export_all(path, CONFIG, tmp_path / "b", built_by=built)
    assert first[0].reused == second[0].reused == ()            # both worked out, neither copied
    for name in FILES:
        assert (tmp_path / "a" / "p1" / name).read_bytes() == (tmp_path / "b" / "p1" / name).read_bytes()
    moment = built.built_at.replace(microsecond=0)
    book = openpyxl.load_workbook(tmp_path / "a" / "p1" / "kpi.xlsx")
    assert book.properties.created == book.properties.modified == moment
    with zipfile.ZipFile(tmp_path / "a" / "p1" / "kpi.xlsx") as archive:
        # a zip file keeps even seconds
        assert {info.date_time for info in archive.infolist()} == {(*moment.timetuple()[:5], moment.second // 2 * 2)}


def test_a_rebuild_of_the_same_figures_keeps_the_files_and_changed_figures_are_written_anew(tmp_path):
    path = warehouse(tmp_path)
    record_marts_build(path, "run-1")
    run_exports(tmp_path, path)
    files = [tmp_path / "exports" / "p1" / name for name in FILES]
    kept = [(identity(f), f.read_bytes()) for f in files]

    record_marts_build(path, "run-2")                           # dbt built again, the same figures
    (rebuilt,) = run_exports(tmp_path, path)
    assert rebuilt.reused == FILES
    assert [(identity(f), f.read_bytes()) for f in files] == kept   # not even written again

    warehouse(tmp_path, participants_0192=30.0)                  # a corrected delivery: other figures
    record_marts_build(path, "run-3")
    (changed,) = run_exports(tmp_path, path)
    assert changed.reused == ()
    assert files[0].read_bytes() != kept[0][1]
    definitions = openpyxl.load_workbook(files[1])["Definitioner"]
    text = " ".join(str(c) for r in definitions.iter_rows(values_only=True) for c in r if c)
    assert "run-3" in text and "run-1" not in text

    # `followup export` of the changed figures copies the new files, not the old ones
    (copied,) = export_all(path, CONFIG, tmp_path / "out", built_by=figures_built_by(tmp_path / "dagster", path),
                           reuse=tmp_path / "exports")
    assert copied.reused == FILES
    assert (tmp_path / "out" / "p1" / "kpi.csv").read_bytes() == files[0].read_bytes()


def test_an_export_of_other_figures_than_the_run_s_is_worked_out(tmp_path):
    path = warehouse(tmp_path)
    record_marts_build(path, "run-1")
    run_exports(tmp_path, path)
    built = figures_built_by(tmp_path / "dagster", path)
    (older,) = export_all(path, CONFIG, tmp_path / "out", period="2020-01", built_by=built, reuse=tmp_path / "exports")
    (exact,) = export_all(path, CONFIG, tmp_path / "out", unsuppressed=True, built_by=built, reuse=tmp_path / "exports")
    assert older.reused == exact.reused == ()
    assert {line.split(",")[2] for line in older.path.read_text(encoding="utf-8").splitlines()[1:]} == {"2020-01"}
    assert exact.path.name == "kpi_internal.csv" and "true" not in exact.path.read_text(encoding="utf-8")

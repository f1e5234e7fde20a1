"""A failing dbt test stops the run, also on a model whose tests are not asset checks.

Only the marts' dbt tests are asset checks in the UI (transform/assets.py); the staging and
intermediate tests run in the same `dbt build`. One of them failing must still fail the step
and keep the marts (and so the funder exports) from being built on bad rows, and the step's
failure says which rule of which model broke, on which value.
"""

from __future__ import annotations

import shutil

import dagster as dg
import duckdb
import pytest

from orchestration.lib.home import DataHome
from orchestration.resources import FollowupResource
from orchestration.transform.assets import followup_dbt_models

pytestmark = pytest.mark.slow


def test_a_failing_staging_test_fails_the_dbt_step_and_leaves_the_marts_as_they_were(demo_pipeline, tmp_path):
    home = DataHome.resolve(tmp_path / "home").create()
    shutil.copyfile(demo_pipeline.home.warehouse, home.warehouse)
    with duckdb.connect(str(home.warehouse)) as db:
        # A phase outside the code list, past validation (as a bug in the Python stages would put it).
        db.execute("update landing.enrolment_rows set fas = 'VILA' where row_number = "
                   "(select min(row_number) from landing.enrolment_rows)")
        changed = db.execute("select count(*) from landing.enrolment_rows where fas = 'VILA'").fetchone()[0]
        before = db.execute("select count(*), sum(value) from marts.kpi_values").fetchone()
        db.execute("delete from marts.kpi_values where project_id = 'uvas'")   # a rebuild would restore these
    remaining = before[0] - _uvas_rows(demo_pipeline.home.warehouse)

    # With the monthly job's retry policy (two retries after 15 and 30 s): a failing test is not retried.
    result = run_dbt_step(home, dg.RetryPolicy(max_retries=2, delay=15))

    assert not result.success
    assert not any(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    # dbt says only "Got 1 result" of the model's rules test; the step says which rule and value.
    assert "rules_stg_landing__enrolment_rows: 1 fel" in message, message
    assert f"accepted_values fas = 'VILA' ({changed} {'rad' if changed == 1 else 'rader'})" in message, message
    assert "försöker inte igen" in message and failure.step_failure_data.user_failure_data is not None
    with duckdb.connect(str(home.warehouse), read_only=True) as db:
        assert db.execute("select count(*) from marts.kpi_values").fetchone()[0] == remaining


def run_dbt_step(home: DataHome, retry_policy: dg.RetryPolicy) -> dg.ExecuteInProcessResult:
    """The dbt step alone on `home`, under a retry policy like the monthly job's."""
    job = dg.define_asset_job("gate", op_retry_policy=retry_policy)
    defs = dg.Definitions(assets=[followup_dbt_models], jobs=[job],
                          resources={"followup": FollowupResource(home=str(home.root))})
    return defs.resolve_job_def("gate").execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def _uvas_rows(warehouse) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as db:
        return db.execute("select count(*) from marts.kpi_values where project_id = 'uvas'").fetchone()[0]


def test_dbt_that_cannot_build_fails_the_step_in_swedish_and_is_tried_again(tmp_path):
    """Not a failed data test but dbt itself failing (here: the warehouse is not a database file):
    the step says so with dbt's own reason and its log, and the job's retry policy tries again."""
    home = DataHome.resolve(tmp_path / "home").create()
    home.warehouse.mkdir()
    result = run_dbt_step(home, dg.RetryPolicy(max_retries=1, delay=0))
    assert not result.success
    retried = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retried) == 1
    error, messages = retried[0].event_specific_data.error, []
    while error is not None:                    # Dagster's retry request, caused by the step's own error
        messages.append(error.message)
        error = error.cause or error.context
    message = "\n".join(messages)
    assert "dbt kunde inte bygga tabellerna:" in message and "dbt:s logg:" in message, message
    assert str(home.warehouse) in message, message


def test_a_whole_build_with_nothing_new_to_read_builds_nothing_and_a_changed_source_builds(demo_pipeline, tmp_path):
    """The demo's warehouse as its run left it: every source dbt reads is as the run's whole build
    read it, so the step builds nothing (no dbt invocation, the marts' rows untouched) and says so
    on each model; one changed landing row and dbt builds again."""
    home = DataHome.resolve(tmp_path / "home").create()
    shutil.copyfile(demo_pipeline.home.warehouse, home.warehouse)
    with duckdb.connect(str(home.warehouse), read_only=True) as db:
        marts = db.execute(MARTS_FINGERPRINT).fetchone()

    kept = run_dbt_step(home, dg.RetryPolicy(max_retries=0))
    assert kept.success
    notes = [m.metadata.get("oförändrad") for m in kept.asset_materializations_for_node("followup_dbt_models")]
    assert len(notes) == len(followup_dbt_models.keys) and all(notes)
    assert demo_pipeline.outcome.run_id in notes[0].value
    assert not (home.root / "dbt-target").exists()                     # dbt never started
    with duckdb.connect(str(home.warehouse), read_only=True) as db:
        assert db.execute(MARTS_FINGERPRINT).fetchone() == marts

    with duckdb.connect(str(home.warehouse)) as db:
        db.execute("update landing.projects set name = name || ' (ny)' where project_id = 'uvas'")
    built = run_dbt_step(home, dg.RetryPolicy(max_retries=0))
    assert built.success
    assert not any("oförändrad" in m.metadata for m in built.asset_materializations_for_node("followup_dbt_models"))
    assert [p.name for p in (home.root / "dbt-target").iterdir()] == [built.run_id]
    with duckdb.connect(str(home.warehouse), read_only=True) as db:
        assert db.execute("select count(*) from marts.dim_projects where project_name like '% (ny)'").fetchone()[0] == 1


# The mart's rows as they are (a float sum rounded: DuckDB sums in parallel, in any order).
MARTS_FINGERPRINT = "select count(*), round(sum(value), 6), max(rowid) from marts.kpi_values"

"""The snapshot in force is decided once (lib/delivery_state.py): the warehouse view
landing.delivery_states, dbt's int_snapshots_ranked (after a real dbt run) and the
concurrent-enrolment check, which runs before dbt with the pending deliveries' verdicts not yet
written, choose the same delivery, on generated resubmission scenarios; and that choice is the
rule worked out here in plain Python (counting verdicts, then arrival order, file time and id)."""

from __future__ import annotations

import calendar
import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.lib.contract import (
    ACCEPTED,
    ACCEPTED_WITH_WARNINGS,
    COUNTING_VERDICTS,
    PSEUDONYMISED,
    RECEIVED,
    REJECTED,
    VALIDATED,
)
from orchestration.lib.warehouse import ensure_schema
from orchestration.quality.stage import CONCURRENT_CODE, concurrent_enrolments
from tests.transform.test_dbt_models import run_dbt

MONTHS = [f"2021-{m:02d}" for m in range(1, 7)]
KOMMUNER = ("0114", "0115", "0117", "0120", "0123")
PROBE_KOMMUN = "0999"        # the probe's municipality: its rows name every other delivery's person
SCENARIOS = 16

# what a generated file is when the check runs: (status, verdict, in this validation batch)
KINDS = [
    ((VALIDATED, ACCEPTED, False), 5),
    ((VALIDATED, ACCEPTED_WITH_WARNINGS, False), 3),
    ((VALIDATED, REJECTED, False), 3),
    ((PSEUDONYMISED, None, True), 3),       # validated in this batch, not rejected whole: it will count
    ((PSEUDONYMISED, None, False), 1),      # waiting for a later batch
    ((RECEIVED, None, False), 1),
]


@dataclass
class Delivery:
    delivery_id: str
    project_id: str
    kommunkod: str
    reporting_month: str
    received_at: dt.datetime
    arrival_seq: int | None
    status: str
    verdict: str | None
    pending: bool              # in the batch the check runs on

    def counts_after_validation(self) -> bool:
        return self.pending or (self.status == VALIDATED and self.verdict in COUNTING_VERDICTS)


def month_end(month: str) -> dt.date:
    year, number = map(int, month.split("-"))
    return dt.date(year, number, calendar.monthrange(year, number)[1])


def person(delivery_id: str) -> str:
    return f"person-{delivery_id}"


def generate(project_id: str, rng: random.Random) -> list[Delivery]:
    """Several municipalities, months delivered once, resubmitted or never, rejected corrections,
    equal arrival sequences and file times, files for later months found first, files waiting."""
    deliveries = []
    kinds, weights = zip(*KINDS)
    for kommunkod in rng.sample(KOMMUNER, rng.randint(2, len(KOMMUNER))):
        for month in MONTHS:
            for _ in range(rng.choice([0, 1, 1, 2, 3, 4])):
                status, verdict, pending = rng.choices(kinds, weights)[0]
                # few distinct values: ties in arrival_seq and received_at within a month are common,
                # and a later month's file is often found before an earlier month's
                arrival_seq = None if rng.random() < 0.08 else rng.randint(1, 12)
                received_at = dt.datetime(2021, 7, 1) + dt.timedelta(hours=rng.choice([0, 0, 5, 30]))
                delivery_id = f"{project_id}-{kommunkod}-{month}-{rng.getrandbits(32):08x}"
                deliveries.append(Delivery(delivery_id, project_id, kommunkod, month, received_at, arrival_seq,
                                           status, verdict, pending))
    return deliveries


def expected_in_force(deliveries: list[Delivery]) -> dict[tuple[str, str, str], str]:
    """The rule in plain Python: of the deliveries that count after validation, per project,
    municipality and month, the greatest arrival_seq (none is the oldest), then received_at, then
    delivery_id."""
    best: dict[tuple[str, str, str], Delivery] = {}
    key = lambda d: (d.arrival_seq is not None, d.arrival_seq or 0, d.received_at, d.delivery_id)  # noqa: E731
    for d in deliveries:
        if d.counts_after_validation():
            month_key = (d.project_id, d.kommunkod, d.reporting_month)
            if month_key not in best or key(d) > key(best[month_key]):
                best[month_key] = d
    return {month_key: d.delivery_id for month_key, d in best.items()}


def in_force_at(in_force: dict[tuple[str, str, str], str], project_id: str, kommunkod: str, month: str) -> str | None:
    """A municipality's snapshot in force at a month: that of its greatest month up to it."""
    months = [m for p, k, m in in_force if p == project_id and k == kommunkod and m <= month]
    return in_force[(project_id, kommunkod, max(months))] if months else None


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("snapshot_in_force")
    warehouse = tmp_path / "warehouse.duckdb"
    ensure_schema(warehouse)
    deliveries = [d for n in range(SCENARIOS) for d in generate(f"p{n}", random.Random(n))]
    probes = [Delivery(f"probe-p{n}-{month}", f"p{n}", PROBE_KOMMUN, month, dt.datetime(2021, 8, 1), 100,
                       PSEUDONYMISED, None, False) for n in range(SCENARIOS) for month in MONTHS]
    with duckdb.connect(str(warehouse)) as db:
        db.executemany(
            "insert into landing.deliveries (delivery_id, project_id, kommunkod, reporting_month, file_name, "
            "archive_path, sha256, size_bytes, received_at, arrival_seq, status, verdict) "
            "values (?, ?, ?, ?, ?, '', ?, 1, ?, ?, ?, ?)",
            [[d.delivery_id, d.project_id, d.kommunkod, d.reporting_month, f"{d.reporting_month}.csv",
              d.delivery_id.ljust(64, "0"), d.received_at, d.arrival_seq, d.status, d.verdict]
             for d in deliveries + probes])
        # every validated file that counts has its one person in the warehouse's accepted rows
        db.executemany(
            "insert into landing.enrolment_rows (delivery_id, project_id, kommunkod, reporting_month, row_number, "
            "person_id, is_anonymous, startdatum, fas, warnings) values (?, ?, ?, ?, 2, ?, false, '2021-01-01', 'HITTA', '')",
            [[d.delivery_id, d.project_id, d.kommunkod, d.reporting_month, person(d.delivery_id)]
             for d in deliveries if d.status == VALIDATED and d.verdict != REJECTED])
    checked = concurrent_choices(warehouse, deliveries, probes)
    # then the batch's verdicts are written, as validation writes them
    rng = random.Random(-1)
    with duckdb.connect(str(warehouse)) as db:
        db.executemany("update landing.deliveries set status = ?, verdict = ? where delivery_id = ?",
                       [[VALIDATED, rng.choice(COUNTING_VERDICTS), d.delivery_id] for d in deliveries if d.pending])
    result = run_dbt("run", warehouse, tmp_path, "--select", "+int_snapshots_ranked", reuse_parse=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    with duckdb.connect(str(warehouse), read_only=True) as db:
        view = db.execute("select delivery_id, project_id, kommunkod, reporting_month, counts, snapshot_rank, in_force "
                          "from landing.delivery_states").fetchall()
        ranked = db.execute("select delivery_id, project_id, kommunkod, reporting_month, is_counting, snapshot_rank, "
                            "is_current_snapshot from intermediate.int_snapshots_ranked").fetchall()
    return deliveries, checked, view, ranked


def concurrent_choices(warehouse: Path, deliveries: list[Delivery], probes: list[Delivery]) -> dict:
    """For each project and month, the delivery the concurrent check compares with for each other
    municipality: a probe delivery of that month, validated in the batch with the pending files,
    holds a row for every delivery's person; the rows it is warned about name the snapshots in force."""
    start, choices = dt.date(2021, 1, 1), {}
    pending = [d for d in deliveries if d.pending]
    owner = {person(d.delivery_id): d for d in deliveries}
    for probe in probes:
        own = [d for d in deliveries if d.project_id == probe.project_id]
        rows = [(d.delivery_id, d.project_id, d.kommunkod, d.reporting_month, 2, person(d.delivery_id), False, start,
                 None, None, month_end(d.reporting_month)) for d in pending if d.project_id == probe.project_id]
        rows += [(probe.delivery_id, probe.project_id, PROBE_KOMMUN, probe.reporting_month, 10 + i, person(d.delivery_id),
                  False, start, None, None, month_end(probe.reporting_month)) for i, d in enumerate(own)]
        counting = pd.DataFrame(rows, columns=["delivery_id", "project_id", "kommunkod", "reporting_month", "row_number",
                                               "person_id", "is_anonymous", "startdatum", "slutdatum", "avslutsorsak",
                                               "month_end"])
        counting["startdatum"] = pd.to_datetime(counting["startdatum"])
        counting["slutdatum"] = pd.to_datetime(counting["slutdatum"])
        counting["month_end"] = pd.to_datetime(counting["month_end"])
        with duckdb.connect(str(warehouse), read_only=True) as db:
            findings = concurrent_enrolments(db, counting)
        assert {f.code for f in findings} <= {CONCURRENT_CODE}
        for finding in findings:
            if finding.delivery_id == probe.delivery_id:
                chosen = owner[person(own[finding.row_number - 10].delivery_id)]
                key = (probe.project_id, chosen.kommunkod, probe.reporting_month)
                assert key not in choices, f"two snapshots in force for {key}: {choices[key]}, {chosen.delivery_id}"
                choices[key] = chosen.delivery_id
    return choices


def test_scenarios_cover_the_tie_breaks(scenarios):
    """The generated scenarios hold what makes the rule matter, or the agreement below says little."""
    deliveries, *_ = scenarios
    by_month: dict[tuple[str, str, str], list[Delivery]] = {}
    for d in deliveries:
        by_month.setdefault((d.project_id, d.kommunkod, d.reporting_month), []).append(d)
    counting = [[d for d in ds if d.counts_after_validation()] for ds in by_month.values()]
    assert sum(len(c) > 1 for c in counting) > 20                                    # resubmitted months
    assert any(len({d.arrival_seq for d in c}) < len(c) for c in counting)           # equal arrival sequences
    assert any(len({(d.arrival_seq, d.received_at) for d in c}) < len(c) for c in counting)   # and equal file times
    assert any(None in {d.arrival_seq for d in c} and len(c) > 1 for c in counting)  # no arrival sequence
    assert any(d.verdict == REJECTED and any(c.counts_after_validation() for c in ds)
               for ds in by_month.values() for d in ds)                             # rejected corrections
    assert any(d.pending for d in deliveries)


def test_view_keeps_the_rule(scenarios):
    deliveries, _, view, _ = scenarios
    expected = expected_in_force(deliveries)
    in_force = {(p, k, m): d for d, p, k, m, _, _, current in view if current and not d.startswith("probe-")}
    assert in_force == expected
    counting = {d for d, *_, counts, _, _ in view if counts}
    assert counting == {d.delivery_id for d in deliveries if d.counts_after_validation()}


def test_dbt_takes_the_snapshot_in_force_from_the_view(scenarios):
    _, _, view, ranked = scenarios
    assert sorted(ranked) == sorted(view)


def test_concurrent_check_compares_with_the_snapshot_in_force(scenarios):
    """Before dbt and before the batch's verdicts are written, the check compares each month with
    every other municipality's snapshot in force at that month: the current snapshot of its greatest
    month up to it, counting the files of the batch that will be accepted."""
    deliveries, checked, _, _ = scenarios
    in_force = expected_in_force(deliveries)
    expected = {}
    for project_id in {d.project_id for d in deliveries}:
        for kommunkod in {d.kommunkod for d in deliveries if d.project_id == project_id}:
            for month in MONTHS:
                chosen = in_force_at(in_force, project_id, kommunkod, month)
                if chosen:
                    expected[(project_id, kommunkod, month)] = chosen
    assert checked == expected


def test_resubmission_order_is_arrival_order_not_file_time(tmp_path):
    """Of two counting files for one month the one intake found later (greater arrival_seq) is in
    force, even when its file time is older; a rejected or unvalidated later file changes nothing;
    equal arrival and file times fall to the greater delivery_id."""
    warehouse = tmp_path / "warehouse.duckdb"
    ensure_schema(warehouse)
    rows = [
        ("a_first", "0136", "2020-01", "2020-02-05 08:00", 1, VALIDATED, ACCEPTED),
        ("a_older_copy", "0136", "2020-01", "2020-02-03 08:00", 2, VALIDATED, ACCEPTED_WITH_WARNINGS),
        ("a_rejected", "0136", "2020-01", "2020-02-09 08:00", 3, VALIDATED, REJECTED),
        ("a_pending", "0136", "2020-01", "2020-02-10 08:00", 4, PSEUDONYMISED, None),
        ("b_1_arrived_later", "0192", "2020-01", "2020-02-05 08:00", 4, VALIDATED, ACCEPTED),
        ("b_2_arrived_first", "0192", "2020-01", "2020-02-05 08:00", 3, VALIDATED, ACCEPTED),
        ("c_1", "0127", "2020-01", "2020-02-05 08:00", 5, VALIDATED, ACCEPTED),
        ("c_2", "0127", "2020-01", "2020-02-05 08:00", 5, VALIDATED, ACCEPTED),
        ("c_0_newer_file", "0127", "2020-01", "2020-02-06 08:00", 5, VALIDATED, ACCEPTED),
    ]
    with duckdb.connect(str(warehouse)) as db:
        db.executemany(
            "insert into landing.deliveries (delivery_id, project_id, kommunkod, reporting_month, file_name, "
            "archive_path, sha256, size_bytes, received_at, arrival_seq, status, verdict) "
            "values (?, 'p', ?, ?, 'f.csv', '', ?, 1, ?, ?, ?, ?)",
            [[d, k, m, d.ljust(64, "0"), t, seq, s, v] for d, k, m, t, seq, s, v in rows])
        states = {d: (rank, in_force) for d, rank, in_force in db.execute(
            "select delivery_id, snapshot_rank, in_force from landing.delivery_states").fetchall()}
    assert states == {
        "a_first": (2, False), "a_older_copy": (1, True), "a_rejected": (None, False), "a_pending": (None, False),
        "b_1_arrived_later": (1, True), "b_2_arrived_first": (2, False),
        "c_0_newer_file": (1, True), "c_2": (2, False), "c_1": (3, False),
    }


def test_a_mapping_file_is_in_force_within_its_kind_and_never_replaces_an_enrolment_snapshot(tmp_path, pseudonym_key):
    """Real files through the real intake: an enrolment file, then two mapping files for the same
    month (the second a resubmission). The view and dbt agree: the enrolment snapshot in force is
    the enrolment file; the later mapping file replaces the earlier one only; dbt's enrolment
    snapshots (int_snapshots_ranked) hold no mapping file; fct_deliveries holds both kinds."""
    from orchestration.ingest.intake import run_intake
    from orchestration.projects.config import load_projects
    from tests.bad_inputs.builders import HEADER, PersonFactory, csv_bytes, rows_for
    from tests.bad_inputs.scenario import write_file
    from tests.bad_inputs.stages import new_home, record_verdict

    home = new_home(tmp_path / "home")
    persons = PersonFactory().take(1990, 4)
    folder = home.inbox / "vaga_valja_vag" / "0482"
    answers = csv_bytes(["personnummer", "besvarad", "paverka_vardag"], [[p.ten, "2009-10-12", "3"] for p in persons])
    files = [  # in arrival order
        (folder / "2009-10.csv", csv_bytes(HEADER, rows_for(persons, "2009-08-17")), "INSKRIVNING"),
        (folder / "kartlaggning" / "2009-10.csv", answers, "KARTLAGGNING"),
        (folder / "Kartläggning" / "2009-10 rättad.csv", answers + b"\n", "KARTLAGGNING"),
    ]
    ids = []
    for n, (path, content, kind) in enumerate(files):
        write_file(path, content, dt.datetime(2009, 11, 5 + n, 9))
        [routed] = run_intake(home, load_projects(), today=dt.date(2010, 1, 20)).new
        assert routed.extract_kind == kind
        record_verdict(home, routed.delivery_id, ACCEPTED, rows_total=4)
        ids.append(routed.delivery_id)
    enrolment, mapping, resubmitted = ids

    result = run_dbt("run", home.warehouse, tmp_path, "--select", "+fct_deliveries", reuse_parse=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    tested = run_dbt("test", home.warehouse, tmp_path, "--select", "stg_landing__delivery_states", reuse_parse=True)
    assert tested.returncode == 0, tested.stdout[-6000:]
    with duckdb.connect(str(home.warehouse), read_only=True) as db:
        view = {row[0]: row[1:] for row in db.execute(
            "select delivery_id, extract_kind, snapshot_rank, in_force, state from landing.delivery_states").fetchall()}
        ranked = {row[0]: row[1:] for row in db.execute(
            "select delivery_id, snapshot_rank, is_current_snapshot, is_newest_snapshot "
            "from intermediate.int_snapshots_ranked").fetchall()}
        marts = {row[0]: row[1:] for row in db.execute(
            "select delivery_id, extract_kind, snapshot_rank, is_current, is_newest from marts.fct_deliveries").fetchall()}
    assert view == {enrolment: ("INSKRIVNING", 1, True, "GALLER"),
                    mapping: ("KARTLAGGNING", 2, False, "ERSATT"),
                    resubmitted: ("KARTLAGGNING", 1, True, "GALLER")}
    assert ranked == {enrolment: (1, True, True)}
    assert marts == {enrolment: ("INSKRIVNING", 1, True, True),
                     mapping: ("KARTLAGGNING", 2, False, False),
                     resubmitted: ("KARTLAGGNING", 1, True, False)}

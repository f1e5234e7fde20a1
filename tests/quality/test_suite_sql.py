"""The suite as SQL (quality/suite_sql.py) finds exactly the rows GX finds, rule by rule.

Generated rows (nulls, odd codes, dates in any order, ages at the bounds, rows under and outside
each row condition) go into a real warehouse; the stage's relation of them is validated by the SQL
translation and by GX with result format COMPLETE (every failing row), on the frame the stage
gives GX. Both the contract's suite and a suite of the kwargs and row conditions the contract does
not use yet (but the mapping suites or a later rule may) are checked.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from orchestration.lib.warehouse import connect, ensure_schema
from orchestration.projects.config import load_projects
from orchestration.quality.mapping_suite import suite_document
from orchestration.quality.stage import _ROWS_SQL
from orchestration.quality.suite_sql import SuiteTranslationError, translate
from orchestration.quality.validate import (
    ENROLMENT_SUITE, Contract, SuiteDisagreement, load_contract, run_suite, suite_findings,
)

DELIVERIES = [("d1", "0114", "2021-03"), ("d2", "0115", "2021-02"), ("d3", "0114", "2021-01")]
CONTRACT = load_contract()


def _comparison(column, operator, parameter):
    return {"type": "comparison", "column": {"name": column}, "operator": operator, "parameter": parameter}


def _rule(code, kind, **kwargs):
    return {"type": kind, "kwargs": kwargs, "meta": {"reason_code": code, "column": "x", "verdict": "rejected",
                                                     "message": "m"}}


# The kwargs and conditions the contract's suite does not use: strict bounds, one-sided bounds, a
# strict pair, ignore_row_if both/neither, empty and excluded sets, an unanchored regex, `!=`,
# IN/NOT_IN, `<`/`>=`, is-null, and/or.
OTHER_SUITE = {"name": "other", "expectations": [
    _rule("STRICT_BETWEEN", "expect_column_values_to_be_between", column="age_at_start", min_value=18, max_value=25,
          strict_min=True, strict_max=True,
          row_condition={"type": "or", "conditions": [{"type": "nullity", "column": {"name": "slutdatum"}, "is_null": True},
                                                      _comparison("fas", "!=", "MOTA")]}),
    _rule("AT_MOST", "expect_column_values_to_be_between", column="age_at_start", max_value={"$PARAMETER": "age_max"}),
    _rule("STRICT_PAIR", "expect_column_pair_values_a_to_be_greater_than_b", column_A="slutdatum", column_B="startdatum"),
    _rule("PAIR_NEITHER", "expect_column_pair_values_to_be_equal", column_A="kommunkod_in_file", column_B="kommunkod",
          ignore_row_if="neither"),
    _rule("EMPTY_SET", "expect_column_values_to_be_in_set", column="fas", value_set=[],
          row_condition={"type": "and", "conditions": [_comparison("pnr_status", "IN", ["OK", "ANONYM"]),
                                                       _comparison("row_number", ">=", 5)]}),
    _rule("NOT_IN_SET", "expect_column_values_to_not_be_in_set", column="avslutsorsak", value_set=["FLYTT", "AVBROTT"],
          row_condition=_comparison("kommunkod_in_file", "NOT_IN", ["0114"])),
    _rule("SEARCH", "expect_column_values_to_not_match_regex", column="fas", regex="T[AO]"),
    _rule("NULL_UNLESS", "expect_column_values_to_not_be_null", column="slutdatum",
          row_condition=_comparison("startdatum_raw_ok", "!=", True)),
    _rule("BOOL_SET", "expect_column_values_to_be_in_set", column="slutdatum_raw_ok", value_set=[False],
          row_condition=_comparison("kommunkod_in_file", ">", "0114")),
    _rule("LESS", "expect_column_values_to_not_be_null", column="person_id", row_condition=_comparison("row_number", "<", 4)),
]}
OTHER = Contract(OTHER_SUITE, "other", translate(OTHER_SUITE, "other"))

_CODES = ["OK", "OGILTIG", "LOPNUMMER_000", "SAKNAS", "ANONYM", "LOPNUMMER_000\n", "lopnummer_000", "XLOPNUMMER_0001"]
_FAS = ["HITTA", "MOTA", "AKTIVERA", "MATCHA", "hitta", "MOTA ", "SOVA", "", "TO"]
_ORSAK = ["ARBETE", "FLYTT", "AVBROTT", "FELREGISTRERING", "arbete", "FLYT", "ÖVRIGT"]
_dates = st.one_of(st.none(), st.dates(dt.date(2020, 11, 25), dt.date(2021, 4, 5)))
_odd = st.text(st.characters(blacklist_categories=("Cs",)), max_size=4)


@st.composite
def rows(draw):
    age_min, age_max = draw(st.integers(14, 18)), draw(st.integers(24, 30))
    count = draw(st.integers(1, 60))
    lines = []
    for number in range(2, count + 2):
        delivery_id, kommunkod, month = draw(st.sampled_from(DELIVERIES))
        lines.append({
            "delivery_id": delivery_id, "row_number": number,
            "person_id": draw(st.one_of(st.none(), st.sampled_from(["p1", "p2", "p3"]))),
            "is_anonymous": draw(st.booleans()),
            "pnr_status": draw(st.one_of(st.sampled_from(_CODES), _odd)),
            "age_at_start": draw(st.one_of(st.none(), st.integers(age_min - 2, age_min + 1),
                                           st.integers(age_max - 1, age_max + 2), st.integers(-3, 120))),
            "startdatum": draw(_dates), "startdatum_raw_ok": draw(st.booleans()),
            "slutdatum": draw(_dates), "slutdatum_raw_ok": draw(st.booleans()),
            "avslutsorsak": draw(st.one_of(st.none(), st.sampled_from(_ORSAK), _odd)),
            "fas": draw(st.one_of(st.none(), st.sampled_from(_FAS), _odd)),
            "kommunkod_in_file": draw(st.one_of(st.none(), st.sampled_from(["0114", "0115", "114", kommunkod]), _odd)),
            "rapportmanad_in_file": draw(st.one_of(st.none(), st.sampled_from([month, "2021-02", "2021-3"]))),
            "notes": draw(st.one_of(st.none(), st.sampled_from(["PNR:kontrollsiffran stämmer inte", "KOD_OKAND:kon"]))),
        })
    return {"age_min": age_min, "age_max": age_max}, pd.DataFrame(lines)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("suite_sql") / "warehouse.duckdb"
    ensure_schema(path)
    with connect(path) as db:
        for delivery_id, kommunkod, month in DELIVERIES:
            db.execute("insert into landing.deliveries (delivery_id, project_id, kommunkod, reporting_month, file_name, "
                       "archive_path, sha256, size_bytes, received_at, status) values (?, 'p', ?, ?, 'f.csv', 'a', 's', 1, "
                       "?, 'PSEUDONYMISED')", [delivery_id, kommunkod, month, dt.datetime(2021, 4, 1)])
    return path


def _relation(path, frame):
    """The stage's relation of the rows (quality/stage.py): a connection holding `part_rows`."""
    with connect(path) as db:
        db.execute("delete from landing.pseudonymised_rows")
        db.register("frame", frame)
        db.execute("insert into landing.pseudonymised_rows by name select * from frame")
        db.unregister("frame")
    db = duckdb.connect(str(path), read_only=True)
    db.execute(f"create temp table part_rows as {_ROWS_SQL}", [[d for d, *_ in DELIVERIES]])
    return db


def _by_code(findings):
    found: dict[str, set] = {}
    for f in findings:
        found.setdefault(f.code, set()).add((f.delivery_id, f.row_number))
    return found


def _agree(db, contract, parameters, counted=True):
    types = dict(db.execute("select column_name, column_type from (describe part_rows)").fetchall())
    sql = {}
    for delivery_id, row_number, _, position in db.execute(contract.rules.findings_sql("part_rows", types, parameters)).fetchall():
        sql.setdefault(contract.rules.rules[position].meta["reason_code"], set()).add((delivery_id, row_number))
    columns = ", ".join(f'"{c}"' for c in dict.fromkeys(["delivery_id", "row_number", "notes", *contract.rules.columns]))
    gx_findings, _ = run_suite(db.execute(f"select {columns} from part_rows").df(), contract.suite, parameters)
    assert sql == _by_code(gx_findings)
    if not counted:
        return sql
    findings, summaries = suite_findings(db, "part_rows", contract, parameters)   # the stage's path: counts agree
    assert _by_code(findings) == sql
    assert {s.reason_code: s.unexpected_count for s in summaries} == \
        {r.meta["reason_code"]: len(sql.get(r.meta["reason_code"], ())) for r in contract.rules.rules}
    return sql


# No shrinking: every example runs GX (~0.5 s); a failing example is printed as drawn.
@settings(max_examples=15, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows())
def test_sql_and_gx_find_the_same_rows_for_every_rule(warehouse, generated):
    parameters, frame = generated
    db = _relation(warehouse, frame)
    try:
        _agree(db, CONTRACT, parameters, counted=False)     # the stage's counting path: the tests below
        _agree(db, OTHER, parameters, counted=False)
    finally:
        db.close()


def test_the_generated_rows_reach_every_rule(warehouse):
    """Hand-made rows that break every rule of both suites at least once, and rows that pass them."""
    frame = pd.DataFrame([
        {"delivery_id": "d1", "row_number": 2, "person_id": None, "is_anonymous": False, "pnr_status": "SAKNAS",
         "age_at_start": 31, "startdatum": dt.date(2021, 4, 2), "startdatum_raw_ok": True, "slutdatum": dt.date(2021, 4, 1),
         "slutdatum_raw_ok": False, "avslutsorsak": "FLYT", "fas": "SOVA", "kommunkod_in_file": "0115",
         "rapportmanad_in_file": "2021-3", "notes": None},
        {"delivery_id": "d1", "row_number": 3, "person_id": "p1", "is_anonymous": False, "pnr_status": "OGILTIG",
         "age_at_start": 20, "startdatum": None, "startdatum_raw_ok": True, "slutdatum": dt.date(2021, 4, 3),
         "slutdatum_raw_ok": True, "avslutsorsak": None, "fas": None, "kommunkod_in_file": None,
         "rapportmanad_in_file": None, "notes": "PNR:kontrollsiffran stämmer inte"},
        {"delivery_id": "d2", "row_number": 5, "person_id": "p2", "is_anonymous": False, "pnr_status": "LOPNUMMER_000",
         "age_at_start": 18, "startdatum": None, "startdatum_raw_ok": False, "slutdatum": None, "slutdatum_raw_ok": True,
         "avslutsorsak": "AVBROTT", "fas": "TO", "kommunkod_in_file": "0116", "rapportmanad_in_file": "2021-02",
         "notes": None},
        {"delivery_id": "d3", "row_number": 6, "person_id": "p3", "is_anonymous": False, "pnr_status": "OK",
         "age_at_start": 25, "startdatum": dt.date(2021, 1, 5), "startdatum_raw_ok": True, "slutdatum": None,
         "slutdatum_raw_ok": True, "avslutsorsak": None, "fas": "MATCHA", "kommunkod_in_file": "0114",
         "rapportmanad_in_file": "2021-01", "notes": None},
    ])
    db = _relation(warehouse, frame)
    try:
        for contract in (CONTRACT, OTHER):
            found = _agree(db, contract, {"age_min": 16, "age_max": 29})
            assert set(found) == {r.meta["reason_code"] for r in contract.rules.rules}
            if contract is CONTRACT:                        # the last row keeps the contract
                assert ("d3", 6) not in set().union(*found.values())
    finally:
        db.close()


def test_a_translation_that_reads_a_rule_otherwise_than_gx_stops_validation(warehouse):
    """GX counts on the suite as written; SQL made from a suite with one more phase allowed lets a
    row through that GX rejects, and the stage must stop rather than write it as accepted."""
    document = json.loads(ENROLMENT_SUITE.read_text(encoding="utf-8"))
    wrong = copy.deepcopy(document)
    fas = next(e for e in wrong["expectations"] if e["meta"]["reason_code"] == "FAS_OKAND")
    fas["kwargs"]["value_set"].append("SOVA")
    contract = Contract(CONTRACT.document, CONTRACT.source, translate(wrong, "wrong"))
    frame = pd.DataFrame([{"delivery_id": "d1", "row_number": 2, "person_id": "p1", "is_anonymous": False,
                           "pnr_status": "OK", "age_at_start": 20, "startdatum": dt.date(2021, 1, 5),
                           "startdatum_raw_ok": True, "slutdatum": None, "slutdatum_raw_ok": True,
                           "avslutsorsak": None, "fas": "SOVA", "kommunkod_in_file": None,
                           "rapportmanad_in_file": None, "notes": None}])
    db = _relation(warehouse, frame)
    try:
        with pytest.raises(SuiteDisagreement, match="FAS_OKAND.*1 rader.*SQL-översättningen 0"):
            suite_findings(db, "part_rows", contract, {"age_min": 16, "age_max": 29})
    finally:
        db.close()


@pytest.mark.parametrize("code, change, error", [
    ("FAS_SAKNAS", lambda e: e.update(type="expect_column_values_to_be_unique"), "unknown to the SQL translator"),
    ("FAS_SAKNAS", lambda e: e["kwargs"].update(parse_strings_as_datetimes=True), r"kwarg\(s\) \['parse_strings_as_datetimes'\]"),
    ("FAS_SAKNAS", lambda e: e["kwargs"].update(row_condition='fas == "OK"', condition_parser="pandas"), "kwarg"),
    ("FAS_SAKNAS", lambda e: e["kwargs"].update(row_condition={"type": "pass_through", "pass_through_filter": "x"}),
     "row condition"),
    ("FAS_SAKNAS", lambda e: e["kwargs"].update(row_condition=_comparison("fas", "LIKE", "M%")), "operator 'LIKE'"),
    ("PNR_LOPNUMMER_000", lambda e: e["kwargs"].update(regex=r"^\d{3}$"), "RE2 reads otherwise"),
    ("PNR_LOPNUMMER_000", lambda e: e["kwargs"].update(regex="^A$|^B"), r"\$ only at its very end"),
    ("FAS_OKAND", lambda e: e["kwargs"].update(value_set=[None]), "NoneType"),
])
def test_what_the_translator_does_not_know_is_an_error_when_the_suite_is_loaded(tmp_path, code, change, error):
    document = json.loads(ENROLMENT_SUITE.read_text(encoding="utf-8"))
    change(next(e for e in document["expectations"] if e["meta"]["reason_code"] == code))
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(SuiteTranslationError, match=error):
        load_contract(path)


def test_every_mapping_suite_translates():
    """The generated mapping suites use only what the translator knows (they still run through
    GX's COMPLETE format: mapping_validate.py builds their frame in pandas)."""
    config = load_projects()
    projects = [p for p in config.projects if p.mapping is not None]
    assert projects
    for project in projects:
        document = suite_document(project)
        assert len(translate(document, project.id).rules) == len(document["expectations"])

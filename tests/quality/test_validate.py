"""Row and file verdicts from the real Great Expectations suite on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from orchestration.privacy.extract.reader import read_extract
from orchestration.privacy.personnummer import luhn_check_digit
from orchestration.privacy.pseudonymise import DeliveryContext, Pseudonymiser, pseudonymise_rows
from orchestration.quality.validate import ENROLMENT_SUITE, load_suite, validate_rows

KEY = b"validation-test-key-" + b"x" * 20


def pnr(nine: str, separator: str = "-") -> str:
    return f"{nine[:6]}{separator}{nine[6:]}{luhn_check_digit(nine)}"


def validate_file(path: Path, month: str = "2016-03", age=(15, 29)):
    extract = read_extract(path)
    rows = pseudonymise_rows(extract.rows, DeliveryContext("d1", "uvas", "2380", month), Pseudonymiser(KEY))
    rows["kommunkod"] = "2380"
    rows["reporting_month"] = month
    rows["month_end"] = pd.Timestamp(f"{month}-01") + pd.offsets.MonthEnd(0)
    return validate_rows(rows, {"age_min": age[0], "age_max": age[1]})


def test_every_expectation_in_the_suite_json_loads():
    document = json.loads(ENROLMENT_SUITE.read_text(encoding="utf-8"))
    suite = load_suite()
    assert len(suite.expectations) == len(document["expectations"]) > 10
    codes = [e["meta"]["reason_code"] for e in document["expectations"]]
    assert len(codes) == len(set(codes))


def test_a_misspelt_or_duplicate_expectation_is_an_error(tmp_path):
    document = json.loads(ENROLMENT_SUITE.read_text(encoding="utf-8"))
    document["expectations"].append(dict(document["expectations"][0]))  # GX would merge it silently
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ValueError, match="did not load"):
        load_suite(path)


def test_rows_breaking_the_contract_are_quarantined_with_reasons(tmp_path):
    bad_check = pnr("970303345")[:-1] + str((int(pnr("970303345")[-1]) + 1) % 10)
    lines = [
        "personnummer;startdatum;fas;slutdatum;avslutsorsak",
        f"{pnr('990101123')};2016-01-10;MOTA;;",                 # 2 ok
        f"{bad_check};2016-01-10;MOTA;;",                         # 3 invalid check digit
        f"{pnr('980202234')};;HITTA;;",                           # 4 no startdatum
        f"{pnr('960404456')};2016-01-01;SOVA;;",                  # 5 unknown fas
        f"{pnr('950505567')};2016-02-01;MATCHA;2016-01-01;ARBETE", # 6 end before start
        f"{pnr('940606678')};2016-01-01;MATCHA;2016-02-01;",      # 7 end without reason
        f"{pnr('930707789')};2016-04-01;HITTA;;",                 # 8 starts after the month
        f"{pnr('920808890')};2016-01-01;HITTA;;",                 # 9 overlapping with 10
        f"{pnr('920808890')};2016-02-01;MOTA;;",                  # 10
        f"{pnr('910909901')};2016-01-01;AKTIVERA;2016-05-01;ARBETE",  # 11 warning: ends after month
        f"{pnr('080101012')};2016-01-01;HITTA;;",                 # 12 warning: age 8
        *[f"{pnr(f'9{i}0115{i}23')};2016-01-0{i + 1};HITTA;;" for i in range(1, 9)],  # 13-20 ok
    ]
    path = tmp_path / "2016-03.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outcome = validate_file(path)
    reasons = {(r.row_number, r.reason_code) for r in outcome.quarantine.itertuples()}
    assert reasons == {
        (3, "PNR_OGILTIG"), (4, "STARTDATUM_SAKNAS"), (5, "FAS_OKAND"), (6, "SLUTDATUM_FORE_START"),
        (7, "AVSLUTSORSAK_SAKNAS"), (8, "STARTDATUM_EFTER_MANAD"),
        (9, "OVERLAPPANDE_INSKRIVNING"), (10, "OVERLAPPANDE_INSKRIVNING"),
    }
    warnings = {(w.row_number, w.warning_code) for w in outcome.warnings.itertuples()}
    assert warnings == {(11, "SLUTDATUM_EFTER_MANAD"), (12, "ALDER_UTANFOR_MALGRUPP")}
    assert sorted(outcome.accepted["row_number"]) == [2, 11, 12, *range(13, 21)]
    # Messages name the problem and what to do, never the personnummer itself.
    for message in outcome.quarantine["message"]:
        assert bad_check not in message and "9" * 3 not in message
    verdict, = outcome.verdicts
    assert verdict.verdict == "REJECTED"  # 8 of 19 rows rejected: above the 20 % limit
    assert verdict.reason_code == "FOR_MANGA_FEL" and verdict.rows_rejected == 8


def test_a_personnummer_with_birth_number_000_is_rejected_with_its_own_reason(tmp_path):
    """000 is never issued: the check digit holds, the number is still not a person's."""
    never_issued = pnr("990101000")
    lines = ["personnummer;startdatum;fas", f"{never_issued};2016-01-10;MOTA",
             f"{pnr('990101001')};2016-01-10;MOTA",                    # 001 is issued: accepted
             *[f"{pnr(f'9{i}0115{i}23')};2016-01-0{i + 1};HITTA" for i in range(1, 9)]]
    path = tmp_path / "2016-03.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outcome = validate_file(path)
    rejected = [(r.row_number, r.reason_code, r.column_name) for r in outcome.quarantine.itertuples()]
    assert rejected == [(2, "PNR_LOPNUMMER_000", "personnummer")]         # not PNR_OGILTIG, not PNR_SAKNAS
    message = outcome.quarantine["message"].iloc[0]
    assert message.startswith("Rad 2, kolumn personnummer: ") and "000" in message and never_issued not in message
    assert sorted(outcome.accepted["row_number"]) == list(range(3, 12))


def test_a_few_bad_rows_do_not_reject_the_file(tmp_path):
    good = pnr("990101123")
    lines = ["personnummer;startdatum;fas", f"{good[:-1]}{(int(good[-1]) + 1) % 10};2016-01-10;MOTA"]
    lines += [f"{pnr(f'9{i}0115{i}23')};2016-01-0{i + 1};HITTA" for i in range(1, 9)]
    path = tmp_path / "2016-03.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outcome = validate_file(path)
    verdict, = outcome.verdicts
    assert (verdict.verdict, verdict.rows_accepted, verdict.rows_rejected) == ("ACCEPTED_WITH_WARNINGS", 8, 1)


def test_an_unknown_expectation_type_in_the_json_is_an_error_not_a_silent_drop(tmp_path):
    document = json.loads(ENROLMENT_SUITE.read_text(encoding="utf-8"))
    document["expectations"][0]["type"] = "expect_column_values_to_not_be_in_sett"
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(Exception):
        load_suite(path)

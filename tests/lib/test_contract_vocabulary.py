"""The delivery statuses and file verdicts have one owner, lib/contract.py: dbt's data tests on the
delivery models accept exactly those values, so a verdict added in Python cannot pass unnoticed."""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestration.lib.contract import STATUSES, VERDICTS

MODELS = Path(__file__).resolve().parents[2] / "dbt" / "models"


def accepted_values(yml: Path) -> dict[str, list[str]]:
    model = yaml.safe_load(yml.read_text(encoding="utf-8"))["models"][0]
    rules = next(test["rules"] for test in model["data_tests"] if "rules" in test)
    return rules["arguments"]["accepted_values"]


def test_dbt_accepts_the_contracts_statuses_and_verdicts():
    for yml in (MODELS / "staging" / "stg_landing__deliveries.yml", MODELS / "marts" / "fct_deliveries.yml"):
        values = accepted_values(yml)
        assert tuple(values["status"]) == STATUSES, yml.name
        assert tuple(values["verdict"]) == VERDICTS, yml.name



def test_dbt_accepts_the_two_extract_kinds():
    from orchestration.lib.mapping_contract import EXTRACT_KINDS

    for yml in (MODELS / "staging" / "stg_landing__deliveries.yml", MODELS / "staging" / "stg_landing__delivery_states.yml",
                MODELS / "marts" / "fct_deliveries.yml"):
        assert tuple(accepted_values(yml)["extract_kind"]) == EXTRACT_KINDS, yml.name

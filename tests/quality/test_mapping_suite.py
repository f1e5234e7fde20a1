"""The mapping suite is generated from the project's instrument: every expectation loads in GX,
carries its reason code, column, verdict and Swedish message, and follows the question's type
and whether it is required."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.projects.config import load_projects
from orchestration.quality.mapping_suite import build_suite, suite_document

REPO = Path(__file__).resolve().parents[2]
CONFIG = load_projects()
MAPPING_PROJECTS = [p.id for p in CONFIG.projects if p.mapping is not None]
ROW_CODES = {"PNR_OGILTIG", "PNR_LOPNUMMER_000", "PNR_SAKNAS", "BESVARAD_SAKNAS", "BESVARAD_OGILTIG",
             "BESVARAD_EFTER_MANADEN", "KOMMUNKOD_AVVIKER", "RAPPORTMANAD_AVVIKER", "ALDER_UTANFOR", "BESVARAD_FORE_PROJEKTET"}


def rules(project_id: str) -> dict[tuple[str, str], dict]:
    """(reason code, column) -> expectation."""
    document = suite_document(CONFIG.project(project_id))
    keyed = {(e["meta"]["reason_code"], e["meta"]["column"]): e for e in document["expectations"]}
    assert len(keyed) == len(document["expectations"])       # one rule per code and column
    return keyed


def test_both_example_projects_have_an_instrument():
    assert MAPPING_PROJECTS == ["vaga_valja_vag", "harjedalen"]


@pytest.mark.parametrize("project_id", MAPPING_PROJECTS)
def test_every_generated_expectation_loads_in_gx_with_its_meta(project_id):
    document = suite_document(CONFIG.project(project_id))
    suite = build_suite(CONFIG.project(project_id))
    assert len(suite.expectations) == len(document["expectations"])
    for expectation in document["expectations"]:
        meta = expectation["meta"]
        assert set(meta) == {"reason_code", "column", "verdict", "message"}
        assert meta["verdict"] in ("rejected", "warning")
        assert meta["message"].endswith(".") and "{" not in meta["message"].replace("{detail}", "")
        assert "row_condition" in expectation["kwargs"]
    assert {code for code, _ in rules(project_id)} >= ROW_CODES


def test_a_required_question_rejects_and_an_optional_one_warns_by_its_type():
    found = rules("vaga_valja_vag")
    # required scale: present, a whole number, in the scale; rejected
    for code in ("SVAR_SAKNAS", "SVAR_INTE_TAL", "SVAR_UTANFOR_SKALAN"):
        assert found[(code, "paverka_vardag")]["meta"]["verdict"] == "rejected"
    scale = found[("SVAR_UTANFOR_SKALAN", "paverka_vardag")]
    assert scale["type"] == "expect_column_values_to_be_between"
    assert (scale["kwargs"]["min_value"], scale["kwargs"]["max_value"]) == (1, 5)
    assert scale["kwargs"]["row_condition"] == {"column": {"name": "question_id"}, "operator": "==",
                                                "parameter": "paverka_vardag", "type": "comparison"}
    assert "från 1 till 5" in scale["meta"]["message"] and "Raden avvisas" in scale["meta"]["message"]
    # required single choice: its codes, from the instrument
    assert found[("SVAR_KOD_OKAND", "boende")]["kwargs"]["value_set"] == ["EGET", "FORALDRAR", "ANNAT"]
    assert found[("SVAR_KOD_OKAND", "nagon_att_prata_med")]["kwargs"]["value_set"] == ["JA", "NEJ"]
    # optional number and multiple choice: warnings, never SVAR_SAKNAS
    number = found[("SVAR_UTANFOR_SKALAN", "fysiskt_aktiv_dagar")]
    assert number["meta"]["verdict"] == "warning" and (number["kwargs"]["min_value"], number["kwargs"]["max_value"]) == (0, 7)
    assert "Svaret räknas inte, men raden räknas" in number["meta"]["message"]
    assert found[("SVAR_KOD_OKAND", "paverkar_halsan")]["meta"]["verdict"] == "warning"
    assert ("SVAR_SAKNAS", "fysiskt_aktiv_dagar") not in found and ("SVAR_SAKNAS", "paverkar_halsan") not in found
    # free text: nothing to check when optional
    assert not [key for key in found if key[1] == "ovrigt"]
    # every question has its rules, the fixed row rules apply to the row records only
    assert {column for _, column in found} >= set(CONFIG.project("vaga_valja_vag").mapping.question_ids) - {"ovrigt"}
    row_rule = found[("BESVARAD_EFTER_MANADEN", "besvarad")]
    assert row_rule["kwargs"]["row_condition"] == {"column": {"name": "record"}, "operator": "==", "parameter": "rad",
                                                   "type": "comparison"}
    assert found[("ALDER_UTANFOR", "besvarad")]["meta"]["verdict"] == "warning"


def test_another_instrument_gives_another_suite():
    harjedalen = rules("harjedalen")
    assert harjedalen[("SVAR_KOD_OKAND", "sysselsattning")]["kwargs"]["value_set"] == ["ARBETAR", "STUDERAR", "ANNAN", "INGEN"]
    assert harjedalen[("SVAR_UTANFOR_SKALAN", "livssituation")]["meta"]["verdict"] == "warning"
    assert not [key for key in harjedalen if key[1] in ("boende", "paverka_vardag")]


def test_the_suite_of_a_project_can_be_printed_for_a_reader_of_the_repository():
    done = subprocess.run([sys.executable, "-m", "orchestration.quality.mapping_suite", "harjedalen"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed == json.loads(json.dumps(suite_document(CONFIG.project("harjedalen")), ensure_ascii=False))
    assert printed["name"] == "mapping_rows_harjedalen"


@pytest.mark.parametrize("project_id", MAPPING_PROJECTS)
def test_the_readme_shows_the_answer_rules_the_example_generates(project_id):
    from orchestration.quality.mapping_suite import markdown_table

    readme = (REPO / "expectations" / "README.md").read_text(encoding="utf-8")
    assert markdown_table(CONFIG.project(project_id)) in readme

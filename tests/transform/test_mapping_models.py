"""The mapping models (fct_mapping_answers, mapping_values) on hand-made mapping deliveries for the
bundled example projects, built by real dbt, against the figures tests/mapping_scenario.py counts
from the inserted rows: every figure, the resubmission rule, the duplicate occasion and the
delivery in force decided within its extract kind."""

from __future__ import annotations


import pytest

from tests.mapping_scenario import PROJECTS, counted_occasions, expected_figures, query, shared


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory):
    return shared(tmp_path_factory)


@pytest.mark.parametrize("project_id", PROJECTS)
def test_every_answer_figure_matches_the_rows_counted_by_hand(scenario, project_id):
    numerators, denominators, groups, _ = expected_figures(scenario, project_id)
    project = scenario.config.project(project_id)
    rows = query(scenario.warehouse,
                 "select area, breakdown, breakdown_group, question_id, measure, category, numerator, denominator, value "
                 "from marts.mapping_values where project_id = ? and measure <> 'inventering'", [project_id])
    got = {row[:6]: row[6:] for row in rows}
    assert len(got) == len(rows)
    # every group of every area, every question (free text aside) and every category, zeros included
    categorised = [(q.id, c.code) for q in project.mapping.questions for c in q.categories()]
    assert project.mapping.question("ovrigt" if project_id == "vaga_valja_vag" else "onskat_stod").categories() == ()
    expected_keys = {(area, breakdown, group, q, measure, cat) for area, area_groups in groups.items()
                     for breakdown, group in area_groups for q, cat in categorised for measure in ("svar", "fore", "efter")}
    assert set(got) == expected_keys
    for key, (numerator, denominator, value) in got.items():
        want_denominator = denominators.get(key[:5], 0)
        assert (numerator, denominator) == (numerators.get(key, 0), want_denominator), key
        assert value == (None if want_denominator == 0 else pytest.approx(numerator / denominator)), key
    # the scenario exercises what it claims: second occasions, unknown kon, ages outside the range
    assert any(key[4] == "fore" and n for key, n in numerators.items())
    assert {("kon", "OKAND"), ("alder", "OKAND"), ("alder", "UTANFOR")} <= groups["ALL"]


def test_inventory_figures_match_the_rows_counted_by_hand(scenario):
    _, _, _, inventory = expected_figures(scenario, "harjedalen")
    rows = query(scenario.warehouse,
                 "select area, question_id, breakdown, breakdown_group, domain, category, numerator, denominator, value "
                 "from marts.mapping_values where project_id = 'harjedalen' and measure = 'inventering'")
    got = {(r[0], r[1]): r for r in rows}
    assert set(got) == {*inventory, ("ALL", "malpopulation")} | {
        (area, f) for area in ("2361", "ALL") for f in ("kartlagda", "utanfor_arbete_studier", "varken_af_eller_fs")}
    for (area, figure), row in got.items():
        assert row[2:6] == ("total", "T", "Inventering", "")
        if figure == "malpopulation":
            assert (area, row[6:]) == ("ALL", (1300, None, 1300))
            continue
        count = inventory.get((area, figure), 0)
        if area == "ALL":
            assert row[6:] == (count, 1300, pytest.approx(count / 1300)), figure
        else:
            assert row[6:] == (count, None, count), figure
    assert inventory[("ALL", "kartlagda")] == len({r["person_id"] for _, r in counted_occasions(scenario, "harjedalen")})
    assert 0 < inventory[("ALL", "varken_af_eller_fs")] < inventory[("ALL", "utanfor_arbete_studier")]
    # Våga Välja Väg has no inventory
    assert query(scenario.warehouse, "select count(*) from marts.mapping_values "
                                     "where project_id = 'vaga_valja_vag' and measure = 'inventering'") == [(0,)]


@pytest.mark.parametrize("project_id", PROJECTS)
def test_only_the_files_in_force_count_and_a_restated_occasion_counts_once_from_the_later_month(scenario, project_id):
    answers = query(scenario.warehouse,
                    "select distinct delivery_id from marts.fct_mapping_answers where project_id = ?", [project_id])
    # the replaced first file, the rejected file and the enrolment snapshot never count
    assert {a for (a,) in answers} == {f"{project_id}_resent", f"{project_id}_second"}
    occasions = query(scenario.warehouse,
                      "select person_id, besvarad, delivery_id, occasion_number from intermediate.int_mapping_occasions "
                      "where project_id = ?", [project_id])
    expected = counted_occasions(scenario, project_id)
    assert sorted((p, b) for p, b, _, _ in occasions) == sorted((r["person_id"], r["besvarad"]) for _, r in expected)
    first_person = [o for o in occasions if o[0] == "person-001"]
    assert [(o[2], o[3]) for o in first_person] == [(f"{project_id}_second", 1)]     # the restated occasion
    assert not [o for o in occasions if o[0] in ("person-900", "person-901")]


def test_free_text_never_reaches_a_model(scenario):
    with_text = query(scenario.warehouse,
                      "select table_schema, table_name, column_name from information_schema.columns "
                      "where table_schema in ('staging', 'intermediate', 'marts') and column_name = 'answer_text'")
    assert with_text == []
    answers = query(scenario.warehouse, "select distinct question_id from marts.fct_mapping_answers")
    assert not {"ovrigt", "onskat_stod"} & {a for (a,) in answers}

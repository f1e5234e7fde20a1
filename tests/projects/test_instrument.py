"""The mapping instrument in the projects configuration (`kartlaggning:`, projects/instrument.py):
the bundled one parses, a broken one is refused with a Swedish message naming project and field,
and the warehouse refuses a changed question under an id that already has answers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration.lib.warehouse import ensure_schema
from orchestration.projects.config import BUNDLED_CONFIG, ConfigError, load_projects
from orchestration.projects.load import write_config_tables

VVV, HARJEDALEN = 3, 4   # positions in the bundled example


def _document() -> dict:
    return yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))


def _write(tmp_path: Path, document: dict, name: str = "projects.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _question(document: dict, position: int, question_id: str) -> dict:
    return next(q for q in document["projects"][position]["kartlaggning"]["questions"] if q["id"] == question_id)


def test_the_bundled_instruments_parse():
    config = load_projects()
    vvv, harjedalen = config.project("vaga_valja_vag"), config.project("harjedalen")
    assert config.project("uvas").mapping is None
    assert vvv.mapping.question_ids == ("paverka_vardag", "delaktig_samhalle", "boende", "nagon_att_prata_med",
                                        "fysiskt_aktiv_dagar", "paverkar_halsan", "gymnasiet", "forening", "ovrigt")
    assert [c.code for c in vvv.mapping.question("paverka_vardag").categories()] == ["1", "2", "3", "4", "5"]
    assert vvv.mapping.question("paverka_vardag").categories()[0].label == "1 – Inte alls"
    assert [(c.code, c.lower, c.upper) for c in vvv.mapping.question("fysiskt_aktiv_dagar").categories()] == [
        ("0-1", 0, 1), ("1-3", 1, 3), ("3-5", 3, 5), ("5-", 5, None)]
    assert vvv.mapping.question("nagon_att_prata_med").code_set == ("JA", "NEJ")
    assert vvv.mapping.question("ovrigt").categories() == ()
    assert not vvv.mapping.question("ovrigt").required and vvv.mapping.question("boende").required
    assert dict(harjedalen.mapping.inventory) == {
        "utanfor_arbete_studier": (("sysselsattning", ("INGEN",)),),
        "varken_af_eller_fs": (("sysselsattning", ("INGEN",)), ("inskriven_af", ("NEJ",)), ("forsorjningsstod", ("NEJ",))),
    }
    assert harjedalen.target_population == 1300


def test_the_fingerprint_covers_what_was_asked_not_how_it_is_reported():
    question = load_projects().project("vaga_valja_vag").mapping.question("fysiskt_aktiv_dagar")
    from dataclasses import replace
    assert replace(question, domain="Annat", required=True, bands=(0.0, 2.0)).fingerprint() == question.fingerprint()
    assert replace(question, text="Hur många dagar tränar du?").fingerprint() != question.fingerprint()
    assert replace(question, maximum=14.0).fingerprint() != question.fingerprint()


def _set(position: int, question_id: str, **changes):
    def mutate(document: dict) -> None:
        question = _question(document, position, question_id)
        for key, value in changes.items():
            if value is None:
                question.pop(key, None)
            else:
                question[key] = value
    return mutate


def _inventory(figure: str, conditions):
    def mutate(document: dict) -> None:
        document["projects"][HARJEDALEN]["kartlaggning"]["inventory"][figure] = conditions
    return mutate


def _questions(value):
    def mutate(document: dict) -> None:
        document["projects"][VVV]["kartlaggning"]["questions"] = value
    return mutate


def _duplicate_id(document: dict) -> None:
    _question(document, VVV, "forening")["id"] = "boende"


@pytest.mark.parametrize(
    ("mutate", "project", "field"),
    [
        (_set(VVV, "boende", id="Boende-typ"), "vaga_valja_vag", "kartlaggning.questions[Boende-typ].id"),
        (_set(VVV, "boende", id="1boende"), "vaga_valja_vag", "kartlaggning.questions[1boende].id"),
        (_set(VVV, "boende", id="besvarad"), "vaga_valja_vag", "kartlaggning.questions[besvarad].id"),
        (_set(VVV, "boende", id="personnummer"), "vaga_valja_vag", "kartlaggning.questions[personnummer].id"),
        (_set(VVV, "boende", id="datum"), "vaga_valja_vag", "kartlaggning.questions[datum].id"),   # an alias of besvarad
        (_duplicate_id, "vaga_valja_vag", "kartlaggning.questions[8].id"),
        (_set(VVV, "boende", type="fritext"), "vaga_valja_vag", "kartlaggning.questions[boende].type"),
        (_set(VVV, "boende", text=""), "vaga_valja_vag", "kartlaggning.questions[boende].text"),
        (_set(VVV, "boende", domain=None), "vaga_valja_vag", "kartlaggning.questions[boende].domain"),
        (_set(VVV, "boende", required="ja"), "vaga_valja_vag", "kartlaggning.questions[boende].required"),
        (_set(VVV, "boende", codes=None), "vaga_valja_vag", "kartlaggning.questions[boende].codes"),
        (_set(VVV, "boende", codes={"EGET": "Eget boende"}), "vaga_valja_vag", "kartlaggning.questions[boende].codes"),
        (_set(VVV, "boende", codes={"eget": "Eget", "ANNAT": "Annat"}), "vaga_valja_vag",
         "kartlaggning.questions[boende].codes"),
        (_set(VVV, "boende", codes={"EGET": "", "ANNAT": "Annat"}), "vaga_valja_vag",
         "kartlaggning.questions[boende].codes"),
        (_set(VVV, "paverka_vardag", scale=None), "vaga_valja_vag", "kartlaggning.questions[paverka_vardag].scale"),
        (_set(VVV, "paverka_vardag", scale={"min": 5, "max": 1}), "vaga_valja_vag",
         "kartlaggning.questions[paverka_vardag].scale"),
        (_set(VVV, "paverka_vardag", scale={"min": 1.5, "max": 5}), "vaga_valja_vag",
         "kartlaggning.questions[paverka_vardag].scale"),
        (_set(VVV, "paverka_vardag", scale={"min": 0, "max": 100}), "vaga_valja_vag",
         "kartlaggning.questions[paverka_vardag].scale"),
        (_set(VVV, "paverka_vardag", scale={"min": 1, "max": 5, "labels": {7: "Sju"}}), "vaga_valja_vag",
         "kartlaggning.questions[paverka_vardag].scale.labels"),
        (_set(VVV, "fysiskt_aktiv_dagar", range={"min": 7, "max": 0}), "vaga_valja_vag",
         "kartlaggning.questions[fysiskt_aktiv_dagar].range"),
        (_set(VVV, "fysiskt_aktiv_dagar", bands=[1, 3, 5]), "vaga_valja_vag",
         "kartlaggning.questions[fysiskt_aktiv_dagar].bands"),
        (_set(VVV, "fysiskt_aktiv_dagar", bands=[0, 5, 3]), "vaga_valja_vag",
         "kartlaggning.questions[fysiskt_aktiv_dagar].bands"),
        (_set(VVV, "fysiskt_aktiv_dagar", bands=[0, 3, 9]), "vaga_valja_vag",
         "kartlaggning.questions[fysiskt_aktiv_dagar].bands"),
        (_set(VVV, "nagon_att_prata_med", codes={"JA": "Ja", "NEJ": "Nej", "VET_EJ": "Vet ej"}), "vaga_valja_vag",
         "kartlaggning.questions[nagon_att_prata_med].codes"),      # yes_no has its own codes
        (_set(VVV, "paverka_vardag", range={"min": 1, "max": 5}), "vaga_valja_vag",
         "kartlaggning.questions[paverka_vardag].range"),
        (_set(VVV, "ovrigt", scale={"min": 1, "max": 5}), "vaga_valja_vag", "kartlaggning.questions[ovrigt].scale"),
        (_set(VVV, "boende", bands=[0, 1]), "vaga_valja_vag", "kartlaggning.questions[boende].bands"),
        (_questions([]), "vaga_valja_vag", "kartlaggning.questions"),
        (_inventory("varken_af_eller_fs", {"okand_fraga": ["NEJ"]}), "harjedalen",
         "kartlaggning.inventory.varken_af_eller_fs.okand_fraga"),
        (_inventory("varken_af_eller_fs", {"livssituation": ["1"]}), "harjedalen",
         "kartlaggning.inventory.varken_af_eller_fs.livssituation"),   # a scale, not a coded question
        (_inventory("utanfor_arbete_studier", {"sysselsattning": ["ARBETSLOS"]}), "harjedalen",
         "kartlaggning.inventory.utanfor_arbete_studier.sysselsattning"),
        (_inventory("utanfor_arbete_studier", {"sysselsattning": []}), "harjedalen",
         "kartlaggning.inventory.utanfor_arbete_studier.sysselsattning"),
        (_inventory("okand_figur", {"sysselsattning": ["INGEN"]}), "harjedalen", "kartlaggning.inventory.okand_figur"),
    ],
)
def test_a_broken_instrument_is_refused_naming_project_and_field(tmp_path, mutate, project, field):
    document = _document()
    mutate(document)
    with pytest.raises(ConfigError) as raised:
        load_projects(_write(tmp_path, document))
    message = str(raised.value)
    assert f"projekt '{project}'" in message and f"fält {field}:" in message, message
    assert any(word in message for word in ("ska", "är", "saknar", "saknas", "används", "hör inte", "får")), message


def test_an_unknown_field_of_the_instrument_is_refused(tmp_path):
    document = _document()
    document["projects"][VVV]["kartlaggning"]["fragor"] = []
    with pytest.raises(ConfigError, match=r"projekt 'vaga_valja_vag', fält kartlaggning\.fragor: är inget känt fält"):
        load_projects(_write(tmp_path, document))


# ---- the warehouse refuses a changed question that already has answers --------------------------

def _with_an_answer(warehouse: Path, project_id: str, question_id: str) -> None:
    """One mapping delivery of the project and one answer to the question, as the pipeline writes them."""
    with duckdb.connect(str(warehouse)) as db:
        db.execute(
            "insert into landing.deliveries (delivery_id, project_id, kommunkod, reporting_month, file_name, "
            "archive_path, sha256, size_bytes, received_at, status, verdict, arrival_seq, extract_kind) "
            "values ('m1', ?, '0482', '2009-09', 'Kartläggning 2009-09.csv', 'a.csv', ?, 1, ?, 'VALIDATED', "
            "'ACCEPTED', 1, 'KARTLAGGNING')", [project_id, "1" * 64, dt.datetime(2009, 10, 6, 9)])
        db.execute("insert into landing.mapping_pseudonymised_answers values ('m1', 2, ?, 'OK', 'EGET', null, null)",
                   [question_id])


@pytest.fixture
def warehouse(tmp_path) -> Path:
    path = tmp_path / "home" / "warehouse.duckdb"
    path.parent.mkdir()
    ensure_schema(path)
    write_config_tables(path, load_projects())
    _with_an_answer(path, "vaga_valja_vag", "boende")
    return path


def _stored(warehouse: Path, question_id: str) -> tuple:
    with duckdb.connect(str(warehouse), read_only=True) as db:
        return db.execute("select question_text, fingerprint from landing.mapping_questions "
                          "where project_id = 'vaga_valja_vag' and question_id = ?", [question_id]).fetchone()


def test_a_changed_question_with_answers_is_refused(tmp_path, warehouse):
    before = _stored(warehouse, "boende")
    document = _document()
    _question(document, VVV, "boende")["text"] = "Var bor du just nu?"
    with pytest.raises(ConfigError) as raised:
        write_config_tables(warehouse, load_projects(_write(tmp_path, document)))
    message = str(raised.value)
    assert "projekt 'vaga_valja_vag', fält kartlaggning.questions[boende]" in message and "nytt id" in message
    assert _stored(warehouse, "boende") == before          # nothing of the configuration was written

    document = _document()
    _question(document, VVV, "boende")["codes"]["ANNAT"] = "Annat, t.ex. HVB"
    with pytest.raises(ConfigError, match=r"kartlaggning\.questions\[boende\]"):
        write_config_tables(warehouse, load_projects(_write(tmp_path, document, "codes.yaml")))


def test_an_unchanged_question_or_a_new_id_is_not_refused(tmp_path, warehouse):
    write_config_tables(warehouse, load_projects())        # the same configuration again
    document = _document()
    boende = _question(document, VVV, "boende")
    boende["domain"] = "Boende"                            # how it is reported, not what was asked
    boende["required"] = False
    forening = _question(document, VVV, "forening")
    forening["text"] = "Är du medlem i en förening eller ett lag?"   # no answers yet: may change
    changed = dict(boende, id="boende_2", text="Var bor du just nu?")
    document["projects"][VVV]["kartlaggning"]["questions"].append(changed)
    write_config_tables(warehouse, load_projects(_write(tmp_path, document)))
    assert _stored(warehouse, "boende_2")[0] == "Var bor du just nu?"
    assert _stored(warehouse, "forening")[0] == "Är du medlem i en förening eller ett lag?"


def test_answers_in_another_project_do_not_hold_a_question(tmp_path):
    """The same question id in another project is another question."""
    path = tmp_path / "home" / "warehouse.duckdb"
    path.parent.mkdir()
    ensure_schema(path)
    write_config_tables(path, load_projects())
    _with_an_answer(path, "harjedalen", "boende")
    document = _document()
    _question(document, VVV, "boende")["text"] = "Var bor du just nu?"
    write_config_tables(path, load_projects(_write(tmp_path, document)))
    assert _stored(path, "boende")[0] == "Var bor du just nu?"

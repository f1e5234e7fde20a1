"""The corpus of broken and odd mapping files (tests/bad_inputs/mapping_corpus.py), all delivered to
one data home and run through the real privacy and validate stages: each gets its verdict and a
Swedish message that says what to do and repeats no personnummer; nothing of a rejected file
reaches landing.mapping_rows; no person's number reaches the warehouse."""

from __future__ import annotations

import re

import pytest

from orchestration.privacy.keys import load_key
from orchestration.privacy.stage import pseudonymise_pending
from orchestration.quality.stage import validate_pending
from tests.bad_inputs.builders import PersonFactory
from tests.bad_inputs.mapping import deliver_mapping, prepared_home
from tests.bad_inputs.mapping_corpus import build_mapping_corpus
from tests.bad_inputs.scenario import query
from tests.bad_inputs.stages import new_home
from tests.identifier_scan import find_identifiers, identifier_tokens, warehouse_text

CORPUS = build_mapping_corpus(PersonFactory())      # for the test ids; the fixture builds its own


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    home = new_home(tmp_path_factory.mktemp("mapping_corpus") / "home")
    config = prepared_home(home)
    cases = build_mapping_corpus(PersonFactory())
    ids = {case.name: deliver_mapping(home, case.content, case.file_name, case.project_id, case.kommunkod)
           for case in cases}
    pseudonymise_pending(home, load_key(home.root))
    validate_pending(home, config)
    return home, {case.name: case for case in cases}, ids


def test_the_corpus_has_its_cases():
    assert len([c for c in CORPUS if c.outcome == "rejected"]) >= 15
    assert len({c.name for c in CORPUS}) == len({c.month for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("name", [c.name for c in CORPUS])
def test_each_mapping_file_gets_its_verdict(delivered, name):
    home, cases, ids = delivered
    case = cases[name]
    ((status, verdict, reason, message, total, accepted),) = query(
        home, "select status, verdict, verdict_reason, verdict_message, rows_total, rows_accepted "
              "from landing.deliveries where delivery_id = ?", [ids[name]])
    assert status == "VALIDATED"
    mapped = query(home, "select count(*) from landing.mapping_rows where delivery_id = ?", [ids[name]])[0][0]
    if case.outcome == "rejected":
        assert (verdict, reason) == ("REJECTED", case.reason), message
        for fragment in case.message:
            assert fragment in message, (fragment, message)
        assert re.search(r"[Ss]kicka|[Ll]ägg|[Rr]ätta|[Ss]para|[Tt]a bort|[Aa]nvänd", message), message
        assert not re.search(r"\d{6}[-+]?\d{4}", message), message
        for person in case.persons:
            assert not any(form in message for form in person.written_forms())
        assert mapped == 0
        assert query(home, "select count(*) from landing.mapping_answers where delivery_id = ?", [ids[name]]) == [(0,)]
    else:
        assert verdict in ("ACCEPTED", "ACCEPTED_WITH_WARNINGS") and reason is None
        assert mapped == accepted
    if case.rows_total is not None:
        assert (total, accepted) == (case.rows_total, case.rows_accepted)


def test_no_persons_number_of_the_corpus_reaches_the_warehouse(delivered):
    home, cases, _ = delivered
    digits, words = identifier_tokens({form for case in cases.values() for person in case.persons
                                       for form in person.written_forms()})
    for table, text in warehouse_text(home.warehouse).items():
        assert not find_identifiers(text, digits, words), table

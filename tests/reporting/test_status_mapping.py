"""Mapping files (kartläggning) in `followup status` and monitoring: listed in a section of their
own, with what needs action about them, and never a month of the enrolment matrix: a mapping file
for a month does not deliver it, does not make it late or resubmitted, and a month with only a
mapping file is still missing.

Real files in a real data home: enrolment files through intake, pseudonymise and validate; the
mapping files through intake, their verdicts written as the validate stage writes them.
"""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from orchestration.cli import main
from orchestration.projects.config import BUNDLED_CONFIG, load_projects
from orchestration.reporting import monitoring
from orchestration.reporting.status import delivery_status, format_status
from tests.bad_inputs.builders import HEADER, PersonFactory, csv_bytes, rows_for
from tests.bad_inputs.scenario import query, write_file
from tests.bad_inputs.stages import new_home, process, record_verdict
from orchestration.ingest.intake import run_intake

VVV, FLEN, NYKOPING = "vaga_valja_vag", "0482", "0480"
TODAY = dt.date(2010, 1, 20)          # Våga Välja Väg ran 2009-08 .. 2009-12: every deadline has passed


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T09:00:00")


@pytest.fixture
def setup(tmp_path, pseudonym_key):
    """Våga Välja Väg with a second municipality (Nyköping), in January 2010:

    0482 Flen      enrolment 08, 09, 10 on time; mapping 10 (received late), 11 accepted, 12 rejected
    0480 Nyköping  enrolment 08, 09; mapping 10 accepted
    """
    document = yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))
    project = next(p for p in document["projects"] if p["id"] == VVV)
    project["municipalities"] = [FLEN, NYKOPING]
    path = tmp_path / "projekt.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    config = load_projects(path)
    home = new_home(tmp_path / "home")
    factory = PersonFactory()
    flen, nykoping = factory.take(1990, 8), factory.take(1991, 8)
    for code, persons, months in ((FLEN, flen, ("08", "09", "10")), (NYKOPING, nykoping, ("08", "09"))):
        for month in months:
            write_file(home.inbox / VVV / code / f"2009-{month}.csv", csv_bytes(HEADER, rows_for(persons, "2009-08-17")),
                       at(f"2009-{int(month) + 1:02d}-05"))
    process(home, config, today=TODAY)

    mapping = csv_bytes(["personnummer", "besvarad", "paverka_vardag"], [[p.ten, "2009-10-12", "3"] for p in flen])
    files = {
        "flen_10": (home.inbox / VVV / FLEN / "Kartläggning" / "2009-10 svar.csv", at("2010-01-15"), "ACCEPTED"),
        "flen_11": (home.inbox / VVV / FLEN / "kartlaggning" / "2009-11.csv", at("2009-12-01"), "ACCEPTED"),
        "flen_12": (home.inbox / VVV / FLEN / "kartlaggning" / "2009-12.csv", at("2010-01-02"), "REJECTED"),
        "nykoping_10": (home.inbox / VVV / NYKOPING / "kartlaggning" / "2009-10.csv", at("2009-11-03"), "ACCEPTED"),
    }
    for n, (path, received, _) in enumerate(files.values()):
        write_file(path, mapping + f"{n}\n".encode(), received)
    intake = run_intake(home, config, today=TODAY)
    ids = {r.file.path: r.delivery_id for r in intake.new}
    assert {r.extract_kind for r in intake.new} == {"KARTLAGGNING"} and len(ids) == len(files)
    for path, _, verdict in files.values():
        record_verdict(home, ids[path], verdict, rows_total=8 if verdict != "REJECTED" else 0)
    return home, config


def test_the_matrix_holds_enrolment_snapshots_only(setup):
    home, config = setup
    [status] = delivery_status(home.warehouse, config, VVV, today=TODAY)
    assert [len(status.cells[(FLEN, f"2009-{m}")].deliveries) for m in ("08", "09", "10", "11", "12")] == [1, 1, 1, 0, 0]
    assert [status.cells[(NYKOPING, f"2009-{m}")].symbol for m in ("08", "09", "10", "11", "12")] == list("✓✓···")
    assert not status.cells[(FLEN, "2009-10")].is_late                  # the late file is a mapping file
    assert {(p.kommunkod, p.month) for p in status.problems if p.kind == "saknas"} == {
        (FLEN, "2009-11"), (FLEN, "2009-12"), (NYKOPING, "2009-10"), (NYKOPING, "2009-11"), (NYKOPING, "2009-12")}
    assert not [p for p in status.problems if p.kind in ("sen", "omleverans", "avvisad", "utanför")]
    assert not status.outside

    assert sorted((d.kommunkod, d.reporting_month, d.verdict, d.in_force) for d in status.mappings) == [
        (NYKOPING, "2009-10", "ACCEPTED", True), (FLEN, "2009-10", "ACCEPTED", True),
        (FLEN, "2009-11", "ACCEPTED", True), (FLEN, "2009-12", "REJECTED", False)]
    [action] = [p for p in status.mapping_problems if p.needs_action]
    assert (action.kind, action.kommunkod, action.month) == ("avvisad", FLEN, "2009-12")
    assert "kartläggning 0482 Flen 2009-12 2009-12.csv" in action.text


def test_followup_status_lists_mapping_files_in_their_own_section(setup, capsys):
    home, config = setup
    text = format_status(home.warehouse, config, VVV, today=TODAY)
    lines = text.splitlines()
    assert any(line.strip().startswith("0482 Flen") and "✓✓✓··" in line for line in lines)
    assert any(line.strip().startswith("0480 Nyköping") and "✓✓···" in line for line in lines)
    section = lines.index("  kartläggningar (ingen månadsfrist): 4 filer, 3 gäller")
    listed = lines[section + 1:section + 5]
    assert all(line.startswith("    ") for line in listed)
    assert any("0482 Flen 2009-10 2009-10 svar.csv: godkänd; gäller" in line for line in listed)
    assert any("0482 Flen 2009-12 2009-12.csv: avvisad" in line for line in listed)
    action = lines[lines.index("  att åtgärda:"):lines.index("  för kännedom:") if "  för kännedom:" in lines else None]
    assert any("avvisad: kartläggning 0482 Flen 2009-12" in line for line in action)
    assert any("saknas: 0480 Nyköping 2009-10" in line for line in action)

    config_path = home.root.parent / "projekt.yaml"
    assert main(["status", "--home", str(home.root), "--config", str(config_path), "--project", VVV]) == 0
    out = capsys.readouterr().out
    assert "kartläggningar (ingen månadsfrist): 4 filer, 3 gäller" in out and "2009-11.csv: godkänd; gäller" in out


def test_monitoring_counts_no_mapping_file_as_a_delivered_month(setup):
    home, config = setup
    # Nyköping's newest enrolment month in force is 2009-09, Flen's 2009-10; Nyköping's mapping file
    # for 2009-10 does not deliver that month
    assert monitoring.missing_deliveries(home.warehouse, config) == [
        monitoring.MissingDelivery(VVV, NYKOPING, "2009-10")]
    cells = monitoring.municipality_months(home.warehouse, config, today=TODAY)
    assert sorted((c.kommunkod, c.month) for c in cells) == [
        (NYKOPING, "2009-08"), (NYKOPING, "2009-09"), (FLEN, "2009-08"), (FLEN, "2009-09"), (FLEN, "2009-10")]
    flen_october = next(c for c in cells if (c.kommunkod, c.month) == (FLEN, "2009-10"))
    assert [d.file_name for d in flen_october.files] == ["2009-10.csv"] and not flen_october.needs_action
    assert flen_october.quality.file_name == "2009-10.csv"
    # the enrolment file in force for Flen 2009-10 is unchanged by the mapping file of the same month
    assert query(home, "select file_name, extract_kind from landing.delivery_states where kommunkod = ? and "
                       "reporting_month = '2009-10' and in_force order by extract_kind", [FLEN]) == [
        ("2009-10.csv", "INSKRIVNING"), ("2009-10 svar.csv", "KARTLAGGNING")]


def test_the_ui_lists_mapping_files_beside_the_month_grids(setup):
    from orchestration.reporting.delivery_assets import mapping_files, partition_metadata

    home, config = setup
    statuses = delivery_status(home.warehouse, config, VVV, today=TODAY)
    table = mapping_files(statuses, home.reports).splitlines()
    assert len(table) == 2 + 4
    rejected = next(line for line in table if "2009-12.csv" in line)
    assert "| 0482 Flen | 2009-12 |" in rejected and "**Avvisad, ingen leverans gäller för månaden**" in rejected
    assert all("kartlaggning" in line.split("|")[-2] for line in table[2:])                # the mapping report
    cell = next(c for c in monitoring.municipality_months(home.warehouse, config, today=TODAY)
                if (c.kommunkod, c.month) == (FLEN, "2009-10"))
    metadata = partition_metadata(cell, home.reports)
    assert "svar.csv" not in metadata["filer"].value and "_kartlaggning_" not in str(metadata["leveransrapport"].value)

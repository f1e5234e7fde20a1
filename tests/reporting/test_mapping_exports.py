"""The mapping figures in the funder files (kartlaggning.csv, the workbook's sheet Kartläggning,
rapport.html/.pdf) and the coordinators' summary, from a warehouse of hand-made mapping
deliveries built by real dbt (tests/mapping_scenario.py): the exact figures against the rows
counted by hand, disclosure control checked relation by relation, and no free text anywhere."""

from __future__ import annotations

import csv
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import openpyxl
import pytest

from orchestration.reporting.export import export_all
from orchestration.reporting.headline import headlines
from orchestration.reporting.funder_report import write_funder_report
from orchestration.reporting.mapping import MAPPING_COLUMNS, exact_rows, summary_markdown
from tests.mapping_scenario import FREE_TEXT_MARK, PROJECTS, expected_figures, query, shared

FREE_TEXT_QUESTIONS = ("ovrigt", "onskat_stod")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    scenario = shared(tmp_path_factory)             # the warehouse at a data home's root
    out = scenario.warehouse.parent / "exports"
    files = export_all(scenario.warehouse, scenario.config, out)
    internal = export_all(scenario.warehouse, scenario.config, out, unsuppressed=True)
    for headline in headlines(scenario.warehouse, scenario.config):
        if headline.project_id in PROJECTS:
            write_funder_report(scenario.warehouse, scenario.config.project(headline.project_id), headline, out, pdf=True)
    return scenario, out, files, internal


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def number(text: str) -> float | None:
    return None if text == "" else float(text)


def test_kartlaggning_csv_is_written_for_the_mapping_projects_only(exported):
    scenario, out, files, internal = exported
    by_project = {f.project_id: f for f in files}
    for project_id in PROJECTS:
        assert by_project[project_id].mapping == out / project_id / "kartlaggning.csv"
        assert (out / project_id / "kartlaggning_internal.csv").exists()
        with (out / project_id / "kartlaggning.csv").open(encoding="utf-8") as handle:
            assert tuple(next(csv.reader(handle))) == MAPPING_COLUMNS
    assert not [p for p in out.rglob("kartlaggning*.csv") if p.parent.name not in PROJECTS]


@pytest.mark.parametrize("project_id", PROJECTS)
def test_the_exact_figures_are_the_rows_counted_by_hand(exported, project_id):
    scenario, out, _, _ = exported
    numerators, denominators, groups, inventory = expected_figures(scenario, project_id)
    rows = read_csv(out / project_id / "kartlaggning_internal.csv")
    assert len(rows) == query(scenario.warehouse, "select count(*) from marts.mapping_values where project_id = ?",
                              [project_id])[0][0]
    project = scenario.config.project(project_id)
    for row in rows:
        assert row["suppressed"] == "false"
        if row["measure"] == "inventering":
            if row["question_id"] != "malpopulation":
                assert number(row["numerator"]) == inventory.get((row["area"], row["question_id"]), 0)
            continue
        key = (row["area"], row["breakdown"], row["group"], row["question_id"], row["measure"])
        assert number(row["numerator"]) == numerators.get((*key, row["category"]), 0), key
        assert number(row["denominator"]) == denominators.get(key, 0), key
        question = project.mapping.question(row["question_id"])
        assert row["question"] == question.text and row["domain"] == question.domain
        assert row["category_label"] == {c.code: c.label for c in question.categories()}[row["category"]]


def _relations(rows: list[dict], project) -> list[tuple]:
    """Every relation a reader may subtract along, as (total cell, part cells); a cell is
    (quantity, area, breakdown, group). Worked out here from the rows, independently of
    reporting/mapping.py."""
    single = {q.id for q in project.mapping.questions if q.type != "multiple_choice"}
    cells: dict[tuple, list[dict]] = defaultdict(list)   # cell -> the rows that show it
    for row in rows:
        where = (row["area"], row["breakdown"], row["group"])
        if row["measure"] == "inventering":
            if row["question_id"] != "malpopulation":
                cells[("inv", row["question_id"], *where)].append(row)
            continue
        base = ("base", "svar" if row["measure"] == "svar" else "twice", row["question_id"])
        cells[(*base, *where)].append(row)
        cells[("cat", row["measure"], row["question_id"], row["category"], *where)].append(row)
    relations = []
    for cell in cells:
        *quantity, area, breakdown, group = cell
        quantity = tuple(quantity)
        if breakdown == "total":
            for other in ("kon", "alder"):
                parts = [c for c in cells if c[:-3] == quantity and c[-3] == area and c[-2] == other]
                relations.append((cell, parts))
        if area == "ALL":
            relations.append((cell, [c for c in cells if c[:-3] == quantity and c[-3] != "ALL"
                                     and c[-2:] == (breakdown, group)]))
        if quantity[0] == "base" and quantity[2] in single:
            measures = ("svar",) if quantity[1] == "svar" else ("fore", "efter")
            for measure in measures:
                relations.append((cell, [c for c in cells if c[0] == "cat" and c[1] == measure and c[2] == quantity[2]
                                         and c[-3:] == (area, breakdown, group)]))
    return [(total, parts, cells) for total, parts in relations if parts]


@pytest.mark.parametrize("project_id", PROJECTS)
def test_disclosure_control_hides_small_counts_and_nothing_hidden_can_be_worked_out(exported, project_id):
    scenario, out, _, _ = exported
    project = scenario.config.project(project_id)
    published = read_csv(out / project_id / "kartlaggning.csv")
    exact = read_csv(out / project_id / "kartlaggning_internal.csv")
    assert len(published) == len(exact)
    hidden_small = 0
    for shown, row in zip(published, exact):
        assert [shown[c] for c in ("area", "breakdown", "group", "question_id", "measure", "category")] == \
               [row[c] for c in ("area", "breakdown", "group", "question_id", "measure", "category")]
        numerator, denominator = number(row["numerator"]), number(row["denominator"])
        small = (numerator is not None and 0 < numerator < 5) or (denominator is not None and 0 < denominator < 5)
        if row["question_id"] == "malpopulation":
            assert shown["suppressed"] == "false"
        elif small or (denominator is not None and denominator < 10):
            assert shown["suppressed"] == "true", row
            hidden_small += small
        if shown["suppressed"] == "true":
            assert shown["value"] == shown["numerator"] == shown["denominator"] == ""
        else:
            assert (shown["value"], shown["numerator"], shown["denominator"]) == \
                   (row["value"], row["numerator"], row["denominator"])
    assert hidden_small > 10                        # the scenario has small counts to hide

    # Secondary suppression: with the exact values, no relation gives a hidden count away.
    hidden_rows = {id(r) for r, s in zip(exact, published) if s["suppressed"] == "true"}
    checked = 0
    for total, parts, cells in _relations(exact, project):
        def value(cell):
            row = cells[cell][0]
            if cell[0] == "base":
                return number(row["denominator"])
            return number(row["numerator"])

        def hidden(cell):
            return value(cell) > 0 and all(id(r) in hidden_rows for r in cells[cell])

        hidden_parts = [p for p in parts if hidden(p)]
        if hidden(total):
            assert hidden_parts, (total, "recoverable as the sum of its shown parts")
        elif hidden_parts:
            remainder = value(total) - sum(value(p) for p in parts if not hidden(p))
            assert len(hidden_parts) >= 2, (total, hidden_parts)
            assert remainder != len(hidden_parts), (total, "each hidden part is 1")
            checked += 1
    assert checked > 0


def test_the_workbook_sheet_shows_each_domain_s_questions_with_suppressed_cells_as_x(exported):
    scenario, out, _, _ = exported
    project = scenario.config.project("vaga_valja_vag")
    workbook = openpyxl.load_workbook(out / "vaga_valja_vag" / "kpi.xlsx")
    assert "Kartläggning" in workbook.sheetnames
    assert workbook.sheetnames.index("Kartläggning") == workbook.sheetnames.index("Datakvalitet") - 1
    sheet = workbook["Kartläggning"]
    assert [c.value for c in sheet[3]] == ["Område", "Domän", "Fråga", "Svar", "Andel", "Antal", "Svarande",
                                           "Före: andel", "Efter: andel", "Svarat två gånger"]
    first, last = sheet.auto_filter.ref.split(":")
    table = list(sheet.iter_rows(min_row=4, max_row=int(last[1:]), values_only=True))
    published = read_csv(out / "vaga_valja_vag" / "kartlaggning.csv")
    totals = {(r["area"], r["measure"], r["question"], r["category_label"]): r for r in published
              if r["breakdown"] == "total"}
    question = domain = None
    order, seen_domains = [], []
    for row in table:
        area = "ALL" if row[0] == "Hela projektet" else row[0][:4]
        if row[1]:
            domain = row[1]
            if not seen_domains or seen_domains[-1] != (area, domain):
                seen_domains.append((area, domain))
        if row[2]:
            question = row[2]
            order.append((area, question))
        answer = totals[(area, "svar", question, row[3])]
        if answer["suppressed"] == "true":
            assert row[4:7] == ("x", None, None)
        else:
            assert row[4] == pytest.approx(float(answer["value"])) if answer["value"] else row[4] == ".."
            assert (row[5], row[6]) == (float(answer["numerator"]), float(answer["denominator"]))
        before = totals[(area, "fore", question, row[3])]
        assert row[7] == ("x" if before["suppressed"] == "true" else
                          pytest.approx(float(before["value"])) if before["value"] else "..")
    # every question with figures once per area, in the instrument's order, domains together
    questions = [q.text for q in project.mapping.questions if q.type != "free_text"]
    assert order == [(area, q) for area in ("ALL", "0482") for q in questions]
    assert len(seen_domains) == len(set(seen_domains))
    assert sheet["E4"].number_format == "0.0%" or sheet["E4"].value == "x"
    hidden = [c for row in sheet.iter_rows(min_row=4, max_row=int(last[1:])) for c in row if c.value == "x"]
    assert hidden and all(c.alignment.horizontal == "right" for c in hidden)


def test_the_inventory_is_in_the_sheet_and_the_report(exported):
    scenario, out, _, _ = exported
    _, _, _, inventory = expected_figures(scenario, "harjedalen")
    sheet = openpyxl.load_workbook(out / "harjedalen" / "kpi.xlsx")["Kartläggning"]
    rows = [r for r in sheet.iter_rows(min_row=4, values_only=True) if r[1] == "Inventering"]
    whole = {r[2]: r for r in rows if r[0] == "Hela projektet"}
    assert whole["Målgruppens storlek (enligt projektplanen)"][5] == 1300
    mapped = whole["Kartlagda personer"]
    assert mapped[5] == inventory[("ALL", "kartlagda")] and mapped[4] == pytest.approx(inventory[("ALL", "kartlagda")] / 1300)
    page = (out / "harjedalen" / "rapport.html").read_text(encoding="utf-8")
    assert "<h2>Kartläggning</h2>" in page and "<h3>Inventering</h3>" in page
    for domain in ("Sysselsättning", "Kontakt med myndigheter", "Livssituation"):
        assert f"<h3>{domain}</h3>" in page
    assert f"<th>Kartlagda personer</th><td>{inventory[('ALL', 'kartlagda')]}</td>" in page


def test_no_free_text_reaches_any_export(exported):
    scenario, out, _, _ = exported
    assert query(scenario.warehouse, "select count(*) from landing.mapping_answers where answer_text like ?",
                 [f"%{FREE_TEXT_MARK}%"])[0][0] > 0           # it was delivered
    for path in out.rglob("*"):
        if path.suffix in (".csv", ".html"):
            text = path.read_text(encoding="utf-8")
            assert FREE_TEXT_MARK not in text, path
            assert not any(q in text for q in FREE_TEXT_QUESTIONS if path.name.startswith("kartlaggning")), path
        elif path.suffix == ".xlsx":
            book = openpyxl.load_workbook(path)
            cells = [str(c.value) for s in book for row in s.iter_rows() for c in row if c.value is not None]
            assert not [c for c in cells if FREE_TEXT_MARK in c], path
        elif path.suffix == ".pdf" and shutil.which("pdftotext"):
            text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
            assert FREE_TEXT_MARK not in text, path
            if path.parent.name in PROJECTS:
                assert "Kartläggning" in text


def test_the_coordinators_summary_names_each_domain_with_its_most_common_answer(exported):
    scenario, _, _, _ = exported
    for project_id in PROJECTS:
        project = scenario.config.project(project_id)
        rows = exact_rows(scenario.warehouse, project)
        numerators, denominators, _, _ = expected_figures(scenario, project_id)
        text = summary_markdown(project, rows)
        for question in project.mapping.questions:
            if question.type == "free_text":
                assert question.text.replace("?", "\\?") not in text
                continue
            base = denominators[("ALL", "total", "T", question.id, "svar")]
            counts = [(numerators.get(("ALL", "total", "T", question.id, "svar", c.code), 0), c) for c in question.categories()]
            top = max(n for n, _ in counts)
            label = next(c.label for n, c in counts if n == top)
            share = f"{top / base * 100:.1f} %".replace(".", ",")
            line = next(line for line in text.splitlines()
                        if line.startswith("| ") and line.split(" | ")[0][2:].replace("\\", "") == question.text)
            assert line.split(" | ")[1:] == [label, share, f"{base} |"], line
        for domain in dict.fromkeys(q.domain for q in project.mapping.questions if q.type != "free_text"):
            assert f"**{domain}**" in text.replace("\\", "")
    assert "| Kartlagda personer |" in summary_markdown(scenario.config.project("harjedalen"),
                                                        exact_rows(scenario.warehouse, scenario.config.project("harjedalen")))


def test_the_mapping_summary_asset_shows_each_project_s_summary_in_the_ui(exported):
    import dagster as dg

    from orchestration.reporting.assets import mapping_summary
    from orchestration.resources import FollowupResource

    scenario, _, _, _ = exported
    with dg.instance_for_test() as instance:
        result = dg.materialize([dg.AssetSpec("mapping_values"), mapping_summary], selection=[mapping_summary],
                                instance=instance,
                                resources={"followup": FollowupResource(home=str(scenario.warehouse.parent))})
    assert result.success
    (materialization,) = result.asset_materializations_for_node("mapping_summary")
    metadata = materialization.metadata
    assert metadata["projekt med kartläggning"].value == 2
    for project_id in PROJECTS:
        project = scenario.config.project(project_id)
        assert metadata[f"kartläggning {project_id}"].value == summary_markdown(
            project, exact_rows(scenario.warehouse, project))
    assert "**Inventering**" in metadata["kartläggning harjedalen"].value
    assert "**Inventering**" not in metadata["kartläggning vaga_valja_vag"].value


def test_the_sheet_prints_as_a_reader_sees_it_in_libreoffice(exported, tmp_path):
    """kpi.xlsx through LibreOffice to PDF and the Kartläggning pages to PNG: the pages are headed
    by the sheet's name, show every question and domain once per area, hidden figures as x, and
    fit the page's width (one page wide, as every sheet)."""
    from tests.libreoffice import convert_workbooks, require

    require("pdftotext", "pdftoppm", install="libreoffice-calc-nogui poppler-utils")
    scenario, _, files, _ = exported
    mapped = [f for f in files if f.project_id in PROJECTS]
    _, _ = convert_workbooks(mapped, tmp_path, "pdf", "pdf")
    for exported_file in mapped:
        pdf = tmp_path / "pdf" / f"{exported_file.project_id}.pdf"
        pages = int(next(line.split()[-1] for line in subprocess.run(["pdfinfo", str(pdf)], capture_output=True,
                                                                      text=True).stdout.splitlines()
                         if line.startswith("Pages:")))
        texts = {page: subprocess.run(["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
                                      capture_output=True, text=True, check=True).stdout for page in range(1, pages + 1)}
        mapping_pages = [page for page, text in texts.items() if text.lstrip().startswith("Kartläggning")]
        assert mapping_pages, exported_file.project_id
        text = "\n".join(texts[page] for page in mapping_pages)
        project = scenario.config.project(exported_file.project_id)
        for question in project.mapping.questions:
            if question.type != "free_text":
                assert text.count(question.text) == 2, question.id       # ALL and the municipality
        assert " x " in text or text.rstrip().endswith(" x") or "\nx" in text or " x\n" in text
        subprocess.run(["pdftoppm", "-f", str(mapping_pages[0]), "-l", str(mapping_pages[0]), "-r", "40", "-png",
                        str(pdf), str(tmp_path / exported_file.project_id)], check=True)
        assert list(tmp_path.glob(f"{exported_file.project_id}*.png"))

"""The user documentation in docs/ names every word of the code's vocabularies.

The vocabularies have their owners in the code: the extract contract's columns, aliases and codes
(orchestration/lib/contract.py), the reason codes the file and row rules give (the reader, the
inbox router and the validator in orchestration/ and the Great Expectations suite in
expectations/), the KPIs (the KPI catalogue dbt/seeds/kpi_catalogue.csv, read by
orchestration/lib/kpis.py: each KPI's id, kind, Swedish name, scope and whether it may have a
target), the breakdowns and groups (orchestration/reporting/kpi_names.py, checked against dbt's
accepted values in dbt/models/marts/kpi_values.yml), and the fields the projects configuration
loader reads (orchestration/projects/config.py). This test reads those owners and fails when a
document lacks a word or says otherwise, so the documents cannot drift from the code. It runs no
pipeline and parses only source files.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from pathlib import Path

import pytest
import yaml

from orchestration.lib import contract, kpis, mapping_contract
from orchestration.reporting import kpi_names

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
DELIVERY_GUIDE = DOCS / "leveransanvisning.md"
KPI_GUIDE = DOCS / "nyckeltal.md"
CONFIG_GUIDE = DOCS / "konfiguration.md"
MAPPING_GUIDE = DOCS / "kartlaggning.md"     # the mapping extract (kartläggning) and its figures

# Where a file or a row gets its verdict: the reader, the inbox router, the reading process, the
# validator. A reason code in these modules is an upper-case word given to one of these as its code.
VERDICT_MODULES = ("orchestration/ingest", "orchestration/privacy", "orchestration/quality")
CODE_CARRIERS = {"ExtractReadError": 0, "ReadFailure": 0, "UnroutedFile": 1, "RowFinding": 2,
                 "DeliveryVerdict": 2}
GX_SUITE = REPO / "expectations" / "enrolment_rows.json"
CODE_WORD = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _mentions(text: str, word: str) -> bool:
    """The word stands on its own in the text (KON is not found inside OKAND_KON)."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", text) is not None


def _missing(path: Path, words) -> list[str]:
    text = _text(path)
    return sorted({word for word in words if not _mentions(text, word)})


def _is_code(node: ast.AST | None, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        value = constants.get(node.id)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        value = node.value
    else:
        return None
    return value if value and CODE_WORD.fullmatch(value) else None


def _is_message(node: ast.AST) -> bool:
    """A sentence for a person: a text with spaces, an f-string, or texts joined with +."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and " " in node.value
    return isinstance(node, (ast.JoinedStr, ast.BinOp))


def _codes_in_module(tree: ast.Module) -> set[str]:
    constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                 for target in node.targets if isinstance(target, ast.Name)}
    codes: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CODE_CARRIERS:
            position = CODE_CARRIERS[node.func.id]
            code = _is_code(node.args[position], constants) if len(node.args) > position else None
            codes.update([code] if code else [])
        elif isinstance(node, ast.Tuple) and len(node.elts) >= 2:
            # (code, message) pairs: a routed file's rejection, the table of entries that are no file
            code = _is_code(node.elts[0], constants)
            if code and _is_message(node.elts[1]):
                codes.add(code)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
            # verdict, code = "REJECTED", "FOR_MANGA_FEL"
            for target in node.targets:
                if isinstance(target, ast.Tuple):
                    for name, value in zip(target.elts, node.value.elts):
                        code = _is_code(value, constants)
                        if isinstance(name, ast.Name) and name.id == "code" and code:
                            codes.add(code)
    return codes


@functools.cache
def reason_codes() -> frozenset[str]:
    """Every reason code a file, an inbox entry or a row can be given, as the code has them."""
    codes: set[str] = set()
    for folder in VERDICT_MODULES:
        for module in sorted((REPO / folder).rglob("*.py")):
            codes |= _codes_in_module(ast.parse(_text(module)))
    suite = json.loads(_text(GX_SUITE))
    codes |= {item["meta"]["reason_code"] for item in suite["expectations"] if "reason_code" in item.get("meta", {})}
    return frozenset(codes)


def config_fields() -> set[str]:
    """The keys the projects loader reads from a project entry and its period, age and suppression."""
    tree = ast.parse(_text(REPO / "orchestration" / "projects" / "config.py"))
    parse = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "_parse_project")
    fields: set[str] = set()
    for node in ast.walk(parse):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and isinstance(node.func.value, (ast.Name, ast.Subscript)) and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            fields.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and isinstance(node.slice.value, str):
            fields.add(node.slice.value)
        elif isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple):      # the required fields
            fields.update(e.value for e in node.iter.elts if isinstance(e, ast.Constant))
    return fields


def kpi_values_rules() -> dict:
    document = yaml.safe_load(_text(REPO / "dbt" / "models" / "marts" / "kpi_values.yml"))
    model = next(m for m in document["models"] if m["name"] == "kpi_values")
    return next(t["rules"] for t in model["data_tests"] if "rules" in t)["arguments"]


def dbt_accepted_values() -> dict[str, set[str]]:
    return {column: set(values) for column, values in kpi_values_rules()["accepted_values"].items()}


def section(text: str, heading: str) -> str:
    """The text under a markdown heading, up to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    start = text.index(heading + "\n") + len(heading) + 1
    end = re.search(rf"^#{{1,{len(level)}}} ", text[start:], flags=re.MULTILINE)
    return text[start:start + end.start()] if end else text[start:]


def table_rows(text: str) -> dict[str, list[str]]:
    """`id` → the cells of its row, for every markdown table row whose first cell is a `code`."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(r"`[a-z0-9_]+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_collectors_find_the_codes_they_are_meant_to_find():
    """A guard on the collectors themselves: one code of each kind they read must be among them."""
    codes = reason_codes()
    assert {"KOLUMN_SAKNAS", "FIL_TOM", "MANAD_SAKNAS", "FOR_MANGA_FEL", "AKTIV_I_ANNAN_KOMMUN",
            "OVERLAPPANDE_INSKRIVNING", "KOD_OKAND", "PNR_OGILTIG", "SYMBOLISK_LANK",
            "LASNING_FOR_LANGSAM", "LOSENORDSSKYDDAD"} <= codes
    assert not codes & {"REJECTED", "ACCEPTED", "ACCEPTED_WITH_WARNINGS"}
    assert {"id", "name", "period", "start", "end", "age", "min", "max", "municipalities",
            "activity_outcomes", "targets", "target_population", "suppression", "min_count"} <= config_fields()


def test_kpi_values_takes_its_kpis_from_the_catalogue_and_its_breakdowns_from_kpi_names():
    rules = kpi_values_rules()
    assert {"columns": ["kpi"], "to": "ref('kpi_catalogue')", "to_columns": ["kpi"]} in rules["references"]
    assert "kpi" not in rules["accepted_values"]        # no second list of KPI ids
    assert set(kpi_names.KPI_LABELS) == set(kpis.catalogue())
    assert dbt_accepted_values()["breakdown"] == set(kpi_names.BREAKDOWN_LABELS)
    # the shares a value above 1 is allowed for are those over a figure of the whole project
    unbounded = {kpi.id for kpi in kpis.catalogue().values() if kpi.denominator in kpis.PROJECT_QUANTITIES}
    between = next(rule for rule in rules["conditional"] if "between" in rule)["where"]
    assert set(re.findall(r"'([a-z0-9_]+)'", between)) - {"share"} == unbounded


KPI_SECTIONS = {"### Antal personer": {"count"}, "### Andelar": {"share"}, "### Tid och mål": {"days", "target"}}


def test_kpi_guide_lists_every_kpi_of_the_catalogue_by_its_name_under_its_kind():
    guide = section(_text(KPI_GUIDE), "## Nyckeltalen")
    listed = {}
    for heading, kinds in KPI_SECTIONS.items():
        for kpi_id, cells in table_rows(section(guide, heading)).items():
            listed[kpi_id] = (kinds, cells[0])
    catalogue = kpis.catalogue()
    assert set(listed) == set(catalogue)
    for kpi_id, (kinds, name) in listed.items():
        assert catalogue[kpi_id].kind in kinds, kpi_id
        assert name == catalogue[kpi_id].label, kpi_id


def test_kpi_guide_says_which_kpis_exist_for_the_whole_project_only():
    guide = section(_text(KPI_GUIDE), "## Nyckeltalen")
    saying = [part for part in re.split(r"\n\s*\n|\n(?=\|)", guide) if "bara för" in part]
    named = {word for part in saying for word in re.findall(r"`([a-z0-9_]+)`", part)} & set(kpis.catalogue())
    assert named == {kpi.id for kpi in kpis.catalogue().values() if kpi.scope == kpis.PROJECT_TOTAL}


def test_config_guide_lists_the_kpis_that_may_have_a_target_by_kind():
    targets = section(_text(CONFIG_GUIDE), "### Mål")
    items = {"antal": "count", "andelar": "share", "dagar": "days"}
    listed = {}
    for item in re.split(r"\n(?=- )", targets):
        item = item.split("\n\n", 1)[0]                   # the list item, not the text after the list
        label = re.match(r"- (\w+):", item)
        if label and label.group(1) in items:
            listed[items[label.group(1)]] = set(re.findall(r"`([a-z0-9_]+)`", item))
    expected = {kind: {kpi.id for kpi in kpis.catalogue().values() if kpi.targetable and kpi.kind == kind}
                for kind in items.values()}
    assert listed == expected
    assert not [kpi for kpi in kpis.catalogue().values() if kpi.targetable and kpi.kind not in items.values()]


def test_delivery_guide_names_every_column_and_alias():
    columns = set(contract.COLUMN_ALIASES)
    aliases = {alias for names in contract.COLUMN_ALIASES.values() for alias in names}
    assert not _missing(DELIVERY_GUIDE, columns | set(contract.REQUIRED_COLUMNS)), "kolumner saknas"
    assert not _missing(DELIVERY_GUIDE, aliases), "alias saknas"


def test_delivery_guide_names_every_code():
    codes = set(contract.FAS) | set(contract.AVSLUTSORSAK) | set(contract.KON)
    codes |= {code for values in contract.OPTIONAL_CODES.values() for code in values}
    assert not _missing(DELIVERY_GUIDE, codes)


def test_delivery_guide_names_every_reason_code():
    """Each code in the guide to the file it concerns: the enrolment list's in the delivery guide,
    the mapping extract's in the mapping guide (which points to the delivery guide for the rest)."""
    missing = set(_missing(DELIVERY_GUIDE, reason_codes())) & set(_missing(MAPPING_GUIDE, reason_codes()))
    assert not missing


def test_mapping_guide_names_every_mapping_column_alias_type_figure_and_measure():
    columns = set(mapping_contract.MAPPING_COLUMN_ALIASES)
    aliases = {alias for names in mapping_contract.MAPPING_COLUMN_ALIASES.values() for alias in names}
    assert not _missing(MAPPING_GUIDE, columns | aliases), "kolumner eller alias saknas"
    assert not _missing(MAPPING_GUIDE, set(mapping_contract.ANSWER_TYPES)), "svarstyper saknas"
    assert not _missing(MAPPING_GUIDE, set(mapping_contract.INVENTORY_FIGURES) | {"kartlagda"}), "figurer saknas"
    assert not _missing(MAPPING_GUIDE, {"svar", "fore", "efter", "inventering", mapping_contract.ANSWERED})


def instrument_fields() -> set[str]:
    """The keys the instrument's parser reads: `.get("x")` and the sets of allowed fields."""
    tree = ast.parse(_text(REPO / "orchestration" / "projects" / "instrument.py"))
    fields: set[str] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            fields.add(node.args[0].value)
        elif isinstance(node, ast.Set):
            fields |= {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return fields


def test_config_guide_names_every_field_and_answer_type_of_the_instrument():
    fields = instrument_fields()
    assert {"questions", "inventory", "codes", "scale", "range", "bands", "labels"} <= fields
    assert not _missing(CONFIG_GUIDE, fields | set(mapping_contract.ANSWER_TYPES)
                        | set(mapping_contract.INVENTORY_FIGURES))


def test_kpi_guide_names_every_kpi_breakdown_and_group():
    assert not _missing(KPI_GUIDE, set(kpi_names.KPI_LABELS))
    assert not _missing(KPI_GUIDE, set(kpi_names.BREAKDOWN_LABELS))
    assert not _missing(KPI_GUIDE, set(kpi_names.GROUP_LABELS))


def test_config_guide_names_every_field_the_loader_reads():
    assert not _missing(CONFIG_GUIDE, config_fields())


def test_config_guide_names_every_followup_setting():
    """Every FOLLOWUP_* variable the code reads, except the test suite's own hooks."""
    variables = set()
    for module in (REPO / "orchestration").rglob("*.py"):
        variables |= set(re.findall(r"FOLLOWUP_[A-Z0-9_]+", _text(module)))
    variables = {v for v in variables if not v.startswith("FOLLOWUP_TEST_")}
    assert not _missing(CONFIG_GUIDE, variables)


@pytest.mark.parametrize("document", [DELIVERY_GUIDE, KPI_GUIDE, CONFIG_GUIDE, MAPPING_GUIDE], ids=lambda p: p.name)
def test_document_keeps_to_its_readers(document: Path):
    """No reader of docs/ has the engineers' spec folder; nothing points there."""
    assert "shared/" not in _text(document)


@pytest.mark.parametrize("document", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_every_relative_link_resolves(document: Path):
    links = re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", _text(document))
    broken = []
    for link in links:
        if re.match(r"[a-z][a-z0-9+.-]*:", link) or link.startswith("#"):
            continue
        target = (document.parent / link.split("#", 1)[0]).resolve()
        if not target.exists() or REPO not in target.parents:
            broken.append(link)
    assert not broken


ARCHITECTURE = REPO / "ARCHITECTURE.md"
PATH_NAMED = re.compile(r"`([\w./<>-]+(?:\.(?:py|sql|csv|md|json|yml)|/))`")


def test_architecture_names_only_files_and_folders_that_exist_within_two_pages():
    """ARCHITECTURE.md says which module owns which rule: every file or folder it names is there."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert len(text.split()) <= 1100, "ARCHITECTURE.md is meant to be read in one sitting: two pages at most"
    named = {name for name in PATH_NAMED.findall(text) if "<" not in name}      # `tests/<package>/` is a pattern
    assert len(named) > 30

    def exists(name: str) -> bool:
        if (REPO / name).exists() or (REPO / "orchestration" / name).exists():
            return True
        if "/" not in name.rstrip("/"):           # a bare file name: somewhere in the code, dbt, docs or tests
            return any(any((REPO / top).rglob(name)) for top in ("orchestration", "dbt", "docs", "tests"))
        return False

    assert sorted(name for name in named if not exists(name)) == []


def test_mapping_guide_shows_no_personnummer_shaped_example():
    """Examples in the guide stand for a personnummer with ÅÅMMDD-XXXX, never with digits."""
    assert not re.search(r"(?<!\d)(\d{6}|\d{8})[-+ ]?\d{4}(?!\d)", _text(MAPPING_GUIDE))

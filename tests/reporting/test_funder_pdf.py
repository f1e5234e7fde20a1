"""rapport.pdf as the demo run wrote it beside rapport.html and kpi.csv, read back as a reader's
tools read it: poppler's pdfinfo (pages, paper), pdftotext (the text layer), pdfimages (the
chart) and pdftoppm (the pages as images).

Every figure of the headline table and of the phases is checked against kpi.csv of the same
export, row by row: a figure kpi.csv hides must read "visas inte", never the number. The PDF is
drawn from the same published rows as rapport.html; the expected text here is made from kpi.csv
alone.

Where poppler-utils is missing the tests skip, except when FOLLOWUP_REQUIRE_POPPLER or
FOLLOWUP_REQUIRE_LIBREOFFICE is set (CI sets the latter; .ci/run installs poppler-utils with
LibreOffice), where it is a failure. With FOLLOWUP_KEEP_PRINTS set, each PDF and a PNG of its
pages are kept under test-artifacts/print-check/ to be looked at.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import matplotlib.image
import pytest

from orchestration.reporting.funder_report import write_funder_report
from orchestration.reporting.headline import headlines
from orchestration.reporting.kpi_names import KPI_LABELS

pytestmark = pytest.mark.slow
HIDDEN = "visas inte"
FUNNEL = ("active_participants", "phase_hitta", "phase_mota", "phase_aktivera", "phase_matcha")
DAYS = {"median_days_to_activity"}
A4_POINTS = (595.3, 841.9)


@dataclass(frozen=True)
class Report:
    project_id: str
    folder: Path
    pages: int
    page_size: tuple[float, float]
    text: str
    totals: dict[str, dict]             # kpi → its ALL/total/T row of kpi.csv
    exact: dict[str, dict]              # the same rows of kpi_internal.csv (exact figures)


def require_poppler() -> None:
    missing = [tool for tool in ("pdfinfo", "pdftotext", "pdftoppm", "pdfimages") if not shutil.which(tool)]
    if not missing:
        return
    if any(os.environ.get(name, "") not in ("", "0")
           for name in ("FOLLOWUP_REQUIRE_POPPLER", "FOLLOWUP_REQUIRE_LIBREOFFICE")):
        pytest.fail(f"{', '.join(missing)} required here but not installed: apt-get install poppler-utils")
    pytest.skip(f"{', '.join(missing)} not installed")


def run(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def totals(path: Path) -> dict[str, dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {r["kpi"]: r for r in csv.DictReader(handle)
                if (r["area"], r["breakdown"], r["group"]) == ("ALL", "total", "T")}


@pytest.fixture(scope="module")
def reports(demo_pipeline) -> list[Report]:
    """Every project's rapport.pdf in the demo run's exports/, with its kpi.csv."""
    require_poppler()
    internal = {e.project_id: e.path for e in demo_pipeline.internal}
    out = []
    for folder in sorted(p for p in demo_pipeline.home.exports.iterdir() if (p / "kpi.csv").exists()):
        pdf = folder / "rapport.pdf"
        assert pdf.exists(), f"no rapport.pdf beside {folder / 'rapport.html'}"
        info = run("pdfinfo", str(pdf))
        size = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts", info, re.MULTILINE)
        out.append(Report(folder.name, folder, int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1)),
                          (float(size.group(1)), float(size.group(2))), run("pdftotext", "-layout", str(pdf), "-"),
                          totals(folder / "kpi.csv"), totals(internal[folder.name])))
    assert {r.project_id for r in out} == {p.id for p in demo_pipeline.config.projects}
    if os.environ.get("FOLLOWUP_KEEP_PRINTS"):
        keep = Path(__file__).resolve().parents[2] / "test-artifacts" / "print-check"
        keep.mkdir(parents=True, exist_ok=True)
        for report in out:
            shutil.copyfile(report.folder / "rapport.pdf", keep / f"{report.project_id}-rapport.pdf")
            run("pdftoppm", "-r", "70", "-png", str(report.folder / "rapport.pdf"), str(keep / f"{report.project_id}-rapport"))
    return out


def fields(text: str, label: str) -> list[str]:
    """The one line of the text layer whose first column is `label`, split into its columns."""
    lines = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]
    found = [line for line in lines if line[0] == label]
    assert len(found) == 1, (label, f"{len(found)} lines start with it")
    return found[0]


def shown(kpi: str, value: str) -> str:
    """A kpi.csv value as the report writes it: 61 %, 350, 42 dagar."""
    number = float(value)
    if kpi.endswith("_share") or kpi == "reach":
        return f"{number * 100:.0f} %"
    return f"{number:.0f} dagar" if kpi in DAYS else f"{number:.0f}"


def expected_row(kpi: str, row: dict | None) -> list[str]:
    """The headline table's columns for a kpi.csv row: label, figure, target, target reached."""
    if row is None:
        return [KPI_LABELS[kpi], "–", "–"]
    figure = HIDDEN if row["suppressed"] == "true" else "–" if row["value"] == "" else shown(kpi, row["value"])
    if row["target"] == "":
        return [KPI_LABELS[kpi], figure, "–"]
    met = "–" if row["suppressed"] == "true" or row["target_met"] == "" else \
        "ja" if row["target_met"] == "true" else "nej"
    return [KPI_LABELS[kpi], figure, shown(kpi, row["target"]), met]


def test_every_report_is_one_or_two_a4_pages_and_renders(reports, tmp_path):
    for report in reports:
        assert 1 <= report.pages <= 2, (report.project_id, report.pages)
        assert all(abs(a - b) < 1 for a, b in zip(report.page_size, A4_POINTS)), (report.project_id, report.page_size)
        assert report.text.count("\f") == report.pages
        assert "shared/" not in report.text
    first = reports[0]
    run("pdftoppm", "-r", "30", "-png", str(first.folder / "rapport.pdf"), str(tmp_path / "page"))
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == first.pages
    width, height = struct.unpack(">II", images[0].read_bytes()[16:24])   # the PNG header's IHDR
    assert matplotlib.image.imread(images[0]).min() < 0.3                   # ink on it, not a blank page
    assert abs(width - A4_POINTS[0] * 30 / 72) <= 1 and abs(height - A4_POINTS[1] * 30 / 72) <= 1, (width, height)


def test_the_chart_is_the_html_reports_trend_png(reports):
    for report in reports:
        listed = run("pdfimages", "-list", str(report.folder / "rapport.pdf")).splitlines()[2:]
        sizes = [tuple(int(n) for n in line.split()[3:5]) for line in listed if line.split()[2] == "image"]
        png = (report.folder / "trend.png").read_bytes()
        assert sizes == [struct.unpack(">II", png[16:24])], report.project_id


def test_the_headline_shows_kpi_csvs_figures_against_their_targets(reports):
    """Participants, and every measure kpi.csv gives a target (activity_share when none has one),
    with the figure, the target and whether it is reached, as kpi.csv has them."""
    for report in reports:
        targeted = [kpi for kpi, row in report.totals.items() if row["target"] != "" and kpi != "participants"]
        for kpi in ["participants", *(targeted or ["activity_share"])]:
            expected = expected_row(kpi, report.totals.get(kpi))
            assert fields(report.text, KPI_LABELS[kpi]) == expected, report.project_id


def test_a_hidden_phase_reads_visas_inte_and_a_shown_one_its_kpi_csv_figure(reports):
    hidden = 0
    for report in reports:
        for kpi in FUNNEL:
            row = report.totals[kpi]
            line = fields(report.text, KPI_LABELS[kpi])
            if row["suppressed"] == "true":
                hidden += 1
                assert line == [KPI_LABELS[kpi], HIDDEN], (report.project_id, kpi, line)
                assert report.exact[kpi]["value"] not in line
            else:
                assert line == [KPI_LABELS[kpi], shown(kpi, row["value"])], (report.project_id, kpi, line)
    assert hidden, "the demo hides no phase: the test no longer shows that a hidden figure stays hidden"


def test_the_same_figures_give_the_same_bytes(demo_pipeline, tmp_path):
    """Written again from the same warehouse, the report is byte for byte the run's."""
    home, config = demo_pipeline.home, demo_pipeline.config
    headline = min(headlines(home.warehouse, config), key=lambda h: h.participants or 0)
    write_funder_report(home.warehouse, config.project(headline.project_id), headline, tmp_path, pdf=True)
    again = (tmp_path / headline.project_id / "rapport.pdf").read_bytes()
    assert again == (home.exports / headline.project_id / "rapport.pdf").read_bytes()


def test_data_quality_counts_the_enrolment_deliveries_and_not_the_mapping_files(reports, demo_pipeline):
    """The report's data quality is about the monthly lists the KPIs stand on: a mapping file in
    force (it has its own section) adds no month and no rows there."""
    import duckdb

    report = next(r for r in reports if r.project_id == "harjedalen")
    period = report.totals["participants"]["period"]
    with duckdb.connect(str(demo_pipeline.home.warehouse), read_only=True) as db:
        months, rows, mapping_rows = db.execute(
            "select count(distinct reporting_month) filter (where extract_kind = 'INSKRIVNING'), "
            "sum(rows_total) filter (where extract_kind = 'INSKRIVNING'), "
            "sum(rows_total) filter (where extract_kind = 'KARTLAGGNING') "
            "from marts.fct_deliveries where project_id = 'harjedalen' and is_current and reporting_month <= ?",
            [period]).fetchone()
    assert mapping_rows > 0
    quality = report.text[report.text.index("Datakvalitet"):]
    whole = next(re.split(r"\s{2,}", line.strip()) for line in quality.splitlines()
                 if line.strip().startswith("Hela projektet"))
    assert whole[1:2] == [str(months)] and whole[3:4] == [str(rows)], whole

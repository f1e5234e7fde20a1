"""What a coordinator reads in the Dagster UI about the figures, without SQL: `kpi_exports`, the
funder files, with every project's targets and figures ("mål och utfall") and, per project, the
trend chart; `mapping_summary`, each mapping project's figures per domain and its inventory. The delivery views are in delivery_assets.py; `definitions` gathers the stage's assets
and checks.
"""

import base64
import warnings

import dagster as dg

from orchestration.lib.asset_keys import WAREHOUSE_POOL
from orchestration.lib.safe_text import markdown_cell
from orchestration.lib.settings import Settings
from orchestration.lib.warehouse import connect
from orchestration.projects.config import ConfigError, ProjectsConfig, load_projects
from orchestration.reporting.checks import days_targets_met, participants_on_pace, share_targets_met
from orchestration.reporting.delivery_assets import (delivery_reports, delivery_status, every_municipality_delivered,
                                                     municipality_month_checks, municipality_month_specs)
from orchestration.reporting.export import export_all, figures_built_by, intact, record_files
from orchestration.reporting.funder_report import REPORT_FILES, write_funder_report
from orchestration.reporting.headline import headlines, headlines_markdown
from orchestration.reporting.mapping import exact_rows, summary_markdown
from orchestration.reporting.read_copy import read_copy
from orchestration.resources import FollowupResource


@dg.asset(group_name="reporting", pool=WAREHOUSE_POOL, deps=[dg.AssetKey("kpi_values"), dg.AssetKey("mapping_values")],
          kinds={"csv", "html", "pdf"})
def kpi_exports(context: dg.AssetExecutionContext, followup: FollowupResource) -> dg.MaterializeResult:
    """Filerna till finansiärerna, per projekt för dess senaste månad: kpi.csv, kpi.xlsx och en rapport
    på en sida (rapport.html, trend.png) och samma rapport som pdf på en eller två A4-sidor (rapport.pdf,
    med faser, datakvalitet och definitioner), med röjandeskydd, i exports/. I metadata: "mål och utfall",
    varje projekts mått med mål, utfall och om målet är nått (exakta tal, för samordnarna), och per
    projekt "trend <projekt>", rapportens diagram över måtten som målen gäller, med mållinjer."""
    home = followup.data_home()
    config = followup.projects()
    # The build the dbt step recorded (this run's); exports of figures that did not change since
    # the last ones (a rebuild of the same deliveries) are kept as they are, byte for byte.
    built_by = figures_built_by(home.dagster, home.warehouse)
    exported = export_all(home.warehouse, config, home.exports, built_by=built_by, reuse=home.exports)
    by_project = {e.project_id: e for e in exported}
    lines = headlines(home.warehouse, config)
    charts: dict[str, dg.MetadataValue] = {}
    for headline in lines:
        if headline.period is None:
            continue
        folder = home.exports / headline.project_id
        done = by_project.get(headline.project_id)
        if done is None or done.period != headline.period or not intact(folder, done.key, REPORT_FILES):
            write_funder_report(home.warehouse, config.project(headline.project_id), headline, home.exports, pdf=True)
            record_files(folder, REPORT_FILES)
        png = base64.b64encode((folder / "trend.png").read_bytes()).decode("ascii")
        charts[f"trend {headline.project_id}"] = dg.MetadataValue.md(
            f"### {markdown_cell(headline.name)}\n\n{headlines_markdown([headline])}\n\n"
            f"![Trend {markdown_cell(headline.name)}](data:image/png;base64,{png})")
    with connect(home.warehouse, read_only=True) as db:
        kpi_rows = db.execute("select count(*) from marts.kpi_values").fetchone()[0]
    return dg.MaterializeResult(metadata={
        "mål och utfall": dg.MetadataValue.md(headlines_markdown(lines)),
        **charts,
        "filer": len(exported),
        "månader": ", ".join(f"{e.project_id} {e.period}" for e in exported),
        "dagster/row_count": kpi_rows,
    })


@dg.asset(group_name="reporting", pool=WAREHOUSE_POOL, deps=[dg.AssetKey("mapping_values")], kinds={"duckdb"})
def mapping_summary(followup: FollowupResource) -> dg.MaterializeResult:
    """Kartläggningen i korthet för samordnarna, per projekt med kartläggning: för varje område
    (domän) frågorna med det vanligaste senaste svaret, dess andel och antal svarande, och
    inventeringens siffror - exakta tal för hela projektet (marts.mapping_values). Filerna till
    finansiärerna (kartlaggning.csv, bladet Kartläggning, rapporten) har röjandeskydd."""
    home = followup.data_home()
    metadata: dict[str, dg.MetadataValue] = {}
    mapped = [p for p in followup.projects().projects if p.mapping is not None]
    rows = 0
    for project in mapped:
        project_rows = exact_rows(home.warehouse, project)
        rows += len(project_rows)
        metadata[f"kartläggning {project.id}"] = dg.MetadataValue.md(summary_markdown(project, project_rows))
    return dg.MaterializeResult(metadata={"projekt med kartläggning": len(mapped), **metadata,
                                          "dagster/row_count": rows})


def definitions(settings: Settings) -> dg.Definitions:
    """The delivery reports and feedback for the municipalities, the exports for funders, the delivery
    status (a municipality × month grid per project), the serving copy and the checks on targets and
    deliveries."""
    projects = _projects_for_partitions(settings)
    return dg.Definitions(
        assets=[delivery_reports, kpi_exports, mapping_summary, delivery_status, read_copy, *(municipality_month_specs(projects) if projects else [])],
        asset_checks=[every_municipality_delivered, participants_on_pace, share_targets_met, days_targets_met,
                      *(municipality_month_checks(projects) if projects else [])],
    )


def _projects_for_partitions(settings: Settings) -> ProjectsConfig | None:
    """The projects whose municipality × month grids the UI shows. A broken configuration must
    not hide the whole code location: `projects_config` fails the run with the precise message."""
    try:
        return load_projects(settings.config_path or None)
    except ConfigError as error:
        warnings.warn(f"No municipality × month partitions: {error}", stacklevel=1)
        return None

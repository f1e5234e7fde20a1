"""Funder exports as a Dagster asset, with what a coordinator reads without SQL as metadata:
the headline table and, per project, the trend chart against targets."""

import base64

import dagster as dg

from orchestration.ingest.assets import WAREHOUSE_POOL
from orchestration.reporting.export import export_all
from orchestration.reporting.funder_report import write_funder_report
from orchestration.reporting.headline import format_headlines, headlines
from orchestration.resources import FollowupResource


@dg.asset(group_name="reporting", pool=WAREHOUSE_POOL, deps=[dg.AssetKey("kpi_values")], kinds={"csv", "html"})
def kpi_exports(followup: FollowupResource) -> dg.MaterializeResult:
    """kpi.csv and a one-page report (rapport.html, trend.png) per project for its newest month,
    small counts suppressed, in exports/."""
    home = followup.data_home()
    config = followup.projects()
    exported = export_all(home.warehouse, config, home.exports)
    lines = headlines(home.warehouse, config)
    charts = []
    for headline in lines:
        if headline.period is None:
            continue
        report = write_funder_report(home.warehouse, config.project(headline.project_id), headline, home.exports)
        png = (report.parent / "trend.png").read_bytes()
        charts.append(f"### {headline.name}\n\n![trend](data:image/png;base64,{base64.b64encode(png).decode('ascii')})")
    return dg.MaterializeResult(metadata={
        "files": len(exported),
        "periods": ", ".join(f"{e.project_id} {e.period}" for e in exported),
        "headline": dg.MetadataValue.md("```\n" + format_headlines(lines) + "\n```"),
        "trend": dg.MetadataValue.md("\n\n".join(charts) or "Inga KPI ännu."),
    })

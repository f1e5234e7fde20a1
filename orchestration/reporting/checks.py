"""Asset checks a coordinator acts on: a check per kind of target, each reading targets.py
(whether a target is reached is the warehouse's target_met; nothing here decides a direction).

- participants_on_pace: a participants target is for the whole project period, so during the
  project the participants so far are held against the target to date (jämn takt).
- share_targets_met: every share target (activity_share, exit_activity_share, reach, …) reached
  at the newest month.
- days_targets_met: every days target (median_days_to_activity, fewer is better) reached.

A count target other than participants (say moved_to_activity) is for the end of the project and
has no target to date in the warehouse, so no check warns about it before then; the headline and
the funder report show whether it is reached.

They read the warehouse, so they take a slot of the `warehouse` pool like every stage: DuckDB
refuses to open a file another process is writing.
"""

import dagster as dg

from orchestration.lib.asset_keys import WAREHOUSE_POOL
from orchestration.lib.safe_text import markdown_cell
from orchestration.reporting.targets import Measure, format_value, pacing, targets
from orchestration.resources import FollowupResource


@dg.asset_check(asset="kpi_values", name="participants_on_pace", pool=WAREHOUSE_POOL,
                description="Deltagarna hittills är minst deltagarmålet fördelat jämnt över projektperioden "
                            "(målet × månader hittills / alla månader), för varje projekt med ett deltagarmål.")
def participants_on_pace(followup: FollowupResource) -> dg.AssetCheckResult:
    home, config = followup.data_home(), followup.projects()
    paces = pacing(home.warehouse, config)
    behind = [p for p in paces if p.behind]
    table = "\n".join(
        f"| {markdown_cell(config.project(p.project_id).name)} | {p.period} | {p.participants:.0f} | "
        f"{p.expected_by_now:.0f} | {p.target:.0f} | {'efter takt' if p.behind else 'i takt'} |" for p in paces)
    return dg.AssetCheckResult(
        passed=not behind,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"efter_takt": len(behind),
                  "takt": dg.MetadataValue.md(
                      "| projekt | månad | deltagare | mål hittills (jämn takt) | mål | bedömning |\n"
                      "|---|---|--:|--:|--:|---|\n" + table if table else "Inga deltagarmål.")},
    )


def _targets_result(followup: FollowupResource, kind: str, none_text: str) -> dg.AssetCheckResult:
    """Passed when no target of the kind is reported not reached (a target whose figure is
    missing, a share over nobody, cannot be judged and shows '–')."""
    home, config = followup.data_home(), followup.projects()
    measures: list[Measure] = [m for m in targets(home.warehouse, config) if m.kind == kind]
    missed = [m for m in measures if m.met is False]
    table = "\n".join(
        f"| {markdown_cell(config.project(m.project_id).name)} | {m.period or '–'} | {markdown_cell(m.label)} | "
        f"{'–' if m.value is None else format_value(m.kind, m.value)} | {format_value(m.kind, m.target)} | "
        f"{m.verdict} |" for m in measures)
    return dg.AssetCheckResult(
        passed=not missed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"mål_ej_nådda": len(missed),
                  "projekt_med_mål_ej_nådda": ", ".join(sorted({config.project(m.project_id).name for m in missed}))
                  or "inga",
                  "mål": dg.MetadataValue.md("| projekt | månad | mått | utfall | mål | bedömning |\n"
                                             "|---|---|---|--:|--:|---|\n" + table if table else none_text)},
    )


@dg.asset_check(asset="kpi_values", name="share_targets_met", pool=WAREHOUSE_POOL,
                description="Varje projekts mål för en andel (t.ex. andel till aktivitet av alla deltagare "
                            "eller av avslutade) är nått den senaste månaden.")
def share_targets_met(followup: FollowupResource) -> dg.AssetCheckResult:
    return _targets_result(followup, "share", "Inga mål för andelar.")


@dg.asset_check(asset="kpi_values", name="days_targets_met", pool=WAREHOUSE_POOL,
                description="Varje projekts mål för antal dagar (mediantid till aktivitet, färre är bättre) "
                            "är nått den senaste månaden.")
def days_targets_met(followup: FollowupResource) -> dg.AssetCheckResult:
    return _targets_result(followup, "days", "Inga mål i dagar.")

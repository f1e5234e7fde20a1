"""Dagster asset of the pseudonymise stage. Metadata holds counts only, never a row."""


import dagster as dg

from orchestration.lib.asset_keys import WAREHOUSE_POOL
from orchestration.lib.settings import Settings
from orchestration.privacy.keys import PseudonymKeyError, verified_key
from orchestration.privacy.stage import pseudonymise_pending
from orchestration.resources import FollowupResource


@dg.asset(group_name="privacy", pool=WAREHOUSE_POOL, deps=["inbox_deliveries"], kinds={"duckdb"},
          description="Nya leveransers rader med personnummer ersatta av nyckelade pseudonymer, namn och "
                      "kontaktuppgifter borttagna och fritext rensad. Metadata: bara antal, aldrig en rad.")
def pseudonymised_rows(followup: FollowupResource) -> dg.MaterializeResult:
    """Rows of new deliveries with personnummer replaced by keyed pseudonyms, identifiers dropped,
    free-text notes scrubbed. Metadata: counts only (never a row, a note or a number)."""
    home = followup.data_home()
    try:
        key = verified_key(home.root)
    except PseudonymKeyError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    report = pseudonymise_pending(home, key)
    return dg.MaterializeResult(metadata={
        "leveranser": report.deliveries,
        "rader": report.rows,
        "unika personer": report.persons,
        "varav kartläggningsfiler": report.mapping_deliveries,
        "kartläggningsrader": report.mapping_rows,
        "kartläggningssvar": report.mapping_answers,
        "filer som inte kunde läsas": len(report.unreadable),
        "tagna ensamma efter avbrutna körningar": report.taken_alone,
        "anteckningar sparade": report.notes,
        "ersättningar i anteckningar": ", ".join(f"{label} {n}" for label, n in report.note_replacements.items())
                                       or "inga",
    })


def definitions(settings: Settings) -> dg.Definitions:
    """The pseudonymise stage: the only one that reads an archived file."""
    return dg.Definitions(assets=[pseudonymised_rows])

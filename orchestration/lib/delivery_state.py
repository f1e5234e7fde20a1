"""A delivery's state, decided once: which file is in force for its month, which was replaced,
which was rejected and whether a later file corrected it.

The rule is written once, here (`ranked_deliveries_sql`): the file in force for a project,
municipality, month and extract kind (an enrolment snapshot or a mapping file) is the counting delivery (validated with a verdict in
contract.COUNTING_VERDICTS) that arrived last by `IN_FORCE_ORDER` (`arrival_seq`: the order
intake found the files in, then received_at, then delivery_id). A rejected file never replaces it.
Three readers render it:

- the warehouse view `landing.delivery_states` (`DELIVERY_STATES_VIEW`, made by
  `warehouse.ensure_schema` and in the read copy);
- dbt, which reads that view as the source of `stg_landing__delivery_states`, so
  int_snapshots_ranked and the KPIs take the snapshot in force from it instead of restating it;
- the concurrent-enrolment check (quality/stage.py), which runs before dbt and before the
  pending deliveries' verdicts are written: it renders the rule over the deliveries as they will
  be once the pending ones that count are validated.

What shows deliveries (the status matrix, the delivery reports and their index, monitoring, the
runner's partitions) reads the view, not the mart fct_deliveries (each reader that means enrolment
snapshots, e.g. the monthly matrix and its deadlines, takes `extract_kind = 'INSKRIVNING'`; a mapping
file has no monthly deadline): they must show landing as it is
now, including files intake recorded that no run has validated yet, deliveries validated in a run
whose dbt build failed or has not run, and the reports written at validation, before dbt;
`followup status` reads the read copy, which holds landing and this view, not the marts.
"""

from __future__ import annotations

from orchestration.lib.contract import ACCEPTED, ACCEPTED_WITH_WARNINGS, COUNTING_VERDICTS, REJECTED, VALIDATED
from orchestration.lib.mapping_contract import ENROLMENT, MAPPING

# Of two counting deliveries for one project, municipality, month and kind, the first in this order is in force.
IN_FORCE_ORDER = "arrival_seq desc nulls last, received_at desc, delivery_id desc"

_COUNTING = ", ".join(f"'{v}'" for v in COUNTING_VERDICTS)


def ranked_deliveries_sql(deliveries: str) -> str:
    """A select of every row of the relation `deliveries` (the columns of landing.deliveries) with
    `counts` (validated, not rejected), `snapshot_rank` (1 for the counting delivery in force for
    its project, municipality, month and extract kind, 2 for the one before, …; null when it does not count)
    and `in_force`: the rule, written once. A delivery recorded without a kind (before the column
    existed) is an enrolment."""
    return f"""select *, coalesce(snapshot_rank = 1, false) as in_force
    from (
        select *, case when counts then row_number() over (
            partition by project_id, kommunkod, reporting_month, extract_kind, counts
            order by {IN_FORCE_ORDER}) end as snapshot_rank
        from (
            select *, status = '{VALIDATED}' and coalesce(verdict in ({_COUNTING}), false) as counts
            from (select * replace (coalesce(extract_kind, '{ENROLMENT}') as extract_kind) from {deliveries})
        )
    )"""


# extract_kind → what a case worker calls it (a heading or a label beside a file)
KIND_LABELS = {ENROLMENT: "Inskrivning", MAPPING: "Kartläggning"}

# state → what it means, in the words a municipality's case worker reads
IN_FORCE = "GALLER"
REPLACED = "ERSATT"
REJECTED_CORRECTED = "AVVISAD_RATTAD"            # a later accepted file is in force: nothing to do
REJECTED_EARLIER_COUNTS = "AVVISAD_TIDIGARE_GALLER"  # the correction failed: an earlier file still counts
REJECTED_NOTHING_COUNTS = "AVVISAD"              # the month has no file that counts
WAITING = "VANTAR"                               # recorded by intake, not yet validated

# what a rejected file leaves in force for its month
REJECTED_CONSEQUENCES = {
    REJECTED_CORRECTED: "en senare rättad leverans gäller",
    REJECTED_EARLIER_COUNTS: "en tidigare godkänd leverans gäller fortfarande",
    REJECTED_NOTHING_COUNTS: "ingen leverans gäller för månaden",
}
STATE_LABELS = {
    IN_FORCE: "Gäller",
    REPLACED: "Ersatt av en senare leverans",
    **{state: f"Avvisad, {consequence}" for state, consequence in REJECTED_CONSEQUENCES.items()},
    WAITING: "Väntar på nästa körning",
}
VERDICT_LABELS = {
    ACCEPTED: "Godkänd",
    ACCEPTED_WITH_WARNINGS: "Godkänd med anmärkningar",
    REJECTED: "Avvisad",
    None: "Under behandling",
}
NEEDS_ACTION_STATES = (REJECTED_EARLIER_COUNTS, REJECTED_NOTHING_COUNTS)

_NEEDS_ACTION = ", ".join(f"'{s}'" for s in NEEDS_ACTION_STATES)

DELIVERY_STATES_VIEW = f"""
create or replace view landing.delivery_states as
with ranked as (
    {ranked_deliveries_sql("landing.deliveries")}
),
month_in_force as (
    select project_id, kommunkod, reporting_month, extract_kind, delivery_id as in_force_delivery_id,
           file_name as in_force_file_name, received_at as in_force_received_at,
           arrival_seq as in_force_arrival_seq, sha256 as in_force_sha256
    from ranked where in_force
),
stated as (
    select r.*, m.in_force_delivery_id, m.in_force_file_name, m.in_force_received_at, m.in_force_sha256,
        case
            when r.verdict is null then '{WAITING}'
            when r.in_force then '{IN_FORCE}'
            when r.counts then '{REPLACED}'
            when m.in_force_delivery_id is null then '{REJECTED_NOTHING_COUNTS}'
            when coalesce(m.in_force_arrival_seq, 0) > coalesce(r.arrival_seq, 0) then '{REJECTED_CORRECTED}'
            else '{REJECTED_EARLIER_COUNTS}'
        end as state
    from ranked r
    left join month_in_force m using (project_id, kommunkod, reporting_month, extract_kind)
)
select *,
    state in ({_NEEDS_ACTION}) or (in_force and coalesce(rows_rejected, 0) > 0) as needs_action,
    -- every delivery in IN_FORCE_ORDER, 1 the newest: for a reader that orders deliveries of
    -- different months by it (int_mapping_occasions) without restating it
    row_number() over (order by {IN_FORCE_ORDER}) as arrival_rank
from stated
"""

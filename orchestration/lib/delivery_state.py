"""A delivery's state, decided once: which file is in force for its month, which was replaced,
which was rejected and whether a later file corrected it. Everything that shows deliveries (the
status matrix, the Dagster partitions, the delivery reports and their index, the checks, the
workbook's data quality) reads the view `landing.delivery_states`, so they cannot disagree.

The file in force for a project, municipality and month is the counting delivery (validated, not
rejected) that arrived last, by arrival order (`arrival_seq`: the order intake found the files
in), the rule dbt's int_snapshots_ranked applies to the KPIs. A rejected file never replaces it.
"""

from __future__ import annotations

COUNTING_VERDICTS = ("ACCEPTED", "ACCEPTED_WITH_WARNINGS")

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
    "ACCEPTED": "Godkänd",
    "ACCEPTED_WITH_WARNINGS": "Godkänd med anmärkningar",
    "REJECTED": "Avvisad",
    None: "Under behandling",
}
NEEDS_ACTION_STATES = (REJECTED_EARLIER_COUNTS, REJECTED_NOTHING_COUNTS)

_COUNTING = ", ".join(f"'{v}'" for v in COUNTING_VERDICTS)
_NEEDS_ACTION = ", ".join(f"'{s}'" for s in NEEDS_ACTION_STATES)

DELIVERY_STATES_VIEW = f"""
create or replace view landing.delivery_states as
with flagged as (
    select *, status = 'VALIDATED' and coalesce(verdict in ({_COUNTING}), false) as counts
    from landing.deliveries
),
ranked as (
    select *, counts and row_number() over (
        partition by project_id, kommunkod, reporting_month, counts
        order by arrival_seq desc nulls last, received_at desc, delivery_id desc) = 1 as in_force
    from flagged
),
month_in_force as (
    select project_id, kommunkod, reporting_month, delivery_id as in_force_delivery_id,
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
    left join month_in_force m using (project_id, kommunkod, reporting_month)
)
select *,
    state in ({_NEEDS_ACTION}) or (in_force and coalesce(rows_rejected, 0) > 0) as needs_action
from stated
"""

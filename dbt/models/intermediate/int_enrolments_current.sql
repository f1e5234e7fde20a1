-- A table, not a view: several models and tests read it, and recomputing it for each is what
-- made dbt build slow at national scale (BENCHMARKS.md).
{{ config(materialized='table') }}

-- The enrolments of every current snapshot (one per project, municipality and month), flagged
-- with whether they count (FELREGISTRERING never does), whether their end reason is one of the
-- project's activity outcomes (and whether the six-month follow-up status is), and whether they
-- belong to the municipality's newest snapshot.

with

current_snapshots as (

    select * from {{ ref('int_snapshots_ranked') }}
    where is_current_snapshot

),

enrolment_rows as (

    select * from {{ ref('stg_landing__enrolment_rows') }}

),

activity_outcomes as (

    select * from {{ ref('stg_landing__project_activity_outcomes') }}

),

current_enrolments as (

    select
        enrolment_rows.enrolment_row_id,
        enrolment_rows.delivery_id,
        current_snapshots.project_id,
        current_snapshots.kommunkod,
        current_snapshots.reporting_month,
        current_snapshots.is_newest_snapshot as is_in_newest_snapshot,
        enrolment_rows.row_number,
        enrolment_rows.person_id,
        enrolment_rows.is_anonymous,
        enrolment_rows.kon,
        enrolment_rows.age_at_start,
        enrolment_rows.startdatum,
        enrolment_rows.slutdatum,
        enrolment_rows.avslutsorsak,
        enrolment_rows.fas,
        enrolment_rows.fodelseregion,
        enrolment_rows.funktionsnedsattning,
        enrolment_rows.utbildningsniva,
        enrolment_rows.sysselsattning_start,
        enrolment_rows.forsorjningsstod_start,
        enrolment_rows.forsorjningsstod_slut,
        enrolment_rows.uppfoljning_6m,
        enrolment_rows.warnings

    from enrolment_rows
    inner join current_snapshots
        on enrolment_rows.delivery_id = current_snapshots.delivery_id

),

flagged as (

    select
        current_enrolments.*,
        coalesce(current_enrolments.avslutsorsak <> 'FELREGISTRERING', true) as is_counting,
        activity_outcomes.avslutsorsak is not null as is_activity_outcome,
        follow_up_outcomes.avslutsorsak is not null as is_follow_up_activity

    from current_enrolments
    left join activity_outcomes
        on current_enrolments.project_id = activity_outcomes.project_id
        and current_enrolments.avslutsorsak = activity_outcomes.avslutsorsak
    left join activity_outcomes as follow_up_outcomes
        on current_enrolments.project_id = follow_up_outcomes.project_id
        and current_enrolments.uppfoljning_6m = follow_up_outcomes.avslutsorsak

)

select * from flagged

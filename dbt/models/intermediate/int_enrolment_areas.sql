-- A table, not a view: several models and tests read it, and recomputing it for each is what
-- made dbt build slow at national scale (BENCHMARKS.md).
{{ config(materialized='table') }}

-- The counting enrolments of every current snapshot, once for their municipality and once for
-- ALL: the enrolments each area's KPIs are computed over. A person enrolled in two
-- municipalities thereby counts once in each and, being one person_id, once in ALL.
--
-- An enrolment counts from the project's start: a startdatum before the project period (a
-- participant carried over from a predecessor project) is read as the project's first day, so
-- the person is new in the project's first month and their days to activity run from then; an
-- enrolment that also ended before the project started was never part of it and does not count.

with

counting_enrolments as (

    select * from {{ ref('int_enrolments_current') }}
    where is_counting

),

projects as (

    select * from {{ ref('stg_landing__projects') }}

),

within_project as (

    select
        counting_enrolments.*,
        counting_enrolments.startdatum as startdatum_delivered,
        greatest(counting_enrolments.startdatum, projects.period_start) as counted_from

    from counting_enrolments
    inner join projects
        on counting_enrolments.project_id = projects.project_id
    where counting_enrolments.slutdatum is null
        or counting_enrolments.slutdatum >= projects.period_start

),

-- Each enrolment under its municipality and under ALL, two rows out of one in a single pass: a
-- union of the two read the enrolments twice, so DuckDB held them (~5 M rows nationally, 0.6 GB
-- spilled to disk under the memory ceiling) between the two reads.
enrolment_areas as (

    select
        unnest([kommunkod, 'ALL']) as area,
        *

    from within_project

),

final as (

    select
        enrolment_row_id || '|' || area as enrolment_area_id,
        enrolment_row_id,
        project_id,
        area,
        kommunkod,
        reporting_month,
        is_in_newest_snapshot,
        row_number,
        person_id,
        is_anonymous,
        kon,
        age_at_start,
        counted_from as startdatum,
        startdatum_delivered,
        slutdatum,
        avslutsorsak,
        is_activity_outcome,
        fas,
        fodelseregion,
        funktionsnedsattning,
        utbildningsniva,
        sysselsattning_start,
        forsorjningsstod_start,
        forsorjningsstod_slut,
        uppfoljning_6m,
        is_follow_up_activity

    from enrolment_areas

)

select * from final

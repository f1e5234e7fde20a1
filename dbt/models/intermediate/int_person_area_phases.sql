-- A table, not a view: several models and tests read it, and recomputing it for each is what
-- made dbt build slow at national scale (BENCHMARKS.md).
{{ config(materialized='table') }}

-- The phase (fas) of each person with an ongoing enrolment at the end of a period, per area, as
-- that month's own current snapshot reports it. A municipality without a counting snapshot for
-- the month contributes nothing; a person with ongoing enrolments in two phases (in two
-- municipalities, seen from ALL) is in both.

with

enrolment_areas as (

    select * from {{ ref('int_enrolment_areas') }}

),

project_periods as (

    select * from {{ ref('int_project_periods') }}

),

ongoing_at_month_end as (

    select
        enrolment_areas.project_id,
        enrolment_areas.area,
        enrolment_areas.person_id,
        project_periods.period,
        enrolment_areas.fas

    from enrolment_areas
    inner join project_periods
        on enrolment_areas.project_id = project_periods.project_id
        and enrolment_areas.reporting_month = project_periods.period
    where enrolment_areas.startdatum <= project_periods.period_end
        and (
            enrolment_areas.slutdatum is null
            or enrolment_areas.slutdatum > project_periods.period_end
        )

),

person_phases as (

    select
        project_id,
        area,
        person_id,
        period,
        bool_or(fas = 'HITTA') as is_in_hitta,
        bool_or(fas = 'MOTA') as is_in_mota,
        bool_or(fas = 'AKTIVERA') as is_in_aktivera,
        bool_or(fas = 'MATCHA') as is_in_matcha

    from ongoing_at_month_end
    group by project_id, area, person_id, period

),

final as (

    select
        project_id || '|' || area || '|' || person_id || '|' || period as person_area_phase_id,
        *

    from person_phases

)

select * from final

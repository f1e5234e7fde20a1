-- Where each participant stands at the end of each period, per area, from the newest snapshot of
-- each municipality (corrections restate history). One row per person, area and period from the
-- period their first counting enrolment in the area started; a re-enrolled person is one row.

with

newest_enrolments as (

    select * from {{ ref('int_enrolment_areas') }}
    where is_in_newest_snapshot

),

project_periods as (

    select * from {{ ref('int_project_periods') }}

),

started_enrolment_periods as (

    select
        newest_enrolments.project_id,
        newest_enrolments.area,
        newest_enrolments.person_id,
        project_periods.period,
        project_periods.month_start,
        project_periods.period_end,
        newest_enrolments.startdatum,
        newest_enrolments.slutdatum is null
            or newest_enrolments.slutdatum > project_periods.period_end as is_ongoing,
        coalesce(newest_enrolments.slutdatum <= project_periods.period_end, false) as has_ended,
        newest_enrolments.is_activity_outcome

    from newest_enrolments
    inner join project_periods
        on newest_enrolments.project_id = project_periods.project_id
        and newest_enrolments.startdatum <= project_periods.period_end

),

person_periods as (

    select
        project_id,
        area,
        person_id,
        period,
        month_start,
        period_end,
        min(startdatum) as first_startdatum,
        count(*) as started_enrolments,
        bool_or(is_ongoing) as is_active,
        bool_or(has_ended) as has_ended_enrolment,
        bool_or(has_ended and is_activity_outcome) as is_moved_to_activity

    from started_enrolment_periods
    group by project_id, area, person_id, period, month_start, period_end

),

final as (

    select
        project_id || '|' || area || '|' || person_id || '|' || period as person_area_period_id,
        project_id,
        area,
        person_id,
        period,
        period_end,
        first_startdatum,
        started_enrolments,
        first_startdatum >= month_start as is_new_in_month,
        is_active,
        has_ended_enrolment and not is_active as is_exited,
        is_moved_to_activity,
        has_ended_enrolment and not is_active and is_moved_to_activity as is_exited_to_activity

    from person_periods

)

select * from final

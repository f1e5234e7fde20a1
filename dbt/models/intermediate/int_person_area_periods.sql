-- A table, not a view: several models and tests read it, and recomputing it for each is what
-- made dbt build slow at national scale (BENCHMARKS.md).
{{ config(materialized='table') }}

-- Where each participant stands at the end of each period, per area, from the newest snapshot of
-- each municipality (corrections restate history). One row per person, area and period from the
-- period their first counting enrolment in the area started; a re-enrolled person is one row.
-- Besides the status counts it carries what the KPIs about exits need: days to the first activity
-- exit, the income support of the latest ended enrolment, and the six-month follow-up of the
-- latest enrolment ended six months before the period.

with

-- end_rank orders a person's enrolments in the area from the latest ended (slutdatum, then
-- startdatum, latest first; then municipality and row): the tie-break of both "latest enrolment
-- ended by" rules below. Ranked once per enrolment, not per period: a filter keeps the order.
newest_enrolments as (

    select
        *,
        row_number() over (
            partition by project_id, area, person_id
            order by slutdatum desc, startdatum desc, kommunkod, row_number
        ) as end_rank,
        count(*) over (partition by project_id, area, person_id) as person_enrolments

    from {{ ref('int_enrolment_areas') }}
    where is_in_newest_snapshot

),

project_periods as (

    select * from {{ ref('int_project_periods') }}

),

-- Not materialised: the two readers below each take their persons' rows.
started_enrolment_periods as not materialized (

    select
        newest_enrolments.project_id,
        newest_enrolments.area,
        newest_enrolments.person_id,
        newest_enrolments.end_rank,
        newest_enrolments.person_enrolments,
        project_periods.period,
        project_periods.month_start,
        project_periods.period_end,
        -- The six-month follow-up: for period 2019-12 the follow-up looks at enrolments ended by 2019-06-30
        last_day(cast(project_periods.month_start - interval 6 month as date)) as follow_up_cutoff,
        newest_enrolments.startdatum,
        newest_enrolments.slutdatum,
        newest_enrolments.slutdatum is null
            or newest_enrolments.slutdatum > project_periods.period_end as is_ongoing,
        coalesce(newest_enrolments.slutdatum <= project_periods.period_end, false) as has_ended,
        newest_enrolments.is_activity_outcome,
        newest_enrolments.forsorjningsstod_start,
        newest_enrolments.forsorjningsstod_slut,
        newest_enrolments.uppfoljning_6m,
        newest_enrolments.is_follow_up_activity

    from newest_enrolments
    inner join project_periods
        on newest_enrolments.project_id = project_periods.project_id
        and newest_enrolments.startdatum <= project_periods.period_end

),

-- A person with one enrolment in the area (all but ~4 % nationally) stands where it does: their
-- rows skip the group by below, which over every person and period spilled at national scale.
single_enrolment_periods as (

    select
        project_id,
        area,
        person_id,
        period,
        month_start,
        period_end,
        startdatum as first_startdatum,
        cast(1 as bigint) as started_enrolments,
        is_ongoing as is_active,
        has_ended as has_ended_enrolment,
        has_ended and is_activity_outcome as is_moved_to_activity,
        case when has_ended and is_activity_outcome then slutdatum end as first_activity_exit,
        case
            when has_ended
                then {'forsorjningsstod_start': forsorjningsstod_start, 'forsorjningsstod_slut': forsorjningsstod_slut}
        end as latest_ended,
        case
            when slutdatum <= follow_up_cutoff
                then {'uppfoljning_6m': uppfoljning_6m, 'is_follow_up_activity': is_follow_up_activity}
        end as latest_followed_up

    from started_enrolment_periods
    where person_enrolments = 1

),

several_enrolment_periods as (

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
        bool_or(has_ended and is_activity_outcome) as is_moved_to_activity,
        min(slutdatum) filter (where has_ended and is_activity_outcome) as first_activity_exit,
        -- the latest enrolment ended by E (income_support_*_share)
        arg_min(
            {'forsorjningsstod_start': forsorjningsstod_start, 'forsorjningsstod_slut': forsorjningsstod_slut},
            end_rank
        ) filter (where has_ended) as latest_ended,
        -- the latest enrolment ended by the last day of the sixth month before the period (outcome_6m)
        arg_min(
            {'uppfoljning_6m': uppfoljning_6m, 'is_follow_up_activity': is_follow_up_activity},
            end_rank
        ) filter (where slutdatum <= follow_up_cutoff) as latest_followed_up

    from started_enrolment_periods
    where person_enrolments > 1
    group by project_id, area, person_id, period, month_start, period_end

),

person_periods as (

    select * from single_enrolment_periods
    union all
    select * from several_enrolment_periods

),

statuses as (

    select
        *,
        has_ended_enrolment and not is_active as is_exited,
        coalesce(latest_ended.forsorjningsstod_start, 'OKAND') <> 'OKAND'
            and coalesce(latest_ended.forsorjningsstod_slut, 'OKAND') <> 'OKAND' as has_known_income_support,
        latest_ended.forsorjningsstod_start,
        latest_ended.forsorjningsstod_slut,
        -- a follow-up status is given when present and neither EJ_NADD (not reached) nor OKAND
        coalesce(latest_followed_up.uppfoljning_6m, 'OKAND') not in ('OKAND', 'EJ_NADD') as has_known_outcome_6m,
        coalesce(latest_followed_up.is_follow_up_activity, false) as is_follow_up_activity

    from person_periods

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
        is_exited,
        is_moved_to_activity,
        is_exited and is_moved_to_activity as is_exited_to_activity,
        case
            when is_moved_to_activity then date_diff('day', first_startdatum, first_activity_exit)
        end as days_to_activity,
        is_exited and has_known_income_support as is_income_support_known,
        is_exited and has_known_income_support and forsorjningsstod_start = 'JA' as is_income_support_at_start,
        is_exited and has_known_income_support and forsorjningsstod_slut = 'JA' as is_income_support_at_end,
        has_known_outcome_6m as is_outcome_6m_known,
        has_known_outcome_6m and is_follow_up_activity as is_outcome_6m_activity

    from statuses

)

select * from final

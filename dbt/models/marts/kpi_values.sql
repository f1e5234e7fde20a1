-- The KPI table in long format: one row per project, area, period, KPI and breakdown group
-- (the KPI definitions the projects report by). Counts carry numerator = value and no denominator; shares carry both,
-- and a share whose denominator is 0 has no value. median_days_to_activity (kpi_type days) has
-- no numerator and, as denominator, the number of persons the median is taken over, so the
-- funder export's disclosure control hides a median of few persons like a share. The pace
-- target (kpi_type target) is the participants target spread evenly over the project's months.
-- Project targets are project-wide: a share target (scale-free) is set on every row of its KPI,
-- a count target only on the ALL/total row.

with

kpi_counts as (

    select * from {{ ref('int_kpi_counts') }}

),

projects as (

    select * from {{ ref('stg_landing__projects') }}

),

project_targets as (

    select * from {{ ref('stg_landing__project_targets') }}

),

count_values as (

    select
        project_id,
        area,
        period,
        kpi,
        breakdown,
        breakdown_group,
        'count' as kpi_type,
        cast(value as double) as numerator,
        cast(null as double) as denominator

    from kpi_counts
    unpivot (
        value for kpi in (
            participants,
            new_participants,
            active_participants,
            exited,
            moved_to_activity,
            phase_hitta,
            phase_mota,
            phase_aktivera,
            phase_matcha
        )
    )

),

activity_shares as (

    select
        project_id,
        area,
        period,
        'activity_share' as kpi,
        breakdown,
        breakdown_group,
        'share' as kpi_type,
        cast(moved_to_activity as double) as numerator,
        cast(participants as double) as denominator

    from kpi_counts

),

exit_activity_shares as (

    select
        project_id,
        area,
        period,
        'exit_activity_share' as kpi,
        breakdown,
        breakdown_group,
        'share' as kpi_type,
        cast(exited_to_activity as double) as numerator,
        cast(exited as double) as denominator

    from kpi_counts

),

{% set shares = [
    ('activity_share', 'moved_to_activity', 'participants'),
    ('exit_activity_share', 'exited_to_activity', 'exited'),
    ('not_known_share', 'not_known', 'known_start_status'),
    ('income_support_start_share', 'income_support_at_start', 'known_income_support'),
    ('income_support_end_share', 'income_support_at_end', 'known_income_support'),
    ('outcome_6m_activity_share', 'outcome_6m_activity', 'known_outcome_6m'),
    ('from_other_project_share', 'from_other_project', 'participants'),
] %}
{% for kpi, numerator, denominator in shares[2:] %}
{{ kpi }}s as (

    select
        project_id,
        area,
        period,
        '{{ kpi }}' as kpi,
        breakdown,
        breakdown_group,
        'share' as kpi_type,
        cast({{ numerator }} as double) as numerator,
        cast({{ denominator }} as double) as denominator

    from kpi_counts

),

{% endfor %}
median_days as (

    select
        project_id,
        area,
        period,
        'median_days_to_activity' as kpi,
        breakdown,
        breakdown_group,
        'days' as kpi_type,
        cast(null as double) as numerator,
        cast(moved_to_activity as double) as denominator,
        median_days_to_activity as median_value

    from kpi_counts

),

-- The participants target and the target population are for the whole project and cannot be
-- split by group, so these shares and the pace target exist for ALL/total only.
project_totals as (

    select * from kpi_counts
    where area = 'ALL' and breakdown = 'total'

),

participants_target_shares as (

    select
        project_totals.project_id,
        project_totals.area,
        project_totals.period,
        'participants_target_share' as kpi,
        project_totals.breakdown,
        project_totals.breakdown_group,
        'share' as kpi_type,
        cast(project_totals.participants as double) as numerator,
        project_targets.target as denominator

    from project_totals
    inner join project_targets
        on project_totals.project_id = project_targets.project_id
        and project_targets.kpi = 'participants'

),

reach_shares as (

    select
        project_totals.project_id,
        project_totals.area,
        project_totals.period,
        'reach' as kpi,
        project_totals.breakdown,
        project_totals.breakdown_group,
        'share' as kpi_type,
        cast(project_totals.participants as double) as numerator,
        cast(projects.target_population as double) as denominator

    from project_totals
    inner join projects
        on project_totals.project_id = projects.project_id
    where projects.target_population is not null

),

-- The participants target spread evenly over the project's months: the target times the months
-- from the project's first month to the period (inclusive) over all its months, as the asset
-- check participants_on_pace reads it. participants on pace: participants >= this value.
participants_pace_targets as (

    select
        project_totals.project_id,
        project_totals.area,
        project_totals.period,
        'participants_pace_target' as kpi,
        project_totals.breakdown,
        project_totals.breakdown_group,
        'target' as kpi_type,
        cast(null as double) as numerator,
        cast(null as double) as denominator,
        project_targets.target
            * (date_diff('month', date_trunc('month', projects.period_start), cast(project_totals.period || '-01' as date)) + 1)
            / (date_diff('month', date_trunc('month', projects.period_start), date_trunc('month', projects.period_end)) + 1)
            as pace_value

    from project_totals
    inner join projects
        on project_totals.project_id = projects.project_id
    inner join project_targets
        on project_totals.project_id = project_targets.project_id
        and project_targets.kpi = 'participants'

),

all_kpis as (

    select *, cast(null as double) as given_value from count_values
    union all
    select *, cast(null as double) from activity_shares
    union all
    select *, cast(null as double) from exit_activity_shares
    {% for kpi, numerator, denominator in shares[2:] %}
    union all
    select *, cast(null as double) from {{ kpi }}s
    {% endfor %}
    union all
    select *, cast(null as double) from participants_target_shares
    union all
    select *, cast(null as double) from reach_shares
    union all
    select * from median_days
    union all
    select * from participants_pace_targets

),

valued as (

    select
        * exclude (given_value),
        case
            when kpi_type = 'count' then numerator
            when kpi_type in ('days', 'target') then given_value
            when denominator = 0 then null
            else numerator / denominator
        end as value

    from all_kpis

),

targeted as (

    select
        valued.*,
        case
            when valued.kpi_type in ('share', 'days') then project_targets.target
            when valued.kpi_type = 'count' and valued.area = 'ALL' and valued.breakdown = 'total' then project_targets.target
        end as target

    from valued
    left join project_targets
        on valued.project_id = project_targets.project_id
        and valued.kpi = project_targets.kpi

),

final as (

    select
        project_id || '|' || area || '|' || period || '|' || kpi || '|' || breakdown || '|' || breakdown_group
            as kpi_value_id,
        project_id,
        area,
        period,
        kpi,
        kpi_type,
        breakdown,
        breakdown_group,
        value,
        numerator,
        denominator,
        target,
        -- fewer days to activity is better
        case when kpi_type = 'days' then value <= target else value >= target end as target_met

    from targeted

)

select * from final

-- The KPI table in long format: one row per project, area, period, KPI and breakdown group
-- (shared/spec/kpis.md). Counts carry numerator = value and no denominator; shares carry both,
-- and a share whose denominator is 0 has no value. Project targets are project-wide: a share
-- target (scale-free) is set on every row of its KPI, a count target only on the ALL/total row.

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

-- The participants target and the target population are for the whole project and cannot be
-- split by group, so these two shares exist for ALL/total only.
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

all_kpis as (

    select * from count_values
    union all
    select * from activity_shares
    union all
    select * from exit_activity_shares
    union all
    select * from participants_target_shares
    union all
    select * from reach_shares

),

valued as (

    select
        *,
        case
            when kpi_type = 'count' then numerator
            when denominator = 0 then null
            else numerator / denominator
        end as value

    from all_kpis

),

targeted as (

    select
        valued.*,
        case
            when valued.kpi_type = 'share' then project_targets.target
            when valued.area = 'ALL' and valued.breakdown = 'total' then project_targets.target
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
        value >= target as target_met

    from targeted

)

select * from final

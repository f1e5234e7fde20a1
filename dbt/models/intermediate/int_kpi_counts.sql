-- A table, not a view: several models and tests read it, and recomputing it for each is what
-- made dbt build slow at national scale (BENCHMARKS.md).
{{ config(materialized='table') }}

-- The count KPIs of every project, area, period and breakdown group, wide: one column per count,
-- plus the numerators and denominators of the share KPIs and the median days to activity.
-- Every group of int_area_breakdown_groups gets a row in every period, zeros included, so the
-- groups of a breakdown always sum to its total.
--
-- Each count is made for every breakdown in one pass over the persons, grouping by the total and
-- by each breakdown's group column of int_person_areas (macros/kpi_breakdowns.sql): joining every
-- person-period to its seven breakdown rows first made 67 M rows nationally, most of this
-- model's time.

with

project_periods as (

    select * from {{ ref('int_project_periods') }}

),

area_breakdown_groups as (

    select * from {{ ref('int_area_breakdown_groups') }}

),

-- Not materialised: read twice (counts and days), straight from its table.
person_area_periods as not materialized (

    select * from {{ ref('int_person_area_periods') }}

),

person_areas as (

    select * from {{ ref('int_person_areas') }}

),

person_area_phases as (

    select * from {{ ref('int_person_area_phases') }}

),

reported_cells as (

    select
        area_breakdown_groups.project_id,
        area_breakdown_groups.area,
        project_periods.period,
        area_breakdown_groups.breakdown,
        area_breakdown_groups.breakdown_group

    from area_breakdown_groups
    inner join project_periods
        on area_breakdown_groups.project_id = project_periods.project_id

),

-- Each person's area-period with the person's groups and start status. Not materialised: both
-- aggregates below stream over the join.
person_period_groups as not materialized (

    select
        person_area_periods.*,
        {% for breakdown in kpi_breakdowns() -%}
        person_areas.{{ breakdown }}_group,
        {% endfor -%}
        person_areas.has_known_start_status,
        person_areas.is_not_known,
        person_areas.is_from_other_project

    from person_area_periods
    inner join person_areas
        on person_area_periods.project_id = person_areas.project_id
        and person_area_periods.area = person_areas.area
        and person_area_periods.person_id = person_areas.person_id

),

participant_counts as (

    select
        project_id,
        area,
        period,
        {{ breakdown_of_grouping_set() }},
        count(*) as participants,
        count(*) filter (where is_new_in_month) as new_participants,
        count(*) filter (where is_active) as active_participants,
        count(*) filter (where is_exited) as exited,
        count(*) filter (where is_moved_to_activity) as moved_to_activity,
        count(*) filter (where is_exited_to_activity) as exited_to_activity,
        count(*) filter (where has_known_start_status) as known_start_status,
        count(*) filter (where is_not_known) as not_known,
        count(*) filter (where is_income_support_known) as known_income_support,
        count(*) filter (where is_income_support_at_start) as income_support_at_start,
        count(*) filter (where is_income_support_at_end) as income_support_at_end,
        count(*) filter (where is_outcome_6m_known) as known_outcome_6m,
        count(*) filter (where is_outcome_6m_activity) as outcome_6m_activity,
        count(*) filter (where is_from_other_project) as from_other_project

    from person_period_groups
    group by {{ breakdown_grouping_sets(['project_id', 'area', 'period']) }}

),

-- The median days to activity, exact, from how many persons took each number of days: a
-- median() aggregate keeps every value of its group in memory, which ran out of memory at
-- national scale (67 M person × group rows) under the warehouse's memory ceiling; a count per
-- (group, days) is small, and the middle value is read off its running total. For an even
-- count, the mean of the two middle values (as DuckDB's median).
-- Grouping sets would hold a hash table per breakdown of (group, days) at once, over the memory
-- ceiling nationally; unpivoted to one row per breakdown, the one group by spills when it must.
day_counts as (

    select
        project_id,
        area,
        period,
        breakdown,
        breakdown_group,
        days,
        count(*) as persons

    from (
        select
            project_id,
            area,
            period,
            days_to_activity as days,
            'T' as total,
            {% for breakdown in kpi_breakdowns() -%}
            {{ breakdown }}_group as {{ breakdown }}{{ ',' if not loop.last }}
            {% endfor %}
        from person_period_groups
        where days_to_activity is not null
    ) unpivot (breakdown_group for breakdown in (total, {{ kpi_breakdowns() | join(', ') }}))
    group by 1, 2, 3, 4, 5, 6

),

day_positions as (

    select
        *,
        sum(persons) over (
            partition by project_id, area, period, breakdown, breakdown_group
            order by days rows between unbounded preceding and current row
        ) as persons_up_to,
        sum(persons) over (partition by project_id, area, period, breakdown, breakdown_group) as persons_in_group

    from day_counts

),

median_days as (

    select
        project_id,
        area,
        period,
        breakdown,
        breakdown_group,
        (
            min(days) filter (where persons_up_to >= (persons_in_group + 1) // 2)
            + min(days) filter (where persons_up_to >= persons_in_group // 2 + 1)
        ) / 2.0 as median_days_to_activity

    from day_positions
    group by 1, 2, 3, 4, 5

),

phase_counts as (

    select
        person_area_phases.project_id,
        person_area_phases.area,
        person_area_phases.period,
        {{ breakdown_of_grouping_set() }},
        count(*) filter (where person_area_phases.is_in_hitta) as phase_hitta,
        count(*) filter (where person_area_phases.is_in_mota) as phase_mota,
        count(*) filter (where person_area_phases.is_in_aktivera) as phase_aktivera,
        count(*) filter (where person_area_phases.is_in_matcha) as phase_matcha

    from person_area_phases
    inner join person_areas
        on person_area_phases.project_id = person_areas.project_id
        and person_area_phases.area = person_areas.area
        and person_area_phases.person_id = person_areas.person_id
    group by {{ breakdown_grouping_sets(['person_area_phases.project_id', 'person_area_phases.area', 'person_area_phases.period']) }}

),

final as (

    select
        reported_cells.project_id
            || '|' || reported_cells.area
            || '|' || reported_cells.period
            || '|' || reported_cells.breakdown
            || '|' || reported_cells.breakdown_group as kpi_count_id,
        reported_cells.project_id,
        reported_cells.area,
        reported_cells.period,
        reported_cells.breakdown,
        reported_cells.breakdown_group,
        coalesce(participant_counts.participants, 0) as participants,
        coalesce(participant_counts.new_participants, 0) as new_participants,
        coalesce(participant_counts.active_participants, 0) as active_participants,
        coalesce(participant_counts.exited, 0) as exited,
        coalesce(participant_counts.moved_to_activity, 0) as moved_to_activity,
        coalesce(participant_counts.exited_to_activity, 0) as exited_to_activity,
        median_days.median_days_to_activity,
        coalesce(participant_counts.known_start_status, 0) as known_start_status,
        coalesce(participant_counts.not_known, 0) as not_known,
        coalesce(participant_counts.known_income_support, 0) as known_income_support,
        coalesce(participant_counts.income_support_at_start, 0) as income_support_at_start,
        coalesce(participant_counts.income_support_at_end, 0) as income_support_at_end,
        coalesce(participant_counts.known_outcome_6m, 0) as known_outcome_6m,
        coalesce(participant_counts.outcome_6m_activity, 0) as outcome_6m_activity,
        coalesce(participant_counts.from_other_project, 0) as from_other_project,
        coalesce(phase_counts.phase_hitta, 0) as phase_hitta,
        coalesce(phase_counts.phase_mota, 0) as phase_mota,
        coalesce(phase_counts.phase_aktivera, 0) as phase_aktivera,
        coalesce(phase_counts.phase_matcha, 0) as phase_matcha

    from reported_cells
    left join participant_counts
        on reported_cells.project_id = participant_counts.project_id
        and reported_cells.area = participant_counts.area
        and reported_cells.period = participant_counts.period
        and reported_cells.breakdown = participant_counts.breakdown
        and reported_cells.breakdown_group = participant_counts.breakdown_group
    left join median_days
        on reported_cells.project_id = median_days.project_id
        and reported_cells.area = median_days.area
        and reported_cells.period = median_days.period
        and reported_cells.breakdown = median_days.breakdown
        and reported_cells.breakdown_group = median_days.breakdown_group
    left join phase_counts
        on reported_cells.project_id = phase_counts.project_id
        and reported_cells.area = phase_counts.area
        and reported_cells.period = phase_counts.period
        and reported_cells.breakdown = phase_counts.breakdown
        and reported_cells.breakdown_group = phase_counts.breakdown_group

)

select * from final

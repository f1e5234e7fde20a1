-- One row per configured project with its settings and how far its reporting has come.

with

projects as (

    select * from {{ ref('stg_landing__projects') }}

),

project_municipalities as (

    select * from {{ ref('stg_landing__project_municipalities') }}

),

activity_outcomes as (

    select * from {{ ref('stg_landing__project_activity_outcomes') }}

),

project_periods as (

    select * from {{ ref('int_project_periods') }}

),

municipality_counts as (

    select
        project_id,
        count(*) as municipality_count,
        string_agg(kommunkod, ',' order by kommunkod) as kommunkoder

    from project_municipalities
    group by project_id

),

outcome_lists as (

    select
        project_id,
        string_agg(avslutsorsak, ',' order by avslutsorsak) as activity_outcomes

    from activity_outcomes
    group by project_id

),

period_spans as (

    select
        project_id,
        min(period) as first_period,
        max(period) as last_period,
        count(*) as period_count

    from project_periods
    group by project_id

),

final as (

    select
        projects.project_id,
        projects.project_name,
        projects.owner,
        projects.funder,
        projects.period_start,
        projects.period_end,
        projects.age_min,
        projects.age_max,
        projects.target_population,
        projects.min_count,
        coalesce(municipality_counts.municipality_count, 0) as municipality_count,
        municipality_counts.kommunkoder,
        outcome_lists.activity_outcomes,
        period_spans.first_period,
        period_spans.last_period,
        coalesce(period_spans.period_count, 0) as period_count

    from projects
    left join municipality_counts
        on projects.project_id = municipality_counts.project_id
    left join outcome_lists
        on projects.project_id = outcome_lists.project_id
    left join period_spans
        on projects.project_id = period_spans.project_id

)

select * from final

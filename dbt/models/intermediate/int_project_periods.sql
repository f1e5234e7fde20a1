-- The reporting periods of each project: every month from the month the project starts to the
-- earlier of the month it ends and the latest month any municipality has delivered a counting
-- snapshot for. A project without a counting delivery has no periods yet.

with

projects as (

    select * from {{ ref('stg_landing__projects') }}

),

counting_deliveries as (

    select * from {{ ref('int_snapshots_ranked') }}
    where is_counting

),

latest_delivered_months as (

    select
        project_id,
        max(reporting_month_start) as latest_delivered_month_start

    from counting_deliveries
    group by project_id

),

project_spans as (

    select
        projects.project_id,
        cast(date_trunc('month', projects.period_start) as date) as first_month_start,
        least(
            cast(date_trunc('month', projects.period_end) as date),
            latest_delivered_months.latest_delivered_month_start
        ) as last_month_start

    from projects
    inner join latest_delivered_months
        on projects.project_id = latest_delivered_months.project_id

),

project_months as (

    select
        project_id,
        cast(unnest(generate_series(first_month_start, last_month_start, interval 1 month)) as date)
            as month_start

    from project_spans

),

final as (

    select
        project_id || '|' || strftime(month_start, '%Y-%m') as project_period_id,
        project_id,
        strftime(month_start, '%Y-%m') as period,
        month_start,
        last_day(month_start) as period_end

    from project_months

)

select * from final

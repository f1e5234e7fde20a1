-- For every count KPI, the groups of each breakdown (kon: K, M, X, OKAND) sum to the total of
-- the same project, area and period (kpis.md: "Every breakdown's groups sum to its total").

with

kpi_values as (

    select * from {{ ref('kpi_values') }}
    where kpi_type = 'count'

),

totals as (

    select project_id, area, period, kpi, value as total_value
    from kpi_values
    where breakdown = 'total'

),

group_sums as (

    select project_id, area, period, kpi, breakdown, sum(value) as group_sum
    from kpi_values
    where breakdown <> 'total'
    group by project_id, area, period, kpi, breakdown

)

select
    group_sums.*,
    totals.total_value

from group_sums
left join totals
    on group_sums.project_id = totals.project_id
    and group_sums.area = totals.area
    and group_sums.period = totals.period
    and group_sums.kpi = totals.kpi
where totals.total_value is null
    or group_sums.group_sum <> totals.total_value

-- For every count KPI, every breakdown (kon, alder, fodelseregion, funktionsnedsattning,
-- utbildningsniva, forsorjningsstod_start) is reported, and its groups sum to the total of the
-- same project, area and period ("Every breakdown's groups sum to its total").

with

kpi_values as (

    select * from {{ ref('kpi_values') }}
    where kpi_type = 'count'

),

breakdowns as (

    select * from (
        values ('kon'), ('alder'), ('fodelseregion'), ('funktionsnedsattning'), ('utbildningsniva'), ('forsorjningsstod_start')
    ) as breakdowns (breakdown)

),

totals as (

    select project_id, area, period, kpi, value as total_value
    from kpi_values
    where breakdown = 'total'

),

expected as (

    select totals.*, breakdowns.breakdown
    from totals
    cross join breakdowns

),

group_sums as (

    select project_id, area, period, kpi, breakdown, sum(value) as group_sum
    from kpi_values
    where breakdown <> 'total'
    group by project_id, area, period, kpi, breakdown

)

select
    coalesce(group_sums.project_id, expected.project_id) as project_id,
    coalesce(group_sums.area, expected.area) as area,
    coalesce(group_sums.period, expected.period) as period,
    coalesce(group_sums.kpi, expected.kpi) as kpi,
    coalesce(group_sums.breakdown, expected.breakdown) as breakdown,
    group_sums.group_sum,
    expected.total_value

from group_sums
full outer join expected
    on group_sums.project_id = expected.project_id
    and group_sums.area = expected.area
    and group_sums.period = expected.period
    and group_sums.kpi = expected.kpi
    and group_sums.breakdown = expected.breakdown
where expected.total_value is null
    or group_sums.group_sum is null
    or group_sums.group_sum <> expected.total_value

-- participants and moved_to_activity are cumulative from the project's start: computed from one
-- (newest) snapshot per municipality, they never fall from one period to the next.

with

cumulative_values as (

    select
        *,
        lag(value) over (
            partition by project_id, area, kpi, breakdown, breakdown_group
            order by period
        ) as previous_value

    from {{ ref('kpi_values') }}
    where kpi in ('participants', 'moved_to_activity')

)

select * from cumulative_values
where value < previous_value

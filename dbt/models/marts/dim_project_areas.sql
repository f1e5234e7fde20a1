-- One row per project and area (each municipality, and ALL), with the newest snapshot the
-- area's KPIs are computed from.

with

project_areas as (

    select * from {{ ref('int_project_areas') }}

),

newest_snapshots as (

    select * from {{ ref('int_snapshots_ranked') }}
    where is_newest_snapshot

),

municipality_snapshots as (

    select
        project_id,
        kommunkod as area,
        reporting_month as newest_reporting_month,
        delivery_id as newest_delivery_id

    from newest_snapshots

),

whole_project_snapshots as (

    select
        project_id,
        'ALL' as area,
        max(reporting_month) as newest_reporting_month,
        cast(null as varchar) as newest_delivery_id

    from newest_snapshots
    group by project_id

),

area_snapshots as (

    select * from municipality_snapshots
    union all
    select * from whole_project_snapshots

),

final as (

    select
        project_areas.project_area_id,
        project_areas.project_id,
        project_areas.area,
        project_areas.kommunkod,
        project_areas.area_name,
        area_snapshots.newest_reporting_month,
        area_snapshots.newest_delivery_id

    from project_areas
    left join area_snapshots
        on project_areas.project_id = area_snapshots.project_id
        and project_areas.area = area_snapshots.area

)

select * from final

-- The areas a project reports on: each of its municipalities, and ALL for the whole project.

with

projects as (

    select * from {{ ref('stg_landing__projects') }}

),

project_municipalities as (

    select * from {{ ref('stg_landing__project_municipalities') }}

),

municipality_areas as (

    select
        project_id,
        kommunkod as area,
        kommunkod,
        kommun as area_name

    from project_municipalities

),

whole_project_areas as (

    select
        project_id,
        'ALL' as area,
        cast(null as varchar) as kommunkod,
        'Hela projektet' as area_name

    from projects

),

areas as (

    select * from municipality_areas
    union all
    select * from whole_project_areas

),

final as (

    select
        project_id || '|' || area as project_area_id,
        *

    from areas

)

select * from final
